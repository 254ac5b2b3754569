"""A throw-away PostgreSQL cluster in a temp dir, reachable only over a unix socket.

Used by `breakglass demo` (the sandbox's "production" server) and by the `local` disposable
environment of the restore drill. No TCP listener (listen_addresses=''), trust auth on the socket
only, which lives in a 0700 directory owned by the cluster's user: nothing else on the machine can
connect.

initdb refuses to run as root, so as root the cluster runs as a dedicated unprivileged system user
(created once with `useradd --system`), never as `nobody`: restored production rows must not be
readable by every other daemon that runs as nobody.

Settings favour restore speed over durability (fsync=off, wal_level=minimal, …): the cluster is
disposable by definition; a crash loses nothing we need (PostgreSQL docs, "Non-Durable Settings").
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from breakglass.errors import CouldNotVerify

CLUSTER_USER = "breakglass-pg"
SOCKET_PORT = 5432  # only names the socket file (.s.PGSQL.5432); no TCP port is opened

FAST_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "1h",
    "autovacuum": "off",
    "shared_buffers": "256MB",
    "maintenance_work_mem": "512MB",
    "work_mem": "32MB",
}

# Marks a directory as ours so that a later run can find and remove leftovers of a killed one.
MARKER = "breakglass-cluster"


def _ensure_cluster_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(CLUSTER_USER)
    except KeyError:
        pass
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        CLUSTER_USER], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise CouldNotVerify(
            f"running as root, and could not create the unprivileged user {CLUSTER_USER!r} that "
            f"PostgreSQL needs ({exc}); create it with `useradd --system {CLUSTER_USER}` or run "
            "breakglass as a normal user") from exc
    return pwd.getpwnam(CLUSTER_USER)


class EmbeddedCluster:
    """`with EmbeddedCluster(bin_dir) as pg: psycopg.connect(pg.dsn())`."""

    def __init__(self, bin_dir: Path, *, parent: Path | None = None, label: str = "cluster",
                 settings: Mapping[str, str] = FAST_SETTINGS) -> None:
        self.bin_dir = bin_dir
        self.settings = dict(settings)
        # Short path: a unix socket path must fit in 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix=f"bg-{label}-", dir=parent))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "postgres.log"
        self._user: pwd.struct_passwd | None = _ensure_cluster_user() if os.geteuid() == 0 else None
        self.started = False

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> EmbeddedCluster:
        (self.root / MARKER).write_text(str(os.getpid()))
        self.socket_dir.mkdir(mode=0o700)
        if self._user is not None:
            for p in (self.root, self.socket_dir):
                os.chown(p, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "--auth=trust", "--encoding=UTF8", "--locale=C", "--username=postgres",
                  "--no-sync", "-D", str(self.data))
        conf = "\n".join(f"{k} = {v}" for k, v in self.settings.items())
        with open(self.data / "postgresql.auto.conf", "a") as fh:
            fh.write(f"\n{conf}\nunix_socket_directories = '{self.socket_dir}'\n"
                     f"port = {SOCKET_PORT}\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove every file. Safe to call twice."""
        if self.started and (self.data / "postmaster.pid").exists():
            # Already gone is fine: the directory is removed below either way.
            with contextlib.suppress(CouldNotVerify):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EmbeddedCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- use ---------------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={SOCKET_PORT} dbname={dbname} user=postgres"

    def env(self) -> dict[str, str]:
        """Environment for libpq client tools (pg_restore, psql) pointed at this cluster."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(SOCKET_PORT), "PGUSER": "postgres"}

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _run(self, tool: str, *args: str) -> None:
        try:
            subprocess.run([self.tool(tool), *args], check=True, capture_output=True, text=True,
                           user=self._user.pw_uid if self._user else None, timeout=120,
                           cwd=self.root)
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            log_tail = ""
            if self.log.exists():
                log_tail = " | ".join(self.log.read_text(errors="replace").splitlines()[-3:])
            raise CouldNotVerify(f"{tool} failed for the embedded PostgreSQL in {self.root}: "
                                 f"{' | '.join(tail)} {log_tail}".strip()) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CouldNotVerify(f"could not run {tool} from {self.bin_dir}: {exc}") from exc
