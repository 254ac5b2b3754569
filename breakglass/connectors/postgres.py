"""PostgreSQL connections (psycopg) and the environment of libpq client tools; psycopg errors
become ours here.

Why a password file and not PGPASSWORD or argv (DESIGN principle 5): `ps` shows every process's
argv to every user, and /proc/PID/environ is readable by the same user and by root; libpq's docs
call PGPASSWORD "not recommended for security reasons" (libpq "Environment Variables"). A
0600 file in a 0700 directory removed afterwards is what libpq offers instead (PGPASSFILE,
libpq "The Password File"). libpq ignores a password file with group/world access.

DSNs come in both libpq forms (URI `postgresql://…` and `key=value …`); both are parsed with
`psycopg.conninfo.conninfo_to_dict`. Error messages never repeat a DSN: a malformed one would
echo its password.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from breakglass.connectors import process
from breakglass.errors import BreakglassError, CouldNotVerify, UsageError

if TYPE_CHECKING:
    import psycopg

DATABASE_UNREACHABLE = "DATABASE_UNREACHABLE"
CONNECT_TIMEOUT = 10  # seconds; a verifier that hangs on a dead server is worse than exit 3
DEFAULT_PORT = 5432
#: libpq's sslmode values (libpq "Connection Parameters", sslmode)
SSLMODES = ("prefer", "disable", "allow", "require", "verify-ca", "verify-full")
#: libpq's default socket directory when a DSN names no host (Debian/Ubuntu build; upstream's
#: default is /tmp). Only used to *name* the target in host_port(), never to connect.
DEFAULT_SOCKET_DIR = "/var/run/postgresql"

# conninfo keyword -> libpq environment variable (libpq "Environment Variables").
# `password` is deliberately absent: it goes to the password file.
_ENV_OF = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR", "sslsni": "PGSSLSNI", "sslnegotiation": "PGSSLNEGOTIATION",
    "requiressl": "PGREQUIRESSL", "sslcompression": "PGSSLCOMPRESSION",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "channel_binding": "PGCHANNELBINDING", "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB", "gssdelegation": "PGGSSDELEGATION",
    "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS",
    "application_name": "PGAPPNAME", "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS", "service": "PGSERVICE",
    "passfile": "PGPASSFILE", "require_auth": "PGREQUIREAUTH", "client_encoding":
    "PGCLIENTENCODING",
}


def parse_dsn(dsn: str, key: str = "a database DSN") -> dict[str, str]:
    """The DSN's conninfo keywords. A malformed DSN is a usage error naming `key` (e.g.
    "databases.main.dsn") whose message does not repeat the DSN (it may hold a password)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except psycopg.ProgrammingError:
        raise UsageError(f"{key} is malformed (expected postgresql://user@host/db or "
                         "'host=… dbname=…'); the value is not shown") from None
    # libpq checks these only when it connects, and psycopg raises OperationalError for them —
    # the class of a server that is down (exit 3). They are a typo in the config: exit 2.
    for port in params.get("port", "").split(","):
        if port and not (re.fullmatch(r"[0-9]{1,5}", port) and 0 < int(port) < 65536):
            raise UsageError(f"{key}: the port is not a number from 1 to 65535 (the value is "
                             "not shown)")
    if params.get("sslmode", SSLMODES[0]) not in SSLMODES:
        raise UsageError(f"{key}: sslmode must be one of {', '.join(SSLMODES)}")
    return params


def _passfile_escape(value: str) -> str:
    # "\" and ":" are escaped with a backslash in each field (libpq "The Password File").
    return value.replace("\\", "\\\\").replace(":", "\\:")


#: libpq password folders: `breakglass-libpq-<pid>-XXXXXXXX` in the temp dir. The pid says whose
#: it is, so that a later run can remove the folder of a process that was killed (SIGKILL runs
#: no `finally`) and that still holds a production password.
LIBPQ_PREFIX = "breakglass-libpq-"


@contextmanager
def libpq_env(dsn: str) -> Iterator[dict[str, str]]:
    """The variables that point pg_dump/pg_restore/psql at `dsn` (PG*, and PGPASSFILE when the
    DSN holds a password): the `env_extra` of connectors.process, whose base environment is
    built from scratch, so that a PGPASSWORD or PGSERVICE in the caller's environment cannot
    leak in or redirect the tool. The password, if any, is in a 0600 PGPASSFILE inside a 0700
    temp dir that is removed when the block exits (or by a later run, remove_stale_libpq_dirs,
    when this process is killed)."""
    params = parse_dsn(dsn)
    password = params.pop("password", None)
    env: dict[str, str] = {}
    for key, value in params.items():
        var = _ENV_OF.get(key)
        if var is None:
            raise UsageError(f"a database DSN uses the parameter {key!r}, which breakglass "
                             "cannot pass to pg_dump/psql")
        env[var] = value
    remove_stale_libpq_dirs()
    if password is None:
        yield env
        return
    # mkdtemp: mode 0700
    tmp = tempfile.mkdtemp(prefix=f"{LIBPQ_PREFIX}{os.getpid()}-")
    try:
        path = os.path.join(tmp, "pgpass")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            # Wildcards: the file is private to this one invocation, whatever host it reaches.
            fh.write(f"*:*:*:*:{_passfile_escape(password)}\n")
        env["PGPASSFILE"] = path
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stale_libpq_dirs(parent: str | None = None) -> list[str]:
    """The password folders (libpq_env) of breakglass processes that are gone: a SIGKILL runs
    no `finally`. Folders of other users are not ours to judge (and 0700 anyway)."""
    base = parent or tempfile.gettempdir()
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    stale = []
    for name in names:
        pid_text = name.removeprefix(LIBPQ_PREFIX).split("-", 1)[0]
        if not name.startswith(LIBPQ_PREFIX) or not pid_text.isdigit():
            continue
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        mine = st.st_uid == os.geteuid() and stat.S_ISDIR(st.st_mode)
        if mine and not process.pid_alive(int(pid_text)):
            stale.append(path)
    return stale


def remove_stale_libpq_dirs(parent: str | None = None) -> list[str]:
    """Remove stale_libpq_dirs(); the folders removed."""
    stale = stale_libpq_dirs(parent)
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def _describe(params: dict[str, str]) -> str:
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port", str(DEFAULT_PORT))
    db = params.get("dbname", params.get("user", ""))
    return f"{host}:{port}/{db}" if db else f"{host}:{port}"


def _first_line(exc: BaseException, secret: str | None) -> str:
    text = str(exc).strip().splitlines()
    line = text[-1].strip() if text else type(exc).__name__
    # libpq prefixes "connection failed: connection to server at … failed:"; the last line
    # carries the reason. The password never appears in libpq's messages, but be certain.
    if secret:
        line = line.replace(secret, "***")
    return line


class ConnectFailed(CouldNotVerify):
    """The server could not be reached or refused the login; `reason` is libpq's last line
    (e.g. 'password authentication failed for user "app"'), never the password."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, code=DATABASE_UNREACHABLE,
                         action="check that the server is up and reachable, and the DSN's user "
                                "and password")
        self.reason = reason


class StatementFailed(BreakglassError):
    """A statement the server refused (an error in it, a missing table, a timeout, a missing
    privilege). `reason` is the server's one-line message, which names no statement text."""

    def __init__(self, reason: str, sqlstate: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sqlstate = sqlstate


def connect(dsn: str, *, key: str = "a database DSN", **kw: Any) -> psycopg.Connection[Any]:
    """Connect with a timeout. Refused, unreachable and authentication failures become
    ConnectFailed (CouldNotVerify, code DATABASE_UNREACHABLE) with one line that never holds
    the password (from the DSN or `password=`); a malformed DSN is a UsageError naming `key`
    (see parse_dsn)."""
    import psycopg

    params = parse_dsn(dsn, key)
    kw.setdefault("connect_timeout", CONNECT_TIMEOUT)
    try:
        return psycopg.connect(dsn, **kw)
    except psycopg.OperationalError as exc:
        reason = _first_line(exc, kw.get("password") or params.get("password"))
        raise ConnectFailed(f"cannot connect to PostgreSQL at {_describe(params)}: {reason}",
                            reason) from None


@contextmanager
def statements() -> Iterator[None]:
    """A statement the server refuses inside the block becomes StatementFailed: the caller
    judges it (an expect check's SQL that fails is a finding, a refused ALTER ROLE a way
    forward) without knowing psycopg's exception tree."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        # The server's primary message; a client-side error (the connection dropped) has none:
        # then the first line of psycopg's text, which is its message.
        reason = exc.diag.message_primary or (str(exc).strip().splitlines()
                                              or [type(exc).__name__])[0]
        raise StatementFailed(reason, exc.sqlstate) from None


PERMISSION_REFUSED = "PERMISSION_REFUSED"


@contextmanager
def privileges(key: str, then: str) -> Iterator[None]:
    """A statement the role may not run becomes CouldNotVerify(PERMISSION_REFUSED) naming the
    database (`key`), never an internal error: a refused privilege is the setup's, not a bug.
    `then` is the way forward once it is granted."""
    import psycopg

    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise CouldNotVerify(
            f"the role of {key} was refused: {_first_line(exc, None)}", code=PERMISSION_REFUSED,
            action=f"grant that privilege to the DSN's role; then {then}") from None


def server_version(conn: psycopg.Connection[Any]) -> tuple[str, int]:
    """('16.4', 16): the server's version string and its major (server_version_num // 10000,
    valid since PostgreSQL 10's two-part numbering)."""
    row = conn.execute("select current_setting('server_version'), "
                       "current_setting('server_version_num')::int").fetchone()
    assert row is not None
    full = str(row[0]).split(" ", 1)[0]  # Debian builds append " (Debian 16.4-1.pgdg…)"
    return full, int(row[1]) // 10000


def host_port(dsn: str) -> list[tuple[str, int]]:
    """Every (ip, port) the DSN may connect to, after DNS resolution; unix sockets as
    ("unix:/dir", port). The restore drill compares these to refuse a production target, so a
    name that does not resolve is CouldNotVerify, never an empty (harmless-looking) answer."""
    params = parse_dsn(dsn)
    hosts = (params.get("hostaddr") or params.get("host") or DEFAULT_SOCKET_DIR).split(",")
    ports = params.get("port", str(DEFAULT_PORT)).split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    if len(ports) != len(hosts):
        raise UsageError("a database DSN lists a different number of hosts and ports")
    found: list[tuple[str, int]] = []
    for host, port_s in zip(hosts, ports, strict=True):
        host = host.strip() or DEFAULT_SOCKET_DIR
        try:
            port = int(port_s) if port_s.strip() else DEFAULT_PORT
        except ValueError:
            raise UsageError(f"a database DSN has a port that is not a number: {port_s!r}"
                             ) from None
        if host.startswith("/") or host.startswith("@"):  # "@" = Linux abstract socket
            pair = (f"unix:{os.path.normpath(host) if host.startswith('/') else host}", port)
            if pair not in found:
                found.append(pair)
            continue
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise CouldNotVerify(f"cannot resolve database host {host!r}: {exc.strerror}",
                                 code=DATABASE_UNREACHABLE,
                                 action="check the host name in the DSN and DNS") from None
        for info in infos:
            pair = (str(info[4][0]), port)
            if pair not in found:
                found.append(pair)
    return found
