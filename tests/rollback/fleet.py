"""A fleet for `breakglass rollback`: sshd hosts (tests/servers/sshd.py), each with the release
layout `~/app/releases/<id>/` + `~/app/current` and a tiny HTTP app started *from* `current`.

    app.py       reads the release it was started from (the realpath of `current`) once, at
                 start: GET /healthz -> 200 when that release's `health` file says "ok", else
                 500; GET /release -> the release id the running process serves
    restart.sh   stops the running app (pid file), starts a new one detached, and appends the
                 release `current` points at to ~/restarts.log (so a test counts restarts)

A release whose `health` file says "broken" is a bad release: the app starts but its health
check fails. Everything runs as the host's login user; `stop()` kills exactly the pid recorded.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.cli_project import CliProject
from tests.servers._util import chown_tree, free_port, is_root
from tests.servers.sshd import SshdServer

APP = r'''
import http.server, os, pathlib, sys
port, current = int(sys.argv[1]), sys.argv[2]
release_dir = pathlib.Path(os.path.realpath(current))
release = release_dir.name
healthy = (release_dir / "health").read_text().strip() == "ok"

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            code, body = (200, b"ok") if healthy else (500, b"broken")
        elif self.path == "/release":
            code, body = 200, release.encode()
        else:
            code, body = 404, b""
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''

RESTART = """#!/bin/sh
set -u
cd "$HOME"
echo "$(readlink app/current)" >> restarts.log
if [ -f app.pid ]; then
  old=$(cat app.pid)
  kill "$old" 2>/dev/null
  while kill -0 "$old" 2>/dev/null; do sleep 0.05; done
fi
setsid /usr/bin/python3 app.py {port} "$HOME/app/current" </dev/null >app.log 2>&1 &
echo $! > app.pid
"""

# Fails while ~/restart.fails holds a count other than 0 (-1: always), then runs the real one.
BROKEN_RESTART = """#!/bin/sh
n=$(cat "$HOME/restart.fails")
if [ "$n" != 0 ]; then
  [ "$n" -gt 0 ] && echo $((n - 1)) > "$HOME/restart.fails"
  echo "restart refused: unit app.service is masked" >&2
  exit 1
fi
exec sh "$HOME/restart.sh.good"
"""


@dataclass
class FleetHost:
    server: SshdServer
    name: str
    port: int

    @property
    def home(self) -> Path:
        return self.server.home

    @property
    def base(self) -> Path:
        return self.home / "app"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def current(self) -> str:
        """The release `current` points at, read over SFTP (a client independent of
        breakglass's own ssh layer)."""
        with self.server.connect() as client, client.open_sftp() as sftp:
            return Path(sftp.readlink(str(self.base / "current")) or "").name

    def restart_owed(self) -> bool:
        """The rollback's restart-owed marker is on the host (over SFTP)."""
        with self.server.connect() as client, client.open_sftp() as sftp:
            try:
                sftp.stat(str(self.base / ".breakglass-rollback"))
            except FileNotFoundError:
                return False
            return True

    def break_restart(self, times: int | None = None) -> None:
        """Make this host's restart command fail (before it stops the app) — every time, or
        the next `times` times."""
        script = self.home / "restart.sh"
        good = self.home / "restart.sh.good"
        if not good.exists():
            script.rename(good)
        count = self.home / "restart.fails"
        count.write_text(str(times if times is not None else -1))
        script.write_text(BROKEN_RESTART)
        script.chmod(0o755)
        if is_root():
            chown_tree(self.home, pwd.getpwnam(self.server.user))

    def fix_restart(self) -> None:
        (self.home / "restart.sh.good").replace(self.home / "restart.sh")
        (self.home / "restart.fails").unlink(missing_ok=True)

    def serving(self) -> str | None:
        """The release the running process serves (None: nothing answers)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/release",
                                        timeout=5) as resp:
                return str(resp.read().decode())
        except (urllib.error.URLError, OSError):
            return None

    def restarts(self) -> list[str]:
        log = self.home / "restarts.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [Path(line).name for line in lines]

    def wait_serving(self, release: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.serving() != release:
            assert time.monotonic() < deadline, f"{self.name} never served {release}"
            time.sleep(0.05)

    def stop(self) -> None:
        pid_file = self.home / "app.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink()

    def clean(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        for name in ("app.py", "restart.sh", "restart.sh.good", "restart.fails", "restarts.log",
                     "app.log"):
            (self.home / name).unlink(missing_ok=True)


def install(server: SshdServer, name: str, releases: dict[str, str], current: str) -> FleetHost:
    """Lay out `releases` (id -> "ok" | "broken") with `current` -> current, and start the app
    through SSH, as the login user would."""
    host = FleetHost(server, name, free_port())
    host.clean()
    (host.home / "app.py").write_text(APP)
    restart = host.home / "restart.sh"
    restart.write_text(RESTART.format(port=host.port))
    restart.chmod(0o755)
    for release, health in releases.items():
        d = host.base / "releases" / release
        d.mkdir(parents=True)
        (d / "health").write_text(health + "\n")
    (host.base / "current").symlink_to(host.base / "releases" / current)
    if is_root():
        chown_tree(host.home, pwd.getpwnam(server.user))
    code, out, err = server.run("sh ~/restart.sh")
    assert code == 0, out + err
    host.wait_serving(current)
    (host.home / "restarts.log").write_text("")
    return host


@dataclass
class RollbackProject(CliProject):
    """A project folder whose breakglass.toml names the fleet; runs the real CLI."""

    root: Path
    command = ("rollback",)  # what kill_at runs
    hosts: list[FleetHost]

    def write(self, releases: str = "", notify_url: str = "", down: Iterable[str] = (),
              ) -> None:
        """The config: one [hosts.NAME] per host (those in `down` point at a closed port),
        owners told through `notify_url`, `[releases]` with `releases` appended."""
        parts = ['[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n',
                 '[owners]\nrelease_signoff = ["alice"]\nincident_response = ["bob"]\n']
        for person in ("alice", "bob"):
            url = f'"{notify_url}{person}"' if notify_url else ""
            parts.append(f"[people.{person}]\nnotify = [{url}]\n")
        for h in self.hosts:
            s = h.server
            port = free_port() if h.name in down else s.port
            parts.append(f'[hosts.{h.name}]\naddress = "{s.host}"\nport = {port}\n'
                         f'user = "{s.user}"\nkey = "file:{s.key_path}"\n'
                         f'known_hosts = "{s.known_hosts}"\nhealth_url = "{h.health_url}"\n')
        names = ", ".join(f'"{h.name}"' for h in self.hosts)
        parts.append(f'[releases]\nhosts = [{names}]\npath = "~/app"\n'
                     'restart = "sh ~/restart.sh"\nhealth_attempts = 6\n'
                     f'health_deadline = "4s"\n{releases}')
        self.config.write_text("\n".join(parts))

    def env(self, **more: str) -> dict[str, str]:
        # Wide enough that rich does not wrap a finding's code or message across lines.
        return {**os.environ, "COLUMNS": "400", **more}

    def run_pasted(self, line: str) -> subprocess.CompletedProcess[str]:
        """Run a command printed for people (a recovery plan line) in the on-call person's
        shell: `ssh` finds the fleet's key and known_hosts as their ~/.ssh/config would (a
        wrapper first on PATH); nothing else of this process's environment is passed."""
        bin_dir = self.root / "operator-bin"
        bin_dir.mkdir(exist_ok=True)
        known = " ".join(str(h.server.known_hosts) for h in self.hosts)
        (bin_dir / "ssh").write_text(
            f"#!/bin/sh\nexec /usr/bin/ssh -i {self.hosts[0].server.key_path} "
            f'-o IdentitiesOnly=yes -o UserKnownHostsFile="{known}" -o BatchMode=yes "$@"\n')
        (bin_dir / "ssh").chmod(0o755)
        env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.root)}
        return subprocess.run(["sh", "-c", line], env=env, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    def currents(self) -> list[str]:
        return [h.current() for h in self.hosts]

    def serving(self) -> list[str | None]:
        return [h.serving() for h in self.hosts]
