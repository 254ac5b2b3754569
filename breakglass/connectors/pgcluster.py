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

Every cluster root carries a MARKER file (JSON: label, creator pid, bin_dir, plus the caller's
facts such as a run id), written right after mkdtemp and before anything else goes in, and
removed last, so that a later process can re-attach to it by path (`EmbeddedCluster.attach`) and
stop and remove the leftovers of a killed run (`find_roots`).

The server is started as a direct child (`postgres -D`, not `pg_ctl start`, whose daemonized
postmaster would belong to nobody) through connectors.process: a minimal environment, and a
SIGINT when breakglass dies, even of SIGKILL. SIGINT is PostgreSQL's fast shutdown: it ends the
sessions and writes a shutdown checkpoint, so the commits that synchronous_commit=off had not
flushed yet survive (an immediate shutdown, SIGQUIT, would lose them). Its data directory stays,
so that a resumed run starts it again (`start_server`) and finds every restored row.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from breakglass.connectors import process
from breakglass.errors import CouldNotVerify

CLUSTER_USER = "breakglass-pg"
SOCKET_PORT = 5432  # only names the socket file (.s.PGSQL.5432); no TCP port is opened
# sockaddr_un.sun_path is 108 bytes on Linux (107 + NUL); the socket file name adds 12 + "/sock/".
_MAX_ROOT_LEN = 107 - len("/sock/.s.PGSQL.5432") - 1

FAST_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # minimal WAL: COPY into a table created in the same transaction skips WAL entirely
    # (PostgreSQL docs, "Populating a Database" §14.4.7); needs max_wal_senders = 0.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "1h",
    "autovacuum": "off",
    "shared_buffers": "256MB",
    "wal_buffers": "64MB",
    # Index builds: pg_restore --jobs already keeps every core busy with one table each, so
    # parallel index builds only oversubscribe them. Measured on 2 cores, a 174 MiB dump with
    # 15 indexes, pg_restore -j2 (2 rounds each): 512MB 16.5 s, 128MB 12.9 s, 64MB 12.3 s,
    # 32MB 10.9 s (which also rules out parallel workers: each needs 32MB), server defaults
    # 13.9 s. So no parallel maintenance workers and a modest sort memory per build.
    "maintenance_work_mem": "32MB",
    "max_parallel_maintenance_workers": "0",
    "work_mem": "32MB",
    # JIT compiles the validation queries (count(*) per table) for no gain on small tables.
    "jit": "off",
}

# Marks a directory as ours so that a later run can find and remove leftovers of a killed one.
MARKER = "breakglass-cluster"


def _ensure_cluster_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(CLUSTER_USER)
    except KeyError:
        pass
    try:
        process.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                     CLUSTER_USER], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise CouldNotVerify(
            f"running as root, and could not create the unprivileged user {CLUSTER_USER!r} that "
            f"PostgreSQL needs ({exc}); create it with `useradd --system {CLUSTER_USER}` or run "
            "breakglass as a normal user") from exc
    return pwd.getpwnam(CLUSTER_USER)


def cluster_parent() -> Path:
    """Where cluster roots go: the temp dir, unless its path is too long for a unix socket."""
    tmp = Path(tempfile.gettempdir())
    # mkdtemp under it is still 0700 and unpredictable; /tmp only shortens the path.
    return tmp if len(str(tmp)) < _MAX_ROOT_LEN - 40 else Path("/tmp")  # noqa: S108


def read_marker(root: Path) -> dict[str, Any] | None:
    """The marker of a cluster root, or None when `root` is not one of ours. Markers written by
    older versions held just a pid: they read as {"pid": N}."""
    try:
        text = (root / MARKER).read_text()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"pid": int(text)} if text.strip().isdigit() else {}
    return data if isinstance(data, dict) else {}


def find_roots(prefix: str, parent: Path | None = None) -> list[Path]:
    """Cluster roots named `bg-<prefix>…` that carry our marker (oldest name first)."""
    base = parent or cluster_parent()
    return sorted(p for p in base.glob(f"bg-{prefix}*")
                  if p.is_dir() and not p.is_symlink() and read_marker(p) is not None)


def remove_root(root: Path) -> None:
    """Remove a cluster root, its marker last: a removal cut short (a SIGKILL in the middle of
    deleting gigabytes of restored rows) leaves a folder that is still marked as ours."""
    with contextlib.suppress(FileNotFoundError):
        for child in root.iterdir():
            if child.name == MARKER:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    child.unlink()
    with contextlib.suppress(OSError):
        (root / MARKER).unlink()
    shutil.rmtree(root, ignore_errors=True)


class EmbeddedCluster:
    """`with EmbeddedCluster(bin_dir) as pg: psycopg.connect(pg.dsn())`."""

    def __init__(self, bin_dir: Path, *, parent: Path | None = None, label: str = "cluster",
                 settings: Mapping[str, str] = FAST_SETTINGS,
                 facts: Mapping[str, Any] | None = None, root: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.settings = dict(settings)
        self.facts = dict(facts or {})
        self._user: pwd.struct_passwd | None = _ensure_cluster_user() if os.geteuid() == 0 else None
        self._server: subprocess.Popen[bytes] | None = None
        self.started = False
        # Short path: a unix socket path must fit in 107 bytes. mkdtemp (0700, unique) rather than
        # a predictable name: nobody else can pre-create or symlink our root.
        self.root = root or Path(tempfile.mkdtemp(prefix=f"bg-{label}-",
                                                  dir=parent or cluster_parent()))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "postgres.log"
        if root is None:
            # Marked at once, before anything goes in: a later run cannot tell an unmarked
            # folder from someone else's.
            self.write_marker()

    @classmethod
    def attach(cls, root: Path) -> EmbeddedCluster:
        """Re-attach to an existing cluster root (resume, leftover cleanup) by its path. Raises
        CouldNotVerify when `root` carries no marker: we only ever touch our own directories."""
        marker = read_marker(root)
        if marker is None:
            raise CouldNotVerify(f"{root} is not an embedded cluster of breakglass (no {MARKER})")
        bin_dir = Path(str(marker.get("bin_dir", "")))
        cluster = cls(bin_dir, root=root, facts=marker)
        cluster.started = cluster.postmaster_pid() is not None
        return cluster

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> EmbeddedCluster:
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
        self.started = True  # from here on stop() must try, even if the start fails halfway
        self.start_server()
        return self

    def start_server(self, timeout: float = 60.0) -> None:
        """Start the postmaster of the existing data directory and wait until it accepts
        connections: postmaster.pid's status line says "ready" (what `pg_ctl -w` waits for;
        PostgreSQL's pidfile.h, LOCK_FILE_LINE_PM_STATUS)."""
        self.write_marker()  # the pid that now owns the server (a resume re-starts it)
        with open(self.log, "ab") as log:
            try:
                self._server = process.popen(
                    [self.tool("postgres"), "-D", str(self.data)], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, cwd=self.root,
                    user=self._user.pw_uid if self._user else None,
                    death_signal=signal.SIGINT)
            except OSError as exc:
                raise CouldNotVerify(f"could not run postgres from {self.bin_dir}: {exc}"
                                     ) from exc
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._server.poll() is not None or time.monotonic() > deadline:
                raise CouldNotVerify(f"the embedded PostgreSQL in {self.root} did not start: "
                                     f"{self._log_tail()}".strip())
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) > 7 and lines[7].strip() == "ready" and self.is_running()

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-3:])
        except OSError:
            return ""

    def write_marker(self) -> None:
        facts = {**self.facts, "pid": os.getpid(), "bin_dir": str(self.bin_dir)}
        (self.root / MARKER).write_text(json.dumps(facts, sort_keys=True))

    def postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid when that process is alive and is a postgres of this data
        dir (a pid left by a crash may have been reused by an unrelated process)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        # postgres rewrites its argv ("postgres: checkpointer"), but the postmaster keeps the one
        # pg_ctl gave it: "…/postgres -D <data>".
        return pid if str(self.data).encode() in cmdline else None

    def is_running(self) -> bool:
        return self.postmaster_pid() is not None

    def stop(self) -> None:
        """Stop the server and remove every file. Safe to call twice, and on the root of a
        cluster whose creator was killed."""
        if self.started or self.postmaster_pid() is not None:
            # Already gone is fine: the directory is removed below either way.
            with contextlib.suppress(CouldNotVerify):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self._kill_postmaster()
        if self._server is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(timeout=10)  # reaped: it exited above
            self._server = None
        self.started = False
        remove_root(self.root)

    def _kill_postmaster(self) -> None:
        """When pg_ctl could not stop it (binaries gone, a wedged server): SIGQUIT is the
        postmaster's "immediate shutdown", SIGKILL if it does not go. Its backends exit on their
        own when the postmaster dies (they watch the postmaster's death pipe)."""
        for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            pid = self.postmaster_pid()
            if pid is None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.postmaster_pid() is not None:
                time.sleep(0.05)

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
            # stdout/stderr to a file, not a pipe: the postmaster that `pg_ctl start` leaves
            # behind inherits them, and a pipe held open by it can hang the call.
            with tempfile.TemporaryFile() as out:
                done = process.run([self.tool(tool), *args], stdout=out, stderr=out,
                                   stdin=subprocess.DEVNULL, check=False,
                                   user=self._user.pw_uid if self._user else None,
                                   timeout=120, cwd=self.root)
                out.seek(0)
                text = out.read().decode(errors="replace")
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CouldNotVerify(f"could not run {tool} from {self.bin_dir}: {exc}") from exc
        if done.returncode != 0:
            tail = text.strip().splitlines()[-3:]
            raise CouldNotVerify(f"{tool} failed for the embedded PostgreSQL in {self.root}: "
                                 f"{' | '.join(tail)} {self._log_tail()}".strip())
