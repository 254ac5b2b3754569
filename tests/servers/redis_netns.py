"""Redis inside a fresh network namespace, for the states a test must not create on the
machine's own interfaces: no password, bound to all interfaces, protected mode off.

``netns_redis(protected=…, extra=…)`` (a context manager) -> ``NetnsRedis``
    ``ip netns add`` makes a namespace whose only interface is its own ``lo``, which also holds
    ``ADDRESS`` (10.255.0.1/32); redis-server runs there with ``bind 0.0.0.0``. Nothing
    outside the namespace can reach it. ``call(fn)`` runs ``fn()`` on a thread that has joined
    the namespace (setns(2) with CLONE_NEWNET moves only the calling thread), so a check run
    by ``call`` opens its sockets there: connecting to ``ADDRESS`` is a non-loopback client,
    connecting to 127.0.0.1 a loopback one. Needs root (``ip netns``), as in CI.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tests.servers._util import ProcessBook, private_tmpdir, remove_tree, wait_until
from tests.servers.redis import REDIS_CONF

T = TypeVar("T")
ADDRESS = "10.255.0.1"
PORT = 6379
CLONE_NEWNET = 0x40000000  # <sched.h>



@dataclass
class NetnsRedis:
    ns: str
    port: int = PORT

    def url(self, host: str = ADDRESS) -> str:
        return f"redis://{host}:{self.port}/0"

    def call(self, fn: Callable[[], T]) -> T:
        """fn() on a thread inside the namespace; its result, or its exception re-raised."""
        out: dict[str, object] = {}

        def run() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns: {os.strerror(err)}")
                out["value"] = fn()
            except BaseException as exc:
                out["error"] = exc
            finally:
                os.close(fd)

        thread = threading.Thread(target=run, name=f"netns-{self.ns}")
        thread.start()
        thread.join()
        if "error" in out:
            raise out["error"]  # type: ignore[misc]
        return out["value"]  # type: ignore[return-value]

    def answers(self) -> bool:
        def ping() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")

        return self.call(ping)


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def netns_redis(*, protected: bool = True, extra: str = "") -> Iterator[NetnsRedis]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    ns = f"bgredis-{secrets.token_hex(4)}"
    base = private_tmpdir("bg-redis-ns-")
    book = ProcessBook()
    _ip("netns", "add", ns)
    try:
        # On lo: no dummy/veth kernel module needed. Redis judges a client by its address
        # (127.* or ::1 is local), so a client of ADDRESS is a remote one to it.
        _ip("-n", ns, "addr", "add", f"{ADDRESS}/32", "dev", "lo")
        _ip("-n", ns, "link", "set", "lo", "up")
        conf = base / "redis.conf"
        conf.touch(mode=0o600)
        conf.write_text(REDIS_CONF.format(bind="0.0.0.0", port=PORT,
                                          protected="yes" if protected else "no", dir=base,
                                          log=base / "redis.log") + extra)
        # `ip netns exec` execs redis-server in place: the recorded pid is the server's.
        proc = book.add_popen(subprocess.Popen(
            ["ip", "netns", "exec", ns, binary, str(conf)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=base,
            start_new_session=True))
        server = NetnsRedis(ns)
        wait_until(server.answers, what="redis-server in a netns", proc=proc,
                   log=base / "redis.log", timeout=10)
        yield server
    finally:
        book.stop_all()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)
        remove_tree(base)
