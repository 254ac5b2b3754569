"""A tiny web service on an sshd test host, the way a real app reads its env file.

`install_service(server, port)` writes, in the host's home:

    app.py       reads ~/.env at start (KEY=value lines, quotes stripped); exits at once when a
                 line is broken or SECRET_KEY is missing (an app that cannot boot), else serves
                 GET /healthz -> 200 "ok" and GET /key -> sha256 of the SECRET_KEY it loaded
                 (so a test proves which value the running process uses, without the value)
    restart.sh   `restart.sh SERVICE`: stops the previous process (pid file), starts a new one
                 detached (setsid, stdio closed so the SSH command returns)

The process runs as the host's login user, on this machine; `stop()` kills exactly the pid the
scripts recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.servers._util import chown_tree, free_port, is_root
from tests.servers.sshd import SshdServer

APP = r'''
import hashlib, http.server, pathlib, sys
home, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
env = {}
for line in (home / ".env").read_text().splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    key, sep, value = line.partition("=")
    if not sep or not key.strip().replace("_", "").isalnum():
        sys.exit("broken line in .env")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    env[key.strip()] = value
if not env.get("SECRET_KEY"):
    sys.exit("SECRET_KEY is missing")
digest = hashlib.sha256(env["SECRET_KEY"].encode()).hexdigest()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/healthz": b"ok", "/key": digest.encode()}.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body or b"")
    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''

RESTART = """#!/bin/sh
# restart.sh SERVICE: stop the running copy (if any), start a new one detached.
set -u
cd "$(dirname "$0")"
svc="$1"
if [ -f "$svc.pid" ]; then
  old=$(cat "$svc.pid")
  kill "$old" 2>/dev/null
  while kill -0 "$old" 2>/dev/null; do sleep 0.05; done
fi
setsid /usr/bin/python3 app.py "$PWD" {port} </dev/null >"$svc.log" 2>&1 &
echo $! > "$svc.pid"
"""


@dataclass
class Service:
    server: SshdServer
    port: int

    @property
    def home(self) -> Path:
        return self.server.home

    @property
    def env_file(self) -> Path:
        return self.home / ".env"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    @property
    def restart_template(self) -> str:
        return f"{self.home}/restart.sh {{service}}"

    def pid(self, service: str = "app") -> int | None:
        pid_file = self.home / f"{service}.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def loaded_key_digest(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/key", timeout=5) as resp:
            return str(resp.read().decode())

    def stop(self) -> None:
        for pid_file in self.home.glob("*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink()


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def install_service(server: SshdServer, env_text: str) -> Service:
    port = free_port()
    (server.home / "app.py").write_text(APP)
    restart = server.home / "restart.sh"
    restart.write_text(RESTART.format(port=port))
    restart.chmod(0o755)
    env = server.home / ".env"
    env.write_text(env_text)
    env.chmod(0o640)
    if is_root():
        import pwd

        chown_tree(server.home, pwd.getpwnam(server.user))
    return Service(server, port)
