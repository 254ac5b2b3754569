"""Hosts for the host checks' tests (tests/checklist/test_hosts*.py).

``sudo_rule(user, commands)``
    A context manager installing /etc/sudoers.d/bgtest-hosts-XXXX that lets ``user`` run
    exactly ``commands`` (absolute paths, exact arguments) as root without a password — the
    same rule docs/checks/hosts.md asks users to install. Validated with ``visudo -cf`` before
    it is put in place (a broken file would break sudo for the whole machine), removed after.
    Chosen over making the host keys readable to the login user: sshd refuses host keys that
    others can read, and production keeps them root-only, so sudo is what users will do.

``NetnsHost``
    An SSH "host" whose whole network stack is a fresh network namespace (``ip netns add``):
    a listener on 127.0.0.1 (the root namespace: tests only ever target loopback) accepts each
    connection and hands it to ``ip netns exec NS sshd -i`` (inetd mode, sshd(8) -i), so the
    session — and everything it runs, `sudo -n nft list ruleset`, `ss -tlnp` — lives in the
    namespace. nftables rules loaded there and servers bound to 0.0.0.0 there never touch
    the machine's own firewall or interfaces. ``hide=("nft",)`` bind-mounts an empty,
    non-executable file over the tool inside the session's private mount namespace (``ip netns
    exec`` makes one, mount propagation slave), so the host looks as if nft were not installed.
    It reuses an sshd_factory host's config, host key and home (that host's own daemon is
    simply not used) and needs root (``ip netns``, sshd -i).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers._util import ProcessBook, private_tmpdir, remove_tree, wait_until
from tests.servers.sshd import SSHD, SshdServer


@contextlib.contextmanager
def sudo_rule(user: str, commands: Sequence[str]) -> Iterator[Path]:
    path = Path("/etc/sudoers.d") / f"bgtest-hosts-{secrets.token_hex(4)}"  # no '.': sudo skips
    text = f"{user} ALL=(root) NOPASSWD: " + ", ".join(commands) + "\n"
    tmp = private_tmpdir("bg-sudoers-") / "rule"
    tmp.write_text(text)
    check = subprocess.run(["visudo", "-cf", str(tmp)], capture_output=True, text=True)
    remove_tree(tmp.parent)
    assert check.returncode == 0, check.stdout + check.stderr
    path.write_text(text)
    path.chmod(0o440)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def ns_run(ns: str, *argv: str, stdin: str | None = None) -> str:
    res = subprocess.run(["ip", "netns", "exec", ns, *argv], input=stdin, capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, f"{argv}: {res.stdout}{res.stderr}"
    return res.stdout


@dataclass
class NetnsHost:
    server: SshdServer
    ns: str = field(default_factory=lambda: f"bgtest-{secrets.token_hex(4)}")
    hide: tuple[str, ...] = ()
    port: int = 0
    known_hosts: Path = field(default_factory=Path)
    _sock: socket.socket | None = None
    _book: ProcessBook = field(default_factory=ProcessBook)
    _dir: Path = field(default_factory=Path)

    def start(self) -> NetnsHost:
        subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True)
        ns_run(self.ns, "ip", "link", "set", "lo", "up")
        self._dir = private_tmpdir("bg-netns-")
        (self._dir / "empty").touch(mode=0o644)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self.port = self._sock.getsockname()[1]
        key_type, key_data = self.server.host_key.split()[:2]
        self.known_hosts = self._dir / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {key_type} {key_data}\n")
        threading.Thread(target=self._serve, daemon=True, name=f"netns-{self.ns}").start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        config = self.server.base_dir / "sshd_config"
        hide = "".join(f"mount --bind {self._dir}/empty /usr/sbin/{t} && " for t in self.hide)
        line = f'{hide}exec {SSHD} -i -e -f "{config}"'
        log = self.server.base_dir / f"sshd-{self.ns}.log"
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            with conn, log.open("ab") as sink:
                self._book.add_popen(subprocess.Popen(
                    ["ip", "netns", "exec", self.ns, "sh", "-c", line],
                    stdin=conn.fileno(), stdout=conn.fileno(), stderr=sink,
                    start_new_session=True))

    def run(self, *argv: str, stdin: str | None = None) -> str:
        """Run a command as root inside the namespace (the test's setup, not the check)."""
        return ns_run(self.ns, *argv, stdin=stdin)

    def spawn(self, *argv: str) -> subprocess.Popen[bytes]:
        """Start a server inside the namespace; stopped by stop()."""
        return self._book.add_popen(subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *argv], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def wait_listening(self, port: int) -> None:
        wait_until(lambda: f":{port} " in self.run("ss", "-H", "-tln"),
                   what=f"a listener on port {port} in {self.ns}")

    def toml(self, name: str, *, sudo: bool = True) -> str:
        s = self.server
        return (f'[hosts.{name}]\naddress = "127.0.0.1"\nport = {self.port}\n'
                f'user = "{s.user}"\nkey = "file:{s.key_path}"\n'
                f'known_hosts = "{self.known_hosts}"\nsudo = {str(sudo).lower()}\n')

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):  # shutdown wakes the accept() (close alone won't)
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        self._book.stop_all()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        remove_tree(self._dir)


def host_toml(name: str, server: SshdServer, *, sudo: bool = True, port: int | None = None
              ) -> str:
    """A [hosts.NAME] table for an sshd_factory host (``port``: override, e.g. a closed one)."""
    return (f'[hosts.{name}]\naddress = "{server.host}"\nport = {port or server.port}\n'
            f'user = "{server.user}"\nkey = "file:{server.key_path}"\n'
            f'known_hosts = "{server.known_hosts}"\nsudo = {str(sudo).lower()}\n')
