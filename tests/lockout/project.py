"""Helpers of the lockout tests: the Django test app (djapp.py) in a subprocess, a client of it,
and a project folder driving the real `breakglass` CLI in a subprocess (SIGKILL and all)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.cli_project import CliProject
from tests.servers._util import stop_process, wait_until
from tests.servers.redis import RedisServer
from tests.servers.sinks import HttpSink

DJAPP = Path(__file__).with_name("djapp.py")


@dataclass
class StoppableRedis:
    """A test's own Redis that goes down and comes back with its data: SHUTDOWN SAVE writes
    dump.rdb into the server's folder, and the same redis.conf loads it on the same port."""

    server: RedisServer
    restarted: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(self.url).shutdown(save=True)
        wait_until(lambda: not self._answers(), what="redis-server to stop", timeout=10)

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.restarted.append(subprocess.Popen(
            [binary, str(self.server.base_dir / "redis.conf")], cwd=self.server.base_dir,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
        wait_until(self._answers, what="redis-server to come back", timeout=10)

    def close(self) -> None:
        for proc in self.restarted:
            stop_process(proc)


@dataclass
class DjangoApp:
    url: str
    dsn: str
    proc: subprocess.Popen[str]

    def signup(self, *, admin: bool = False, token: bool = False) -> tuple[str, str, str]:
        """A new user: (id, email, DRF token or "")."""
        name = f"u{secrets.token_hex(4)}"
        email = f"{name}@example.com"
        r = httpx.post(f"{self.url}/signup/", data={
            "username": name, "email": email, "password": f"pw-{name}",
            "admin": "1" if admin else "0", "token": "1" if token else "0"})
        r.raise_for_status()
        uid, _, key = r.text.partition(" ")
        return uid, email, key

    def login(self, email: str) -> str:
        """Log in through the app; returns the session cookie value."""
        name = email.split("@")[0]
        r = httpx.post(f"{self.url}/login/", data={"username": name, "password": f"pw-{name}"})
        assert r.status_code == 200, r.text
        return r.cookies["sessionid"]

    def whoami(self, *, cookie: str | None = None, token: str | None = None) -> int:
        headers = {}
        if cookie:
            headers["Cookie"] = f"sessionid={cookie}"
        if token:
            headers["Authorization"] = f"Token {token}"
        return httpx.get(f"{self.url}/whoami/", headers=headers).status_code

    def stop(self) -> None:
        stop_process(self.proc)


def start_django(dsn: str, sessions: str, redis_url: str = "") -> DjangoApp:
    env = {**os.environ, "DJAPP_DSN": dsn, "DJAPP_REDIS": redis_url}
    proc = subprocess.Popen([sys.executable, str(DJAPP), sessions], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until migrated and listening (or dead)
    if not line.startswith("PORT "):
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"djapp did not start: {line}{err}")
    return DjangoApp(f"http://127.0.0.1:{int(line.split()[1])}", dsn, proc)


@dataclass
class Project(CliProject):
    root: Path
    sink: HttpSink

    def ref(self, name: str, value: str) -> str:
        """A `file:` secret ref holding `value` (0600)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        path.write_text(value)
        path.chmod(0o600)
        return f"file:{path}"

    def write(self, dsn: str, accounts: str) -> None:
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            '[owners]\nincident_response = ["bob"]\n\n'
            f'[people.bob]\nnotify = ["{self.sink.apprise_url}lockout"]\n\n'
            f'[databases.app]\ndsn = "{self.ref("app.dsn", dsn)}"\n\n'
            f'[accounts]\ndatabase = "app"\n{accounts}\n')

    def leaks(self, *values: str) -> list[str]:
        """Where any of `values` appears: CLI output, journals, reports, notices (the 0600
        lockout snapshot, which holds them on purpose, excepted)."""
        texts = dict(self.outputs)
        for path in self.state.rglob("*"):
            if path.is_file() and path.parent.name != "lockout":
                texts[str(path.relative_to(self.root))] = path.read_text(errors="replace")
        texts["notices"] = self.sink.all_bytes().decode(errors="replace")
        return sorted(f"{where}: {v[:6]}…" for where, text in texts.items() for v in values
                      if v and v in text)
