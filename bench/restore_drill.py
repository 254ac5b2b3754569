"""Restore-drill benchmark (issue 3 "Speed"): `breakglass drill.restore` against the floor and the
naive way, measured in one run on the same dump.

    .venv/bin/python bench/restore_drill.py                  # ~1 GB database, the real figure
    .venv/bin/python bench/restore_drill.py --size-gb 0.05   # smoke run, about a minute
    .venv/bin/python bench/restore_drill.py --tuning         # + pg_restore -j1/-j2/-j4 and
                                                             #   settings on the disposable cluster

What it does, in order:
1. builds a SaaS-like database (bench/_saas_data.py) in a throw-away PostgreSQL 16
   (EmbeddedCluster, bundled binaries);
2. takes a backup into a moto S3 bucket (moto in a child process on 127.0.0.1, dummy credentials):
   through `breakglass backup.take` when that task exists, else pg_dump -Fc + boto3 + a manifest;
3. measures with wall-clock timers
   (a) `breakglass drill.restore --yes --json` end to end (the CLI in a subprocess, environment
       local) — skipped, and said so, while the task does not exist;
   (b) the floor: the S3 download by hand (boto3 to a local file) + the faster of pg_restore -j1
       and -j2 into an already running server with default settings;
   (c) the naive way: that download + pg_restore -j1 into the same server;
   and prints a/b (goal <= 1.15 with full validation) and a/c (goal < 1);
4. stops everything it started (clusters, moto) and removes its files, also on Ctrl-C/SIGTERM.

Exit status: 0 when the goals are met (or (a) could not run), 1 when a goal is missed, 2 on a
failure of the benchmark itself.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _saas_data

from breakglass.connectors import pgbin
from breakglass.connectors.pgcluster import FAST_SETTINGS, EmbeddedCluster

REPO = Path(__file__).resolve().parent.parent
PG_MAJOR = 16
DATABASE = "saas"
BUCKET = "bench-backups"
PREFIX = "pg/"
REGION = "us-east-1"
DUMMY_KEY = "testing"  # moto accepts any credentials; this is its documented dummy
GOAL_FLOOR = 1.15  # a/b
GOAL_NAIVE = 1.0  # a/c, strictly below
# "default settings": initdb's postgresql.conf untouched, except that no TCP port is opened
# (other servers on this machine may hold 5432).
DEFAULT_SETTINGS: Mapping[str, str] = {"listen_addresses": "''"}
BREAKGLASS = str(Path(sys.executable).parent / "breakglass")

_MOTO_CHILD = r"""
import sys
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # serve until the benchmark closes our stdin (or dies)
server.stop()
"""


def say(msg: str) -> None:
    print(msg, flush=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


@dataclass
class Timer:
    seconds: float = 0.0

    @contextlib.contextmanager
    def run(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds = time.perf_counter() - start


# -- moto ------------------------------------------------------------------------------------
class Moto:
    """moto's ThreadedMotoServer in a child process: the drill's downloads and the floor's then
    come from the same separate server, and neither competes with this process for the GIL."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _MOTO_CHILD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError("moto server did not start")
        self.endpoint_url = f"http://127.0.0.1:{int(line)}"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY,
                            config=Config(s3={"addressing_style": "path"}))

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def aws_env(work: Path) -> dict[str, str]:
    """Dummy credentials, and no config files of whoever runs the benchmark."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=DUMMY_KEY, AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(work / "aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"))
    return env


# -- PostgreSQL helpers ------------------------------------------------------------------------
def pg_env(cluster: EmbeddedCluster) -> dict[str, str]:
    return {**os.environ, **cluster.env()}


def scalar(dsn: str, query: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
        return row[0] if row else None


def create_db(cluster: EmbeddedCluster, name: str) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def drop_db(cluster: EmbeddedCluster, name: str) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
        # Make the next restore start from the same state: dirty buffers of this one written.
        conn.execute("checkpoint")


def pg_restore(cluster: EmbeddedCluster, dump: Path | None, db: str, jobs: int,
               extra: tuple[str, ...] = (), stdin: Any = None) -> subprocess.Popen[bytes]:
    exe = str(pgbin.find("pg_restore", major=PG_MAJOR))
    args = [exe, "-d", db, *extra]
    if jobs > 1:
        args += ["-j", str(jobs)]
    if dump is not None:
        args.append(str(dump))
    return subprocess.Popen(args, env=pg_env(cluster), stdin=stdin, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], what: str) -> None:
    _, err = proc.communicate()
    if proc.returncode != 0:
        tail = err.decode(errors="replace")[-600:]
        raise RuntimeError(f"{what} exited {proc.returncode}: {tail}")


def restore_seconds(cluster: EmbeddedCluster, dump: Path, jobs: int,
                    extra: tuple[str, ...] = (), expect: Mapping[str, int] | None = None) -> float:
    """pg_restore into a fresh database of a running cluster: only pg_restore is timed (the
    CREATE DATABASE before and the DROP after are not)."""
    db = "restore_probe"
    create_db(cluster, db)
    try:
        t = Timer()
        with t.run():
            finish(pg_restore(cluster, dump, db, jobs, extra), f"pg_restore -j{jobs}")
        if expect:
            check_rows(cluster.dsn(db), expect)
        return t.seconds
    finally:
        drop_db(cluster, db)


def check_rows(dsn: str, expect: Mapping[str, int]) -> None:
    """A timing of a restore that lost rows would be meaningless (and flattering)."""
    with psycopg.connect(dsn) as conn:
        for table, n in expect.items():
            got = conn.execute(sql.SQL("select count(*) from {}").format(
                sql.Identifier(table))).fetchone()
            if not got or got[0] != n:
                raise RuntimeError(f"restore check: {table} has {got} rows, expected {n}")


# -- the backup ---------------------------------------------------------------------------------
@dataclass
class Backup:
    key: str
    size: int
    how: str
    seconds: float
    rows: dict[str, int]


def take_by_hand(src: EmbeddedCluster, s3: Any, work: Path, rows: dict[str, int]) -> Backup:
    from breakglass.recovery.manifest import Manifest, manifest_key

    started = datetime.now(UTC)
    key = f"{DATABASE}-{started.strftime('%Y%m%dT%H%M%SZ')}.dump"
    local = work / "take" / key
    local.parent.mkdir()
    t = Timer()
    with t.run():
        exe = str(pgbin.find("pg_dump", major=PG_MAJOR))
        done = subprocess.run([exe, "-Fc", "-d", DATABASE, "-f", str(local)], env=pg_env(src),
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {done.stderr[-600:]}")
        digest = hashlib.sha256()
        with local.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        s3.upload_file(str(local), BUCKET, PREFIX + key)
        manifest = Manifest(sha256=digest.hexdigest(), size=local.stat().st_size,
                            created_at=started, database=DATABASE,
                            server_version=str(scalar(src.dsn(DATABASE), "show server_version")),
                            tables=rows)
        s3.put_object(Bucket=BUCKET, Key=PREFIX + manifest_key(key),
                      Body=manifest.to_json().encode())
    size = local.stat().st_size
    local.unlink()
    return Backup(key, size, "pg_dump -Fc + boto3 upload + manifest (backup.take not available)",
                  t.seconds, rows)


def task_exists(name: str, module: str) -> bool:
    if not (REPO / module).exists():
        return False
    return subprocess.run([BREAKGLASS, "--help", name], capture_output=True,
                          check=False).returncode == 0


def take_with_product(config: Path, env: dict[str, str], s3: Any, rows: dict[str, int],
                      log: Path) -> Backup | None:
    t = Timer()
    with t.run(), log.open("wb") as out:
        done = subprocess.run([BREAKGLASS, "backup.take", "--config", str(config), "--yes"],
                              env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        say(f"  backup.take exited {done.returncode}; falling back to pg_dump by hand:\n    "
            + "\n    ".join(tail))
        return None
    objs = [o for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
            if o["Key"].endswith((".dump", ".dump.age"))]
    if not objs:
        say("  backup.take exited 0 but stored no .dump object; falling back")
        return None
    newest = max(objs, key=lambda o: o["LastModified"])
    return Backup(newest["Key"][len(PREFIX):], int(newest["Size"]), "breakglass backup.take",
                  t.seconds, rows)


_EXPECT = """
[[drills.restore.expect]]
sql = "select count(*) from TABLE"
equals = ROWS"""


def write_config(work: Path, endpoint_url: str, rows: Mapping[str, int],
                 state: str | None = None) -> Path:
    """The drill's config in `work`; `state`: `[project] state` (bench/state_s3.py)."""
    path = work / "breakglass.toml"
    shared = f'state = "{state}"\n' if state else ""
    # the drill's `expect` checks: exact row counts (table names are ours, not input)
    expects = "\n".join(_EXPECT.replace("TABLE", t).replace("ROWS", str(n))
                        for t, n in rows.items())
    path.write_text(f"""# written by bench/restore_drill.py
[project]
name = "bench"
environment = "production"
state_dir = "state"
{shared}
[owners]
backup_restore = ["bench"]

[people.bench]
notify = []

[aws]
region = "{REGION}"
endpoint_url = "{endpoint_url}"

[databases.main]
dsn = "env:BENCH_SOURCE_DSN"

[backups.main]
store = "s3://{BUCKET}/{PREFIX}"
database = "main"
max_age = "26h"
retention_days = 35
encryption = "none"

[drills.restore]
backup = "main"
environment = "local"
rto = "30m"
{expects}
""")
    return path


# -- measurements -----------------------------------------------------------------------------
def download(s3: Any, key: str, dest: Path) -> float:
    """One GET streamed to a file: against moto this beats boto3's ranged, threaded
    download_file (moto re-reads the object for every range)."""
    t = Timer()
    with t.run():
        body = s3.get_object(Bucket=BUCKET, Key=PREFIX + key)["Body"]
        with dest.open("wb") as fh:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                fh.write(chunk)
    return t.seconds


@dataclass
class DrillRun:
    seconds: float
    exit_code: int
    report: dict[str, Any] | None
    output_tail: str
    leftovers: list[str] = field(default_factory=list)


def run_drill(config: Path, env: dict[str, str], log: Path, jobs: str = "auto") -> DrillRun:
    before = set(Path(tempfile.gettempdir()).glob("bg-drill-*"))
    args = [BREAKGLASS, "drill.restore", "--config", str(config), "--yes", "--json"]
    if jobs != "auto":
        args += ["--jobs", jobs]
    t = Timer()
    with log.open("wb") as errlog, t.run():
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=errlog)
        try:
            out, _ = proc.communicate()
        except BaseException:
            # Ctrl-C: the drill got SIGINT too (same process group) and tears its cluster
            # down; give it the time to, rather than SIGKILLing it mid-teardown.
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    text = out.decode(errors="replace")
    report: dict[str, Any] | None = None
    with contextlib.suppress(ValueError):
        report = json.loads(text[text.index("{"):]) if "{" in text else None
    # The local environment's cluster root is named bg-drill-<run id>-…: anything of this run's
    # left behind is a teardown bug (other work on the machine makes bg-* dirs of its own).
    run_id = str((report or {}).get("run_id") or "")
    after = set(Path(tempfile.gettempdir()).glob("bg-drill-*"))
    leftovers = sorted(str(p) for p in after - before
                       if p.is_dir() and (not run_id or run_id in p.name))
    tail = "\n".join((text + log.read_text(errors="replace")).strip().splitlines()[-8:])
    return DrillRun(t.seconds, proc.returncode, report, tail, leftovers)


def stage_breakdown(report: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Per-stage seconds from the drill's --json: an explicit stages/timings mapping anywhere in
    the report if the drill gives one, else the engine's per-step seconds."""
    def find(obj: Any) -> dict[str, Any] | None:
        if isinstance(obj, dict):
            for k in ("stages", "timings", "stage_seconds"):
                v = obj.get(k)
                if isinstance(v, dict) and v and all(isinstance(x, int | float)
                                                     for x in v.values()):
                    return v
            for v in obj.values():
                found = find(v)
                if found:
                    return found
        elif isinstance(obj, list):
            for v in obj:
                found = find(v)
                if found:
                    return found
        return None

    stages = find(report)
    if stages:
        return [(str(k), float(v)) for k, v in stages.items()]
    return [(str(s.get("step")), float(s["seconds"])) for s in report.get("steps", [])
            if isinstance(s, dict) and isinstance(s.get("seconds"), int | float)]


@dataclass
class Variant:
    label: str
    settings: Mapping[str, str]
    jobs: int
    extra: tuple[str, ...] = ()
    stream: bool = False


def tuning_variants(everything: bool) -> list[Variant]:
    """The core matrix compares the disposable cluster's FAST_SETTINGS with default settings at
    each job count, in the same rounds; `everything` adds single changes to FAST_SETTINGS."""
    fast = dict(FAST_SETTINGS)
    core = [
        Variant("DEFAULT -j1", DEFAULT_SETTINGS, 1),
        Variant("DEFAULT -j2", DEFAULT_SETTINGS, 2),
        Variant("FAST -j1", fast, 1),
        Variant("FAST -j2", fast, 2),
        Variant("FAST -j4", fast, 4),
    ]
    if not everything:
        return core
    return [
        *core,
        Variant("FAST -j1 --single-transaction", fast, 1, ("--single-transaction",)),
        Variant("FAST -j1 streamed from S3 (stdin)", fast, 1, stream=True),
        Variant("FAST + max_parallel_maintenance_workers=0 -j2",
                {**fast, "max_parallel_maintenance_workers": "0"}, 2),
        Variant("FAST but fsync=on -j2", {**fast, "fsync": "on"}, 2),
    ]


def streamed_restore(cluster: EmbeddedCluster, s3: Any, key: str, expect: Mapping[str, int]
                     ) -> float:
    """Download piped into pg_restore's stdin (one job: -j needs a seekable file): the download
    overlaps the restore."""
    db = "restore_probe"
    create_db(cluster, db)
    try:
        t = Timer()
        with t.run():
            proc = pg_restore(cluster, None, db, 1, stdin=subprocess.PIPE)
            assert proc.stdin is not None
            body = s3.get_object(Bucket=BUCKET, Key=PREFIX + key)["Body"]
            for chunk in iter(lambda: body.read(1 << 20), b""):
                proc.stdin.write(chunk)
            proc.stdin.close()
            proc.stdin = None  # communicate() must not flush a closed pipe
            finish(proc, "pg_restore (stdin)")
        check_rows(cluster.dsn(db), expect)
        return t.seconds
    finally:
        drop_db(cluster, db)


def run_tuning(stack: contextlib.ExitStack, bin_dir: Path, dump: Path, s3: Any, key: str,
               rows: Mapping[str, int], rounds: int, everything: bool
               ) -> list[tuple[str, float, float]]:
    """Every variant once per round, round after round, so that a burst of load from other work
    on the machine hits all variants alike; reports (label, median, min)."""
    say("\n== pg_restore into the disposable cluster (FAST_SETTINGS and variants) ==")
    variants = tuning_variants(everything)
    clusters: dict[str, EmbeddedCluster] = {}
    for v in variants:  # all running before the first timer; idle clusters cost ~nothing
        sig = json.dumps(v.settings, sort_keys=True)
        if sig not in clusters:
            c = EmbeddedCluster(bin_dir, label="bench-tune", settings=v.settings)
            stack.callback(c.stop)
            c.start()
            clusters[sig] = c
    samples: dict[str, list[float]] = {v.label: [] for v in variants}
    for i in range(rounds):
        say(f"  -- round {i + 1}/{rounds}")
        for v in variants:
            cluster = clusters[json.dumps(v.settings, sort_keys=True)]
            if v.stream:
                secs = streamed_restore(cluster, s3, key, rows)
            else:
                secs = restore_seconds(cluster, dump, v.jobs, v.extra, rows)
            samples[v.label].append(secs)
            say(f"  {v.label:<52} {secs:7.1f} s   ({load()})")
    for c in clusters.values():
        c.stop()
    results = [(label, statistics.median(x), min(x)) for label, x in samples.items()]
    say("  median / min per variant:")
    for label, med, low in results:
        say(f"  {label:<52} {med:7.1f} s / {low:5.1f} s")
    return results


# -- main ---------------------------------------------------------------------------------------
def machine() -> str:
    cores = os.cpu_count() or 0
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0.0
    return f"{cores} cores, {mem:.0f} GiB RAM, {platform.machine()} {platform.system()}"


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # run every cleanup below, as for Ctrl-C


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--size-gb", type=float, default=1.0,
                    help="approximate database size (pg_database_size); 0.05 for a smoke run")
    ap.add_argument("--repeat", type=int, default=1,
                    help="samples per measurement (the median is reported)")
    ap.add_argument("--tuning", nargs="?", const="core", choices=("core", "all"),
                    help="also time pg_restore -j1/-j2/-j4 into FAST_SETTINGS against default "
                         "settings (core), plus single setting changes (all)")
    ap.add_argument("--tuning-rounds", type=int, default=3,
                    help="rounds of the tuning matrix (median and min are reported)")
    ap.add_argument("--skip-drill", action="store_true", help="do not run (a)")
    ap.add_argument("--drill-jobs", type=lambda v: v.split(","), default=["auto"],
                    help="comma-separated: the drill's --jobs per run; the first (default "
                         "'auto': the drill chooses) is (a), the others are printed beside it")
    ap.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (config, drill reports, logs)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    # Started in the background by a non-interactive shell, SIGINT arrives ignored; a benchmark
    # that holds servers must still stop on Ctrl-C/kill -INT and clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    figures: dict[str, Any] = {"size_gb_requested": args.size_gb, "machine": machine()}
    work = Path(tempfile.mkdtemp(prefix="bg-bench-"))
    with contextlib.ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, work, ignore_errors=True)
        try:
            return run(args, work, stack, figures)
        except KeyboardInterrupt:
            say("\ninterrupted: stopping everything the benchmark started")
            return 130
        except Exception as exc:
            say(f"benchmark failed: {type(exc).__name__}: {exc}")
            return 2
        finally:
            if args.keep:
                say(f"work directory kept: {work}")


def run(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack,
        figures: dict[str, Any]) -> int:
    bin_dir = pgbin.find("initdb", major=PG_MAJOR).parent
    say(f"machine: {figures['machine']}; {load()}")
    say(f"PostgreSQL {PG_MAJOR} from {bin_dir}")
    env = aws_env(work)

    # 1. the source database
    src = EmbeddedCluster(bin_dir, label="bench-src")
    stack.callback(src.stop)
    src.start()
    create_db(src, DATABASE)
    say(f"\n== building a ~{args.size_gb:g} GB SaaS database ==")
    t = Timer()
    with t.run():
        rows = _saas_data.build(src.dsn(DATABASE), args.size_gb, log=say)
    build_s = t.seconds
    figures["rows"] = rows
    db_bytes = int(scalar(src.dsn(DATABASE), f"select pg_database_size('{DATABASE}')"))
    version = str(scalar(src.dsn(DATABASE), "show server_version"))
    figures.update(db_bytes=db_bytes, server_version=version, build_seconds=build_s)
    say(f"  {db_bytes / 2**20:,.0f} MiB, {sum(rows.values()):,} rows in {len(rows)} tables, "
        f"built in {build_s:.1f} s (PostgreSQL {version})")

    # 2. the backup, in moto S3
    moto = Moto()
    stack.callback(moto.stop)
    s3 = moto.client()
    s3.create_bucket(Bucket=BUCKET)
    config = write_config(work, moto.endpoint_url, rows)
    env["BENCH_SOURCE_DSN"] = src.dsn(DATABASE)
    say("\n== backup into moto S3 ==")
    backup = None
    if task_exists("backup.take", "breakglass/recovery/take.py"):
        backup = take_with_product(config, env, s3, rows, work / "take.log")
    if backup is None:
        backup = take_by_hand(src, s3, work, rows)
    else:
        # For comparison with backup.take (which also counts rows, fingerprints, hashes and
        # uploads): the bare pg_dump -Fc to a local file.
        bare = work / "bare.dump"
        exe = str(pgbin.find("pg_dump", major=PG_MAJOR))
        t = Timer()
        with t.run():
            subprocess.run([exe, "-Fc", "-d", DATABASE, "-f", str(bare)], env=pg_env(src),
                           capture_output=True, check=True)
        figures["bare_pg_dump_seconds"] = t.seconds
        say(f"  (bare pg_dump -Fc to a local file: {t.seconds:.1f} s, "
            f"{bare.stat().st_size / 2**20:,.1f} MiB)")
        bare.unlink()
    figures.update(dump_bytes=backup.size, backup_how=backup.how, take_seconds=backup.seconds,
                   key=backup.key)
    say(f"  {backup.key}: {backup.size / 2**20:,.1f} MiB via {backup.how}, {backup.seconds:.1f} s")
    src.stop()  # nothing below reads the source: do not let it take memory or CPU

    # 3. measurements. The default-settings server is running before any timer starts.
    target = EmbeddedCluster(bin_dir, label="bench-dflt", settings=DEFAULT_SETTINGS)
    stack.callback(target.stop)
    target.start()
    drill_ok = not args.skip_drill and task_exists("drill.restore", "breakglass/drills/restore.py")
    dump = work / "download.dump"
    dl: list[float] = []
    r1: list[float] = []
    r2: list[float] = []
    drills: list[DrillRun] = []
    others: dict[str, list[DrillRun]] = {j: [] for j in args.drill_jobs[1:]}
    for i in range(args.repeat):
        say(f"\n== round {i + 1}/{args.repeat} ==")
        dump.unlink(missing_ok=True)
        dl.append(download(s3, backup.key, dump))
        say(f"  download (boto3 get_object -> file)        {dl[-1]:7.1f} s   ({load()})")
        r1.append(restore_seconds(target, dump, 1, expect=rows))
        say(f"  pg_restore -j1 into default-settings server {r1[-1]:7.1f} s   ({load()})")
        r2.append(restore_seconds(target, dump, 2, expect=rows))
        say(f"  pg_restore -j2 into default-settings server {r2[-1]:7.1f} s   ({load()})")
        for n, jobs in enumerate(args.drill_jobs if drill_ok else []):
            d = run_drill(config, env, work / f"drill-{i}-{jobs}.log", jobs)
            (drills if n == 0 else others[jobs]).append(d)
            label = "drill.restore" + ("" if jobs == "auto" else f" --jobs {jobs}")
            say(f"  breakglass {label:<22} (exit {d.exit_code}) {d.seconds:7.1f} s   ({load()})")
            if d.exit_code != 0:
                say("    drill output (tail):\n      " + d.output_tail.replace("\n", "\n      "))
            if d.leftovers:
                say(f"    LEFTOVER after the drill: {', '.join(d.leftovers)}")
            if d.report:
                stages = stage_breakdown(d.report)
                say("    stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages))
    target.stop()

    tuning: list[tuple[str, float, float]] = []
    if args.tuning:
        tuning = run_tuning(stack, bin_dir, dump, s3, backup.key, rows, args.tuning_rounds,
                            args.tuning == "all")
        figures["tuning"] = {label: {"median": m, "min": lo} for label, m, lo in tuning}

    # 4. the verdict
    m_dl, m_r1, m_r2 = (statistics.median(x) for x in (dl, r1, r2))
    floor = m_dl + min(m_r1, m_r2)
    naive = m_dl + m_r1
    figures.update(download_seconds=m_dl, restore_j1_seconds=m_r1, restore_j2_seconds=m_r2,
                   floor_seconds=floor, naive_seconds=naive)
    say("\n== result ==")
    say(f"machine        {figures['machine']}; PostgreSQL {version}; {load()} at the end")
    say(f"database       {db_bytes / 2**20:,.0f} MiB on disk, {sum(rows.values()):,} rows; "
        f"dump {backup.size / 2**20:,.1f} MiB ({backup.how})")
    say(f"(b) floor      {floor:7.1f} s  = download {m_dl:.1f} + min(pg_restore -j1 {m_r1:.1f}, "
        f"-j2 {m_r2:.1f}) into a running server, default settings")
    say(f"(c) naive      {naive:7.1f} s  = download {m_dl:.1f} + pg_restore -j1 {m_r1:.1f}")
    code = 0
    if not drills:
        why = "--skip-drill" if args.skip_drill else (
            "`breakglass drill.restore` does not exist yet (breakglass/drills/restore.py)")
        say(f"(a) drill      not measured: {why}")
    else:
        a = statistics.median(d.seconds for d in drills)
        ok_runs = all(d.exit_code == 0 for d in drills)
        figures.update(drill_seconds=a, drill_exit_codes=[d.exit_code for d in drills],
                       a_over_b=a / floor, a_over_c=a / naive)
        say(f"(a) drill      {a:7.1f} s  = breakglass drill.restore --yes (local, full validation)"
            + ("" if ok_runs else "  [drill did NOT pass: figure not valid]"))
        say(f"a/b            {a / floor:7.2f}    goal <= {GOAL_FLOOR}")
        say(f"a/c            {a / naive:7.2f}    goal <  {GOAL_NAIVE:g}")
        if drills[-1].report:
            stages = stage_breakdown(drills[-1].report)
            figures["drill_stages"] = dict(stages)
            if stages:
                say("drill stages   " + ", ".join(f"{n} {s:.1f} s" for n, s in stages))
        # Load from other work moves all figures of a round together: the ratio within each
        # round is steadier than the ratio of medians taken over rounds.
        per_b = [d.seconds / (x + min(y, z)) for d, x, y, z in zip(drills, dl, r1, r2, strict=True)]
        per_c = [d.seconds / (x + y) for d, x, y in zip(drills, dl, r1, strict=True)]
        figures.update(a_over_b_per_round=per_b, a_over_c_per_round=per_c)
        say("per round      a/b " + " ".join(f"{r:.2f}" for r in per_b) + "   a/c "
            + " ".join(f"{r:.2f}" for r in per_c)
            + f"   (medians {statistics.median(per_b):.2f}, {statistics.median(per_c):.2f})")
        for jobs, runs in others.items():
            alt = statistics.median(d.seconds for d in runs)
            figures[f"drill_jobs_{jobs}_seconds"] = alt
            say(f"drill --jobs {jobs:<3} {alt:7.1f} s  "
                f"a/b {alt / floor:.2f}  a/c {alt / naive:.2f}")
        if not ok_runs or a / floor > GOAL_FLOOR or a / naive >= GOAL_NAIVE:
            code = 1
    if tuning:
        best = min(tuning, key=lambda x: x[1])
        say(f"fastest restore into the disposable cluster: {best[0]} (median {best[1]:.1f} s)")
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
