"""SSH hosts (paramiko): verified host keys, commands with secrets on stdin, atomic file writes,
and a bounded pool that runs one function on many hosts.

    host = SSHHost.from_config("web1", config.hosts["web1"], ctx.secrets)
    with host.connect() as conn:
        conn.run(["systemctl", "is-active", "gunicorn"])
        conn.run("cat > ~/.token", stdin=value.encode())     # the value never sits in argv
        conn.write_file_atomic("/srv/app/.env", data, run_id=ctx.run_id)
    outcomes = run_on_hosts(hosts, lambda conn: conn.run("uptime"), max_parallel=8)

Promises (DESIGN principle 5):
- Host keys come from `known_hosts` only; an unknown key (HOST_KEY_UNKNOWN) or a changed one
  (HOST_KEY_CHANGED) is refused and never added — the fix is `ssh-keyscan` plus a fingerprint
  comparison out of band, which only a person can do.
- The private key is parsed from the text its secret ref resolves to; it is never written to disk.
- Secrets travel on stdin, never on a command line: any user on the host can read every
  process's argv (`ps`, /proc/PID/cmdline).

Every paramiko/socket error is translated here into a one-line CouldNotVerify (exit 3) with a
stable code: HOST_UNREACHABLE, SSH_AUTH_FAILED, HOST_KEY_UNKNOWN, HOST_KEY_CHANGED, SSH_TIMEOUT,
SSH_ERROR, REMOTE_PERMISSION. A bad key reference or an encrypted key is a UsageError (exit 2).
paramiko is imported inside functions: keep this module cheap for anything the CLI imports.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import posixpath
import select
import shlex
import socket
import stat as statmod
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from breakglass.errors import BreakglassError, ConfigError, CouldNotVerify, UsageError
from breakglass.text import error_line

if TYPE_CHECKING:
    import paramiko

    from breakglass.config import Config
    from breakglass.config.models import HostConfig

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
T = TypeVar("T")


class _Resolver(Protocol):
    def resolve(self, ref: str) -> str: ...


# -- values -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """What a remote command did. Output is decoded as UTF-8 (undecodable bytes replaced)."""

    exit: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit == 0

    def tail(self, limit: int = 300) -> str:
        """The last line(s) of stderr (else stdout), for one-line messages and evidence."""
        text = (self.stderr.strip() or self.stdout.strip())
        return text[-limit:]


@dataclass(frozen=True)
class RemoteStat:
    mode: int  # permission bits only (e.g. 0o640)
    uid: int
    gid: int
    size: int
    mtime: float
    is_dir: bool = False


@dataclass(frozen=True)
class WriteResult:
    """The outcome of `write_file_atomic`. `notes` say what could not be kept (e.g. the owner
    when neither root nor sudo is available) — the caller journals them."""

    path: str
    mode: int
    uid: int
    gid: int
    backup_path: str | None
    created: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SSHHost:
    """One `[hosts.NAME]`. `key_text` is the private key (resolved from `key_ref`), kept out of
    repr so a traceback or a log line cannot show it."""

    name: str
    address: str
    port: int
    user: str
    key_ref: str | None = None
    known_hosts: Path | None = None
    sudo: bool = False
    restart: str | None = None
    health_url: str | None = None
    health_command: str | None = None
    key_text: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_config(cls, name: str, host: HostConfig, secrets: _Resolver | None) -> SSHHost:
        key_text = secrets.resolve(host.key) if (host.key and secrets is not None) else None
        return cls(name=name, address=host.address, port=host.port, user=host.user,
                   key_ref=host.key, known_hosts=host.known_hosts, sudo=host.sudo,
                   restart=host.restart, health_url=host.health_url,
                   health_command=host.health_command, key_text=key_text)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.user}@{self.address}:{self.port})"

    @property
    def known_hosts_path(self) -> Path:
        return self.known_hosts or Path("~/.ssh/known_hosts").expanduser()

    def connect(self, timeout: float = CONNECT_TIMEOUT) -> Connection:
        """An authenticated connection; use it as a context manager."""
        return Connection(self, _open_client(self, timeout))


def host_from_config(config: Config, name: str, secrets: _Resolver | None) -> SSHHost:
    """`[hosts.NAME]` as an SSHHost; an unknown name is a usage error naming the known ones."""
    hosts = config.hosts
    if name not in hosts:
        known = ", ".join(sorted(hosts)) or "none"
        raise UsageError(f"no [hosts.{name}] in the configuration (configured: {known})")
    return SSHHost.from_config(name, hosts[name], secrets)


# -- connecting ---------------------------------------------------------------------------------

def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint (what `ssh-keygen -lf` prints), for comparing out of band."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("unknown host key")
        self.key = key


def _keyscan_action(host: SSHHost) -> str:
    port = f"-p {host.port} " if host.port != 22 else ""
    return (f"run `ssh-keyscan {port}{host.address}` and compare the fingerprint "
            f"(`ssh-keygen -lf -`) with the one the host's console shows "
            f"(`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`); only if they match, add the "
            f"line to {host.known_hosts_path}")


def _load_pkey(host: SSHHost) -> paramiko.PKey:
    import paramiko

    assert host.key_text is not None
    errors: list[str] = []
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(host.key_text))
        except paramiko.PasswordRequiredException:
            raise UsageError(f"hosts.{host.name}.key ({host.key_ref}) is passphrase-protected; "
                             "use an unencrypted deploy key kept in a secret store, or leave "
                             "`key` unset to use ssh-agent") from None
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(type(exc).__name__)
    raise UsageError(f"hosts.{host.name}.key ({host.key_ref}) is not an OpenSSH/PEM private key "
                     "(ed25519, ecdsa or rsa)")


def _open_client(host: SSHHost, timeout: float) -> paramiko.SSHClient:
    import paramiko

    class _Refuse(paramiko.MissingHostKeyPolicy):
        # RejectPolicy raises a bare SSHException; ours carries the offered key so that the
        # message can show its fingerprint for the out-of-band comparison.
        def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
            raise _UnknownHostKey(key)

    known = host.known_hosts_path
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(known))
    except FileNotFoundError:
        client.close()
        raise ConfigError(f"hosts.{host.name}.known_hosts: {known} does not exist "
                          f"(breakglass never trusts a host key it has not been given)"
                          ) from None
    except (OSError, paramiko.SSHException) as exc:
        client.close()
        raise ConfigError(f"hosts.{host.name}.known_hosts: {known} cannot be read "
                          f"({type(exc).__name__})") from None
    client.set_missing_host_key_policy(_Refuse())
    pkey = _load_pkey(host) if host.key_text is not None else None
    try:
        client.connect(host.address, port=host.port, username=host.user, pkey=pkey,
                       look_for_keys=pkey is None, allow_agent=pkey is None,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout)
    except BaseException as exc:
        client.close()
        raise _translate_connect(host, exc) from exc
    return client


def _translate_connect(host: SSHHost, exc: BaseException) -> BaseException:
    import paramiko

    if isinstance(exc, _UnknownHostKey):
        return CouldNotVerify(
            f"{host.label}: host key {exc.key.get_name()} {fingerprint(exc.key)} is not in "
            f"{host.known_hosts_path}; refused (never added automatically)",
            code="HOST_KEY_UNKNOWN", action=_keyscan_action(host))
    if isinstance(exc, paramiko.BadHostKeyException):
        return CouldNotVerify(
            f"{host.label}: host key CHANGED: offered {fingerprint(exc.key)}, "
            f"{host.known_hosts_path} expects {fingerprint(exc.expected_key)}; refused",
            code="HOST_KEY_CHANGED",
            action="treat this as a possible man-in-the-middle until proven otherwise: confirm "
                   "with the host's owner that it was rebuilt, then " + _keyscan_action(host)
                   + " (replacing the old line)")
    if isinstance(exc, paramiko.AuthenticationException):
        return CouldNotVerify(
            f"{host.label}: login refused ({exc})", code="SSH_AUTH_FAILED",
            action=f"check hosts.{host.name}.key and that its public key is in "
                   f"~{host.user}/.ssh/authorized_keys on the host")
    if isinstance(exc, socket.timeout | TimeoutError):
        return CouldNotVerify(f"{host.label}: connection timed out", code="HOST_UNREACHABLE",
                              action="check the address, port and firewall, then retry")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | OSError):
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            reason = "connection refused"
        return CouldNotVerify(f"{host.label}: cannot connect ({reason})",
                              code="HOST_UNREACHABLE",
                              action="check the address, port and that sshd runs, then retry")
    if isinstance(exc, paramiko.SSHException | EOFError):
        return CouldNotVerify(f"{host.label}: SSH failed ({_reason(exc)})", code="SSH_ERROR",
                              action="check the host's sshd log")
    return exc


#: why an SSH call failed, in a message: the first line of paramiko's, without its type
_reason = partial(error_line, named=False, limit=200)


# -- a connection -------------------------------------------------------------------------------
class Connection:
    """One authenticated SSH connection. Not shared between threads (open one per host/thread)."""

    def __init__(self, host: SSHHost, client: paramiko.SSHClient) -> None:
        self.host = host
        self._client = client
        self._sftp: paramiko.SFTPClient | None = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        self._client.close()

    # -- commands ---------------------------------------------------------------------------

    def command_line(self, cmd: Sequence[str] | str, *, sudo: bool = False) -> str:
        """The shell line `run` sends: a list is quoted word by word; a string is a shell line.
        `sudo=True` prefixes `sudo -n` (never prompts: a prompt would hang a runbook)."""
        line = cmd if isinstance(cmd, str) else shlex.join(cmd)
        if sudo:
            line = "sudo -n sh -c " + shlex.quote(line)
        return line

    def run(self, cmd: Sequence[str] | str, stdin: bytes | None = None,
            timeout: float = COMMAND_TIMEOUT, *, sudo: bool = False) -> Result:
        """Run `cmd` on the host and wait for it. Secrets go in `stdin`, never in `cmd`.
        A command that does not finish within `timeout` is closed: CouldNotVerify(SSH_TIMEOUT)."""
        import paramiko

        line = self.command_line(cmd, sudo=sudo)
        try:
            transport = self._client.get_transport()
            if transport is None or not transport.is_active():
                raise CouldNotVerify(f"{self.host.label}: connection closed", code="SSH_ERROR",
                                     action="retry")
            chan = transport.open_session(timeout=CONNECT_TIMEOUT)
            try:
                return self._exec(chan, line, stdin, timeout)
            finally:
                chan.close()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise CouldNotVerify(f"{self.host.label}: command failed to run ({_reason(exc)})",
                                 code="SSH_ERROR", action="check the host's sshd log") from exc

    def _exec(self, chan: paramiko.Channel, line: str, stdin: bytes | None,
              timeout: float) -> Result:
        deadline = time.monotonic() + timeout
        chan.exec_command(line)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()  # EOF on the remote stdin: `cat` and friends finish
        out, err = bytearray(), bytearray()
        # The channel's fileno() signals data on stdout *or* stderr, and EOF: one select()
        # loop drains both, so a chatty stderr cannot fill its window and stall the command.
        while True:
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if chan.exit_status_ready() and not chan.recv_ready() \
                    and not chan.recv_stderr_ready() and chan.eof_received:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise CouldNotVerify(
                    f"{self.host.label}: command did not finish within {timeout:g}s",
                    code="SSH_TIMEOUT", action="check the host (load, a hung service) and retry")
            select.select([chan], [], [], min(left, 1.0))
        return Result(chan.recv_exit_status(), out.decode("utf-8", "replace"),
                      err.decode("utf-8", "replace"))

    # -- files ------------------------------------------------------------------------------

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()
            except Exception as exc:
                raise CouldNotVerify(f"{self.host.label}: SFTP unavailable ({_reason(exc)})",
                                     code="SSH_ERROR",
                                     action="enable the sftp subsystem in sshd_config") from exc
        return self._sftp

    def home(self) -> str:
        """The SFTP session's home directory (the login user's): SFTP does not expand `~`,
        so `~/x` is resolved against this."""
        with self._file_errors("~"):
            return str(self.sftp().normalize("."))

    def stat(self, path: str) -> RemoteStat | None:
        """The file's mode/owner/size, or None when it does not exist."""
        with self._file_errors(path):
            try:
                st = self.sftp().stat(path)
            except FileNotFoundError:
                return None
        return RemoteStat(mode=statmod.S_IMODE(st.st_mode or 0), uid=st.st_uid or 0,
                          gid=st.st_gid or 0, size=st.st_size or 0,
                          mtime=float(st.st_mtime or 0),
                          is_dir=statmod.S_ISDIR(st.st_mode or 0))

    def read_file(self, path: str, *, sudo: bool = False) -> bytes | None:
        """The file's bytes, or None when it does not exist. `sudo=True` reads through
        `sudo -n cat` for files the login user cannot read."""
        if sudo:
            # base64: Result decodes output as text, and a file need not be UTF-8.
            res = self.run(["base64", "--", path], sudo=True)
            if res.ok:
                return base64.b64decode(res.stdout)
            if "No such file" in res.stderr:
                return None
            raise CouldNotVerify(f"{self.host.label}: cannot read {path}: {res.tail()}",
                                 code="REMOTE_PERMISSION",
                                 action="allow the login user `sudo -n cat` of the file")
        with self._file_errors(path):
            try:
                with self.sftp().open(path, "rb") as f:
                    return bytes(f.read())
            except FileNotFoundError:
                return None

    def write_file_atomic(self, path: str, data: bytes, *, mode: int | None = None,
                          owner: tuple[int, int] | None = None, backup: bool = True,
                          run_id: str | None = None, sudo: bool | None = None) -> WriteResult:
        """Replace `path` with `data` so that readers see the old file or the new one, never
        half of each: write `.<name>.breakglass-tmp` in the same directory, fsync, give it the
        original's mode and owner (or `mode`/`owner`), keep a 0600 copy of the original as
        `<name>.breakglass-<run_id>.bak` when `backup`, then rename over the original
        (posix-rename@openssh.com, i.e. rename(2), atomic within a filesystem).

        Without sudo the login user must be able to write the directory; the owner can only be
        kept when it is the login user (or root logs in) — otherwise a note says so. With
        `sudo` (default: the host's `sudo` setting) the same steps run as root through
        `sudo -n sh`, with the data on stdin."""
        use_sudo = self.host.sudo if sudo is None else sudo
        tag = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        directory, name = posixpath.split(path)
        tmp = posixpath.join(directory, f".{name}.breakglass-tmp")
        bak = posixpath.join(directory, f"{name}.breakglass-{tag}.bak")
        if use_sudo:
            return self._write_sudo(path, tmp, bak, data, mode, owner, backup)
        return self._write_sftp(path, tmp, bak, data, mode, owner, backup)

    def _write_sftp(self, path: str, tmp: str, bak: str, data: bytes, mode: int | None,
                    owner: tuple[int, int] | None, backup: bool) -> WriteResult:
        sftp = self.sftp()
        notes: list[str] = []
        before = self.stat(path)
        final_mode = mode if mode is not None else (before.mode if before else 0o600)
        want_owner = owner or ((before.uid, before.gid) if before else None)
        backup_path = None
        with self._file_errors(path):
            if backup and before is not None:
                # A resumed run keeps the first backup it made: that one holds the original.
                if self.stat(bak) is None:
                    self._put(bak, self.read_file(path) or b"", 0o600)
                backup_path = bak
            self._put(tmp, data, 0o600)  # 0600 while it holds the secret and is not in place
            try:
                sftp.chmod(tmp, final_mode)
                if want_owner is not None:
                    self._chown(tmp, want_owner, notes)
                sftp.posix_rename(tmp, path)
            except BaseException:
                _quietly(lambda: sftp.remove(tmp))
                raise
        after = self.stat(path)
        assert after is not None
        return WriteResult(path, after.mode, after.uid, after.gid, backup_path,
                           created=before is None, notes=tuple(notes))

    def _put(self, remote: str, data: bytes, mode: int) -> None:
        import paramiko

        sftp = self.sftp()
        with sftp.open(remote, "wb") as f:
            sftp.chmod(remote, mode)  # before any byte of the secret is in the file
            f.write(data)
            f.flush()
            # fsync@openssh.com (OpenSSH PROTOCOL, §4.7): the data is on disk before the
            # rename makes it the live file. paramiko has no public call for it.
            try:
                sftp._request(paramiko.sftp.CMD_EXTENDED,  # type: ignore[attr-defined]
                              "fsync@openssh.com", f.handle)
            except (OSError, paramiko.SSHException):
                self.run(["sync", "--", remote])  # coreutils sync FILE fsyncs that file

    def _chown(self, remote: str, owner: tuple[int, int], notes: list[str]) -> None:
        st = self.stat(remote)
        if st is not None and (st.uid, st.gid) == owner:
            return
        try:
            self.sftp().chown(remote, owner[0], owner[1])
        except PermissionError:
            notes.append(f"owner {owner[0]}:{owner[1]} not kept on {remote}: the login user "
                         f"{self.host.user} may not chown (set hosts.{self.host.name}.sudo = "
                         "true to write as root)")

    def _write_sudo(self, path: str, tmp: str, bak: str, data: bytes, mode: int | None,
                    owner: tuple[int, int] | None, backup: bool) -> WriteResult:
        # One root shell does the whole sequence; the data arrives on stdin (never in argv).
        # stat -c: GNU coreutils; `sync FILE` fsyncs that one file (coreutils >= 8.24).
        script = (
            'set -eu; p="$1"; t="$2"; b="$3"; m="$4"; o="$5"; bk="$6"; umask 077\n'
            'created=0; if [ -e "$p" ]; then\n'
            '  [ -n "$m" ] || m=$(stat -c %a -- "$p"); [ -n "$o" ] || o=$(stat -c %u:%g -- "$p")\n'
            '  if [ "$bk" = 1 ] && [ ! -e "$b" ]; then cp -p -- "$p" "$b"; chmod 600 -- "$b"; fi\n'
            'else created=1; [ -n "$m" ] || m=600; fi\n'
            'cat > "$t"; sync -- "$t"; chmod "$m" -- "$t"\n'
            '[ -z "$o" ] || chown "$o" -- "$t"\n'
            'mv -f -- "$t" "$p" || { rm -f -- "$t"; exit 1; }\n'
            'echo "$created"\n')
        args = [path, tmp, bak, f"{mode:o}" if mode is not None else "",
                f"{owner[0]}:{owner[1]}" if owner else "", "1" if backup else "0"]
        cmd = "sudo -n sh -c " + shlex.quote(script) + " sh " + shlex.join(args)
        res = self.run(cmd, stdin=data)
        if not res.ok:
            raise CouldNotVerify(f"{self.host.label}: atomic write of {path} failed: "
                                 f"{res.tail()}", code="REMOTE_PERMISSION",
                                 action="allow the login user `sudo -n` (NOPASSWD) or unset "
                                        f"hosts.{self.host.name}.sudo")
        created = res.stdout.strip().endswith("1")
        st = self.run(["stat", "-c", "%a %u %g", "--", path], sudo=True)
        m, u, g = st.stdout.split()
        return WriteResult(path, int(m, 8), int(u), int(g), None if created or not backup
                           else bak, created=created)

    @contextmanager
    def _file_errors(self, path: str) -> Iterator[None]:
        import paramiko

        try:
            yield
        except PermissionError as exc:
            raise CouldNotVerify(f"{self.host.label}: permission denied on {path}",
                                 code="REMOTE_PERMISSION",
                                 action=f"give {self.host.user} access to the file and its "
                                        f"directory, or set hosts.{self.host.name}.sudo = true"
                                 ) from exc
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise CouldNotVerify(f"{self.host.label}: {path}: {_reason(exc)}",
                                 code="SSH_ERROR", action="check the path and the host") from exc


def _quietly(fn: Callable[[], object]) -> None:
    # Best-effort cleanup of a temp file: the original error is the one worth reporting.
    with contextlib.suppress(Exception):
        fn()


# -- many hosts ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostOutcome(Generic[T]):
    """One host's result in `run_on_hosts`: `value` when `fn` returned, else `error` (a
    BreakglassError: CouldNotVerify for an unreachable host; `skipped` when the error threshold
    stopped the pool before this host was tried)."""

    host: SSHHost
    value: T | None = None
    error: BreakglassError | None = None
    skipped: bool = False
    seconds: float = 0.0
    #: wall-clock time (epoch seconds) the pool started on this host, before connecting: with
    #: `seconds`, the host's whole window, handshake included (evidence of concurrency)
    started: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def run_on_hosts(hosts: Sequence[SSHHost], fn: Callable[[Connection], T], *,
                 max_parallel: int = 8, error_threshold: int | None = None,
                 timeout: float = CONNECT_TIMEOUT) -> list[HostOutcome[T]]:
    """Connect to each host and call `fn(connection)`, at most `max_parallel` at a time.

    One host failing (unreachable, refused key, `fn` raising a BreakglassError) is that host's
    error; the others continue. Once `error_threshold` hosts have failed, hosts not yet started
    are skipped (a fleet-wide change stops spreading when it is clearly going wrong), and
    their outcome says so. Outcomes are in the order of `hosts`. Programming errors (anything
    that is not a BreakglassError) propagate."""
    failures = 0
    lock = threading.Lock()

    def one(host: SSHHost) -> HostOutcome[T]:
        nonlocal failures
        with lock:
            if error_threshold is not None and failures >= error_threshold:
                return HostOutcome(host, error=CouldNotVerify(
                    f"{host.label}: not attempted: {failures} host(s) failed (threshold "
                    f"{error_threshold})", code="HOST_SKIPPED",
                    action="fix the failed hosts and run again"), skipped=True)
        start, wall = time.monotonic(), time.time()
        try:
            with host.connect(timeout=timeout) as conn:
                value = fn(conn)
        except BreakglassError as exc:
            with lock:
                failures += 1
            return HostOutcome(host, error=exc, seconds=time.monotonic() - start, started=wall)
        return HostOutcome(host, value=value, seconds=time.monotonic() - start, started=wall)

    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(hosts))),
                            thread_name_prefix="bg-ssh") as pool:
        return list(pool.map(one, hosts))
