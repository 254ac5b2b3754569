"""OpenSSH for tests: real ``sshd`` hosts on loopback ports, key-only, host keys verified.

Fixtures
--------
``sshd_server`` (session)
    One host. Attributes: ``host`` ("127.0.0.1"), ``port``, ``user`` (login name),
    ``key_path`` (client ed25519 private key, no passphrase), ``known_hosts`` (a file holding
    exactly this host's ``[127.0.0.1]:PORT ssh-ed25519 …`` line), ``home`` (this host's home
    dir, see layout), ``host_key`` (the public host key line), ``authorized_keys``, ``pid``.
    ``connect()`` -> a connected ``paramiko.SSHClient`` (RejectPolicy + known_hosts: an
    unknown host key is refused, never auto-added); ``run(cmd)`` -> (exit code, stdout, stderr).
``sshd_factory`` (session)
    ``start(n)`` -> ``n`` new independent hosts (own port, own host key, own home). They all
    authorise the same client key (``sshd_factory.key_path``, a fleet's deploy key) and
    ``sshd_factory.known_hosts`` lists every host started so far (one file for fleet configs).

Layout of one host (a temp dir ``bg-sshd-XXXX/``; no chroot, one filesystem)::

    sshd_config  ssh_host_ed25519_key(.pub)  sshd.pid  sshd.log  known_hosts
    home/                      <- ``home``: $HOME of every session on this host (SetEnv HOME)
    home/.ssh/authorized_keys  <- the file this sshd reads (AuthorizedKeysFile), so a runbook
                                  that edits ~/.ssh/authorized_keys on "the host" changes what
                                  this host accepts, and no other host's
Hosts share one login user, so use absolute paths under ``home`` (or ``~`` / $HOME in shell
commands); the initial working directory is the user's real home directory, shared by all.

Login user: as root (CI), the system user ``bgssh`` (``useradd -m -p '*' -s /bin/bash``; the
``*`` password means "no password", not "locked", so key logins work without PAM). As a
normal user sshd can only log in as that same user, so the tests do; nothing is written in
that user's real ~/.ssh. Settings: PasswordAuthentication/KbdInteractiveAuthentication no,
PubkeyAuthentication yes, UsePAM no, StrictModes no (the temp dirs sit under world-writable
/tmp, which StrictModes rejects), PermitRootLogin no, internal-sftp for SFTP.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest

from tests.servers._util import (
    LOOPBACK,
    ProcessBook,
    ServerStartError,
    chown_tree,
    ensure_system_user,
    is_root,
    private_tmpdir,
    remove_tree,
    retry_on_port_clash,
    teardown_on_sigterm,
    wait_until,
)

LOGIN_USER_WHEN_ROOT = "bgssh"
SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it insists on an absolute path

_CONFIG = """\
Port {port}
ListenAddress {host}
AddressFamily inet
HostKey {base}/ssh_host_ed25519_key
PidFile {base}/sshd.pid
AuthorizedKeysFile {home}/.ssh/authorized_keys
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
# Each host's home is its own dir, for the shell ($HOME) and SFTP (where it starts) alike,
# as on a real host where both are the passwd entry's.
SetEnv HOME={home}
Subsystem sftp internal-sftp -d {home}
# Fleet tests open many sessions at once; sshd's default 10:30:100 would drop some.
MaxStartups 200
MaxSessions 50
LogLevel VERBOSE
"""


def _keygen(path: Path, comment: str) -> str:
    """Write an ed25519 key pair at ``path``; return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def _banner(port: int) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
        return sock.recv(64)


@dataclass
class SshdServer:
    host: str
    port: int
    user: str
    key_path: Path
    known_hosts: Path
    home: Path
    host_key: str
    base_dir: Path
    pid: int
    _book: ProcessBook = field(default_factory=ProcessBook, repr=False)

    @property
    def authorized_keys(self) -> Path:
        return self.home / ".ssh" / "authorized_keys"

    def connect(self, timeout: float = 10) -> paramiko.SSHClient:
        """An SSH client that trusts only ``known_hosts`` and logs in with ``key_path``."""
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            self.host,
            port=self.port,
            username=self.user,
            key_filename=str(self.key_path),
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
        )
        return client

    def run(self, command: str, timeout: float = 30) -> tuple[int, str, str]:
        """Run ``command`` on this host; return (exit status, stdout, stderr)."""
        with self.connect() as client:
            _, stdout, stderr = client.exec_command(command, timeout=timeout)
            out = stdout.read().decode()
            err = stderr.read().decode()
            return stdout.channel.recv_exit_status(), out, err

    def stop(self) -> None:
        """Stop this host's sshd (a host going down); `start()` brings it back on its port."""
        self._book.stop_all()

    def start(self) -> None:
        self.pid = _launch(self.base_dir, self.port, self._book).pid

    def close(self) -> None:
        self._book.stop_all()
        remove_tree(self.base_dir)


def _launch(base: Path, port: int, book: ProcessBook) -> subprocess.Popen[bytes]:
    """Start `sshd -D` with the config in `base` and wait for its banner on `port`."""
    log = base / "sshd.log"
    with log.open("ab") as sink:
        proc = book.add_popen(
            subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(base / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=base,
                start_new_session=True,
            )
        )
    try:
        wait_until(
            lambda: _banner(port).startswith(b"SSH-2.0-"),
            what="sshd",
            proc=proc,
            log=log,
            timeout=10,
        )
    except ServerStartError:
        book.stop_all()
        raise
    return proc


def _login_user() -> pwd.struct_passwd:
    if is_root():
        return ensure_system_user(LOGIN_USER_WHEN_ROOT, "-m", "-p", "*", "-s", "/bin/bash")
    return pwd.getpwuid(os.getuid())


class SshdFactory:
    """Starts sshd hosts sharing one client key; stops every one of them at the end."""

    def __init__(self, workdir: Path) -> None:
        if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
            raise ServerStartError("sshd/ssh-keygen not found: apt-get install openssh-server")
        self.workdir = workdir
        self.key_path = workdir / "id_ed25519"
        self.public_key = _keygen(self.key_path, "breakglass-tests")
        self.known_hosts = workdir / "known_hosts"
        self.known_hosts.touch()
        self.servers: list[SshdServer] = []
        if is_root():
            # sshd (as root) needs its privilege-separation dir; Debian's init script makes it.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def start(self, n: int = 1) -> list[SshdServer]:
        started = [self._start_one() for _ in range(n)]
        self.servers.extend(started)
        return started

    def _start_one(self) -> SshdServer:
        user = _login_user()
        base = private_tmpdir("bg-sshd-")
        base.chmod(0o755)  # the login user reads its home (and authorized_keys) below it
        home = base / "home"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        (home / ".ssh" / "authorized_keys").write_text(self.public_key + "\n")
        if is_root():
            chown_tree(home, user)
        host_key = _keygen(base / "ssh_host_ed25519_key", "breakglass-test-host")
        book = ProcessBook()

        def start(port: int) -> SshdServer:
            config = base / "sshd_config"
            config.write_text(
                _CONFIG.format(port=port, host=LOOPBACK, base=base, home=home, user=user.pw_name)
            )
            proc = _launch(base, port, book)
            key_type, key_data = host_key.split()[:2]
            entry = f"[{LOOPBACK}]:{port} {key_type} {key_data}\n"
            (base / "known_hosts").write_text(entry)
            with self.known_hosts.open("a") as shared:
                shared.write(entry)
            return SshdServer(
                host=LOOPBACK,
                port=port,
                user=user.pw_name,
                key_path=self.key_path,
                known_hosts=base / "known_hosts",
                home=home,
                host_key=host_key,
                base_dir=base,
                pid=proc.pid,
                _book=book,
            )

        try:
            return retry_on_port_clash(start)
        except BaseException:
            book.stop_all()
            remove_tree(base)
            raise

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self.servers.clear()


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFactory]:
    teardown_on_sigterm()
    factory = SshdFactory(tmp_path_factory.mktemp("sshd-client"))
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def sshd_server(sshd_factory: SshdFactory) -> SshdServer:
    return sshd_factory.start(1)[0]
