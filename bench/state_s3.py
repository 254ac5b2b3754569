"""Shared-state benchmarks (issue 11 "Benchmarks"): the state on S3 against its baseline, each
pair measured alternately in the same run, against moto's S3 served from this process.

    .venv/bin/python bench/state_s3.py                       # all three, 3-6 minutes
    .venv/bin/python bench/state_s3.py --only list,lease     # no PostgreSQL needed
    .venv/bin/python bench/state_s3.py --only drill --size-gb 0.2 --repeat 7

(a) list   `runs.list` (the task's own function, `--json`, default --limit 50) over --runs
           (1,000) runs in the bucket against over 10: warm calls (the machine has listed
           before) — goal <= 2 — and a cold first call on a new machine (empty state_dir).
           Also printed: the same 10 runs shown on both sides (`--limit 10`: what the history's
           size alone costs), and both ratios without moto's own time (moto lists by scanning
           every key; S3 reads an index). The journals are valid hash chains written straight
           into the bucket.
(b) drill  `breakglass drill.restore --yes --json` (environment local, a backup taken by
           `backup.take` into the same moto) with `[project] state = "s3://…"` against the same
           config without it — goal <= 1.05 on the median of the per-round ratios.
(c) lease  taking and releasing a run's lease (`State.lease(...).acquire` + `release`) on S3
           against on a local file: the ratio is reported, no goal.

moto runs as a single-threaded werkzeug server in a thread of this process (one request at a
time: what S3's atomic conditional writes look like from outside; STATE_API.md). Its requests
and its own time are counted, so each figure comes with its round trips. In-process calls ((a),
(c)) share the interpreter with the server: both sides of each ratio pay that alike.

Exit status: 0 every goal measured is met, 1 one is missed (or a drill did not pass), 2 the
benchmark itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from breakglass.engine import journal as jr  # noqa: E402

if TYPE_CHECKING:
    from breakglass.state.base import State

T = TypeVar("T")

STATE_BUCKET = "bench-state"
REGION = "us-east-1"
DUMMY_KEY = "testing"  # moto accepts any credentials; this is its documented dummy
GOAL_LIST = 2.0
GOAL_DRILL = 1.05
FEW = 10
WARM = 3  # warm runs.list calls per round


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Moto:
    """moto's S3 on a single-threaded werkzeug server, served from a thread of this process;
    `requests` counts what it answered."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = DomainDispatcherApplication(create_backend_app)
        self.requests = 0
        #: requests by kind (`kind`): what a shared-state run spends its round trips on
        self.kinds: Counter[str] = Counter()
        #: seconds moto spent answering (its listing scans every key; S3's reads an index)
        self.busy = 0.0

        def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            self.requests += 1
            self.kinds[kind(environ)] += 1
            start = time.perf_counter()
            try:
                return app(environ, start_response)  # type: ignore[no-any-return]
            finally:
                self.busy += time.perf_counter() - start

        self.server = make_server("127.0.0.1", 0, counted, threaded=False,
                                  request_handler=Quiet)
        self.endpoint_url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY,
                            config=Config(s3={"addressing_style": "path"}))

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def kind(environ: dict[str, Any]) -> str:
    """A request, as "METHOD what" (the state's folder, or the S3 sub-resource asked for), and
    its condition: "PUT runs/ If-Match", "GET ?list-type", "GET locks/"."""
    method = str(environ.get("REQUEST_METHOD"))
    bucket, _, key = str(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
    query = str(environ.get("QUERY_STRING", ""))
    if key:
        parts = key.split("/")
        # the state's keys are PREFIX/FOLDER/…; the marker and the backups have no folder
        what = parts[1] + "/" if bucket == STATE_BUCKET and len(parts) > 2 else parts[-1]
        if bucket != STATE_BUCKET:
            what = f"{bucket} (backups)"
    else:
        import urllib.parse

        args = urllib.parse.parse_qs(query, keep_blank_values=True)
        what = f"{bucket} ?" + ("&".join(args) or "(bucket)")
        if "prefix" in args:  # the folder listed, without the state's own prefix
            what += " " + "/".join(args["prefix"][0].split("/")[1:3])
        if bucket != STATE_BUCKET:
            what = f"{bucket} (backups)"
    for header, label in (("HTTP_IF_NONE_MATCH", "If-None-Match"), ("HTTP_IF_MATCH", "If-Match")):
        if environ.get(header):
            what += " " + label
    return f"{method} {what}"


def isolate_aws(work: Path) -> None:
    """Dummy credentials for this process, and none of the config files of whoever runs it."""
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID=DUMMY_KEY, AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
                      AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(work / "aws-config"),
                      AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"),
                      AWS_EC2_METADATA_DISABLED="true")


def state_config(folder: Path, endpoint_url: str, state: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "breakglass.toml"
    shared = f'state = "{state}"\n' if state else ""
    path.write_text(f'[project]\nname = "bench"\nenvironment = "bench"\nstate_dir = "state"\n'
                    f'{shared}\n[aws]\nregion = "{REGION}"\nendpoint_url = "{endpoint_url}"\n')
    return path


@dataclass
class Sample:
    seconds: float
    requests: int
    #: of `seconds`, moto's own time answering
    server: float
    #: `requests` by kind
    kinds: Counter[str]


def timed(moto: Moto, fn: Callable[..., T], *args: Any) -> tuple[Sample, T]:
    requests, busy, kinds = moto.requests, moto.busy, moto.kinds.copy()
    start = time.perf_counter()
    got = fn(*args)
    return (Sample(time.perf_counter() - start, moto.requests - requests, moto.busy - busy,
                   moto.kinds - kinds), got)


def med(samples: list[Sample], *, client_only: bool = False) -> float:
    return statistics.median(s.seconds - (s.server if client_only else 0) for s in samples)


def reqs(samples: list[Sample]) -> str:
    counts = sorted({s.requests for s in samples})
    return "/".join(str(c) for c in counts)


# -- (a) runs.list ----------------------------------------------------------------------------
def journal_body(run_id: str, started: datetime) -> bytes:
    """A finished `backup.verify` run's journal, chained as engine/journal.py writes one."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("run_started", {"runbook": "backup.verify", "title": "Verify the newest backup",
                         "params": {}, "target": "backups.main", "dry_run": False,
                         "mutating": False, "responsibility": "backup_restore", "pid": 4242,
                         "overrides": {}}),
        ("step_started", {"step": "newest", "plan": {}}),
        ("step_planned", {"step": "newest", "title": "find the newest backup", "actions": []}),
        ("step_verified", {"step": "newest", "ok": True, "findings": []}),
        ("step_done", {"step": "newest", "applied": False}),
        ("run_finished", {"status": "succeeded", "exit_code": 0}),
    ]
    lines, prev = [], jr.GENESIS
    for seq, (type_, data) in enumerate(events, start=1):
        ts = (started + timedelta(seconds=seq)).isoformat(timespec="microseconds")
        digest = jr.event_hash(seq, ts, type_, data, prev)
        lines.append(jr.canonical({"seq": seq, "ts": ts, "type": type_, "data": data,
                                   "prev": prev, "hash": digest}) + "\n")
        prev = digest
    return "".join(lines).encode("utf-8")


def fill_runs(moto: Moto, prefix: str, count: int) -> None:
    s3 = moto.client()
    s3.put_object(Bucket=STATE_BUCKET, Key=f"{prefix}breakglass-state.json",
                  Body=json.dumps({"format": 1, "created": "2026-12-01T00:00:00+00:00"}))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        started = start + timedelta(minutes=7 * i)
        run_id = f"{started.strftime('%Y%m%dT%H%M%S%f')}-{i:04x}"
        s3.put_object(Bucket=STATE_BUCKET, Key=f"{prefix}runs/{run_id}.jsonl",
                      Body=journal_body(run_id, started))


def runs_list(config: Path, expect: int, limit: int = 50) -> None:
    from invoke.context import Context

    from breakglass.commands.runs import list_

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        list_(Context(), config=str(config), json_=True, limit=limit)
    shown = json.loads(out.getvalue())["runs"]
    if len(shown) != expect or not all(r["journal_ok"] and r["status"] == "succeeded"
                                       for r in shown):
        raise RuntimeError(f"runs.list showed {len(shown)} runs (expected {expect}, all "
                           "succeeded and verified)")


def bench_list(moto: Moto, work: Path, many: int, rounds: int) -> tuple[list[str], int]:
    print(f"\n== (a) runs.list: {many} runs in S3 vs {FEW} ==", flush=True)
    t = time.perf_counter()
    fill_runs(moto, "few/", FEW)
    fill_runs(moto, "many/", many)
    print(f"  wrote {FEW + many} journals into the bucket in {time.perf_counter() - t:.1f} s",
          flush=True)
    shown = {"few": FEW, "many": min(many, 50)}
    cold: dict[str, list[Sample]] = {"few": [], "many": []}
    warm: dict[str, list[Sample]] = {"few": [], "many": [], "many, --limit 10": []}
    for i in range(rounds + 1):  # round 0 warms the imports up and is not counted
        for side in ("few", "many") if i % 2 else ("many", "few"):
            # A new machine: a fresh state_dir (the cache) every round.
            config = state_config(work / f"list-{side}-{i}", moto.endpoint_url,
                                  f"s3://{STATE_BUCKET}/{side}/")
            c, _ = timed(moto, runs_list, config, shown[side])
            # A warm call is short: several per round, so that a burst of load from other
            # work on the machine does not decide the median.
            w = [timed(moto, runs_list, config, shown[side])[0] for _ in range(WARM)]
            if i:
                cold[side].append(c)
                warm[side].extend(w)
                if side == "many":  # the same 10 runs shown as on the other side
                    warm["many, --limit 10"].extend(
                        timed(moto, runs_list, config, FEW, FEW)[0] for _ in range(WARM))
    ratio_w = med(warm["many"]) / med(warm["few"])
    rows = [
        f"runs.list, warm cache   {many:>5} vs {FEW} runs  {med(warm['many']) * 1e3:7.0f} ms vs "
        f"{med(warm['few']) * 1e3:5.0f} ms  {ratio_w:5.2f}x  (goal <= {GOAL_LIST:g})  "
        f"requests {reqs(warm['many'])} vs {reqs(warm['few'])}",
        f"runs.list, new machine  {many:>5} vs {FEW} runs  {med(cold['many']) * 1e3:7.0f} ms vs "
        f"{med(cold['few']) * 1e3:5.0f} ms  {med(cold['many']) / med(cold['few']):5.2f}x  "
        f"(reported)          requests {reqs(cold['many'])} vs {reqs(cold['few'])}",
    ]
    ten = med(warm["many, --limit 10"])
    rows.append(f"  showing 10 (--limit 10) {many:>5} vs {FEW} runs  {ten * 1e3:7.0f} ms vs "
                f"{med(warm['few']) * 1e3:5.0f} ms  {ten / med(warm['few']):5.2f}x  (the history's "
                "size alone)")
    # moto lists by scanning every key of the bucket; S3 reads an index. Without moto's own
    # time, what is left is breakglass's (and botocore's) side.
    for label, got in (("warm cache  ", warm), ("new machine ", cold)):
        a, b = med(got["many"], client_only=True), med(got["few"], client_only=True)
        rows.append(f"  without moto's time, {label}       {a * 1e3:7.0f} ms vs {b * 1e3:5.0f} ms"
                    f"  {a / b:5.2f}x")
    return rows, int(ratio_w > GOAL_LIST)


# -- (c) lease --------------------------------------------------------------------------------
def bench_lease(moto: Moto, work: Path, rounds: int) -> tuple[list[str], int]:
    print("\n== (c) a run's lease: S3 vs a local file ==", flush=True)
    from breakglass.config import load_config
    from breakglass.engine.executor import new_run_id
    from breakglass.state import open_state
    from breakglass.state.local import LocalState

    shared = open_state(load_config(str(state_config(work / "lease", moto.endpoint_url,
                                                     f"s3://{STATE_BUCKET}/lease/"))))
    local = LocalState(work / "lease-local")

    def take_and_release(state: State) -> None:
        lease = state.lease("rotate", "secrets.stripe")
        lease.acquire(new_run_id())
        lease.release()

    take_and_release(shared)  # the client, the marker, the first lease object: not counted
    take_and_release(local)
    on_s3, on_file = [], []
    for _ in range(rounds):
        on_s3.append(timed(moto, take_and_release, shared)[0])
        on_file.append(timed(moto, take_and_release, local)[0])
    ratio = med(on_s3) / med(on_file)
    return [f"lease take + release    S3 vs local file   {med(on_s3) * 1e3:7.1f} ms vs "
            f"{med(on_file) * 1e3:5.2f} ms  {ratio:5.0f}x  (reported)          "
            f"requests {reqs(on_s3)} vs 0"], 0


# -- (b) the restore drill --------------------------------------------------------------------
def bench_drill(moto: Moto, work: Path, size_gb: float, repeat: int, stack: contextlib.ExitStack
                ) -> tuple[list[str], int]:
    print(f"\n== (b) drill.restore: state on S3 vs in state_dir (~{size_gb:g} GB) ==", flush=True)
    import _saas_data
    import restore_drill as rd

    from breakglass.connectors import pgbin
    from breakglass.connectors.pgcluster import EmbeddedCluster

    s3 = moto.client()
    s3.create_bucket(Bucket=rd.BUCKET)
    src = EmbeddedCluster(pgbin.find("initdb", major=rd.PG_MAJOR).parent, label="bench-src")
    stack.callback(src.stop)
    src.start()
    rd.create_db(src, rd.DATABASE)
    rows = _saas_data.build(src.dsn(rd.DATABASE), size_gb, log=lambda _: None)
    env = {**rd.aws_env(work), "BENCH_SOURCE_DSN": src.dsn(rd.DATABASE)}
    configs = {
        "local": rd.write_config(_mkdir(work / "drill-local"), moto.endpoint_url, rows),
        "s3": rd.write_config(_mkdir(work / "drill-s3"), moto.endpoint_url, rows,
                              state=f"s3://{STATE_BUCKET}/drill/"),
    }
    backup = rd.take_with_product(configs["local"], env, s3, rows, work / "take.log")
    if backup is None:
        raise RuntimeError(f"backup.take failed: see {work / 'take.log'} (--keep)")
    src.stop()
    print(f"  {sum(rows.values()):,} rows, dump {backup.size / 2**20:.1f} MiB", flush=True)
    runs: dict[str, list[Sample]] = {"local": [], "s3": []}
    for i in range(repeat + 1):  # round 0 warms the page cache and the first lease up
        for side in ("local", "s3") if i % 2 else ("s3", "local"):
            sample, drill = timed(moto, rd.run_drill, configs[side], env,
                                  work / f"drill-{side}-{i}.log")
            if drill.exit_code != 0:
                raise RuntimeError(f"the drill ({side} state) exited {drill.exit_code}:\n"
                                   f"{drill.output_tail}")
            if i:
                runs[side].append(sample)
                print(f"  round {i}: {side:<5} {sample.seconds:6.2f} s  ({load()})", flush=True)
    per_round = [a.seconds / b.seconds for a, b in zip(runs["s3"], runs["local"], strict=True)]
    ratio = statistics.median(per_round)
    # The backup's download is in both sides' requests; the difference is the state's.
    extra = statistics.median(a.requests - b.requests
                              for a, b in zip(runs["s3"], runs["local"], strict=True))
    served = statistics.median(a.server - b.server
                               for a, b in zip(runs["s3"], runs["local"], strict=True))
    return [f"drill.restore           S3 vs local state  {med(runs['s3']):7.2f} s  vs "
            f"{med(runs['local']):5.2f} s  {ratio:5.2f}x  (goal <= {GOAL_DRILL:g}; per round "
            + " ".join(f"{r:.2f}" for r in per_round) + f")  state requests {extra:.0f} "
            f"(moto's own time for them {served * 1e3:.0f} ms)",
            "  the state's requests in the last round on S3, by kind:",
            *(f"    {n:3d}  {k}" for k, n in sorted(runs["s3"][-1].kinds.items(),
                                               key=lambda kv: (-kv[1], kv[0]))
              if "(backups)" not in k)], int(ratio > GOAL_DRILL)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix="bg-bench-state-"))
    try:
        yield work
    finally:
        if keep:
            print(f"work directory kept: {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--only", type=lambda v: set(v.split(",")), default={"list", "drill", "lease"},
                    help="comma-separated: list, drill, lease (default: all three)")
    ap.add_argument("--runs", type=int, default=1000, help="runs in the bucket for (a)")
    ap.add_argument("--rounds", type=int, default=9, help="rounds of (a), and of (c) x10")
    ap.add_argument("--size-gb", type=float, default=0.05, help="the drill's database size")
    ap.add_argument("--repeat", type=int, default=5, help="rounds of (b)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    unknown = args.only - {"list", "drill", "lease"}
    if unknown:
        ap.error(f"--only: unknown {', '.join(sorted(unknown))} (list, drill, lease)")
    print(f"{os.cpu_count()} CPUs; {load()}", flush=True)
    with workspace(args.keep) as work, contextlib.ExitStack() as stack:
        isolate_aws(work)
        moto = Moto()
        stack.callback(moto.stop)
        moto.client().create_bucket(Bucket=STATE_BUCKET)
        results: list[tuple[list[str], int]] = []
        try:
            if "list" in args.only:
                results.append(bench_list(moto, work, args.runs, args.rounds))
            if "lease" in args.only:
                results.append(bench_lease(moto, work, args.rounds * 10))
            if "drill" in args.only:
                results.append(bench_drill(moto, work, args.size_gb, args.repeat, stack))
        except Exception as exc:
            print(f"benchmark failed: {type(exc).__name__}: {exc}")
            return 2
        print(f"\n== result ({load()}) ==")
        for lines, _ in results:
            print("\n".join(lines))
        return 1 if any(missed for _, missed in results) else 0


if __name__ == "__main__":
    sys.exit(main())
