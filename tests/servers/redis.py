"""Redis for tests: real ``redis-server`` processes on loopback ports (Debian package redis-server).

Fixtures
--------
``redis_server`` (session)
    One server without a password. Attributes: ``host`` ("127.0.0.1"), ``port``, ``url``
    (``redis://127.0.0.1:PORT/0``), ``password`` (None), ``pid``.
``redis_server_factory`` (session)
    ``start(password=None)`` (or call the factory itself) -> a *new* server each call (a
    rotation test gets its own, so a changed password cannot leak into other tests); with a
    password, ``url`` carries it (``redis://:PASSWORD@127.0.0.1:PORT/0``);
    ``start_with_random_password()`` picks one. ``bind`` (default "127.0.0.1"; e.g. "0.0.0.0",
    which keeps ``protected-mode yes``, so Redis >= 7 still refuses non-loopback clients without
    a password) and ``extra`` (redis.conf lines, e.g. ``rename-command CONFIG ""``) shape the
    server; it is always reached on 127.0.0.1.
    All are stopped at session end. Note: redis-py 8 retries a refused AUTH with backoff for
    about 5 s; pass ``retry=Retry(NoBackoff(), retries=0)`` where a refusal is expected.

Every setting, the password included, goes into a 0600 config file in the server's temp dir,
never on the command line (``ps`` would show it). No persistence (``save ""``, no AOF).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.servers._util import (
    LOOPBACK,
    ProcessBook,
    ServerStartError,
    private_tmpdir,
    remove_tree,
    retry_on_port_clash,
    teardown_on_sigterm,
    wait_until,
)

REDIS_CONF = """\
bind {bind}
port {port}
protected-mode {protected}
save ""
appendonly no
daemonize no
dir {dir}
logfile {log}
"""


@dataclass
class RedisServer:
    host: str
    port: int
    password: str | None
    base_dir: Path
    pid: int
    _book: ProcessBook = field(default_factory=ProcessBook, repr=False)

    def __repr__(self) -> str:
        return f"RedisServer({self.host}:{self.port}, password={'set' if self.password else None})"

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def close(self) -> None:
        self._book.stop_all()
        remove_tree(self.base_dir)


def _first_reply(port: int, password: str | None) -> bytes:
    """Send PING (after AUTH when a password is set) and return the last reply line."""
    with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
        if password is not None:
            # RESP array, so the password may hold any byte; not a log line, a socket.
            raw = password.encode()
            sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(raw), raw))
            reply = sock.recv(64)
            if not reply.startswith(b"+OK"):
                return reply
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def start_redis(password: str | None = None, *, bind: str = LOOPBACK,
                extra: str = "") -> RedisServer:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise ServerStartError("redis-server not found: apt-get install redis-server")
    base = private_tmpdir("bg-redis-")
    log = base / "redis.log"
    book = ProcessBook()

    def start(port: int) -> RedisServer:
        conf = base / "redis.conf"
        text = REDIS_CONF.format(bind=bind, port=port, protected="yes", dir=base, log=log) + extra
        if password is not None:
            # redis.conf's double-quoted strings take C-style escapes (sdssplitargs).
            quoted = password.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            text += f'requirepass "{quoted}"\n'
        conf.touch(mode=0o600)
        conf.write_text(text)
        proc = book.add_popen(
            subprocess.Popen(
                [binary, str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=base,
                start_new_session=True,
            )
        )
        try:
            wait_until(
                lambda: _first_reply(port, password).startswith(b"+PONG"),
                what="redis-server",
                proc=proc,
                log=log,
                timeout=10,
            )
        except ServerStartError:
            book.stop_all()
            raise
        return RedisServer(LOOPBACK, port, password, base, proc.pid, book)

    try:
        return retry_on_port_clash(start)
    except BaseException:
        book.stop_all()
        remove_tree(base)
        raise


class RedisFactory:
    def __init__(self) -> None:
        self._servers: list[RedisServer] = []

    def start(self, password: str | None = None, *, bind: str = LOOPBACK,
              extra: str = "") -> RedisServer:
        server = start_redis(password, bind=bind, extra=extra)
        self._servers.append(server)
        return server

    __call__ = start  # redis_server_factory(password=...) reads as well as .start(...)

    def start_with_random_password(self) -> RedisServer:
        return self.start(secrets.token_urlsafe(18))

    def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()


@pytest.fixture(scope="session")
def redis_server_factory() -> Iterator[RedisFactory]:
    teardown_on_sigterm()
    factory = RedisFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def redis_server(redis_server_factory: RedisFactory) -> RedisServer:
    return redis_server_factory.start()
