"""A notice channel that hangs must not delay containment (issue 12): `breakglass lockout` of a
user of the real Django + DRF app, its owner told through a working channel or through one that
accepts the connection and never answers, alternately, in the same run.

    .venv/bin/python bench/notice_hang.py [--rounds 5]

The figure is the time to containment from the run's own journal: `run_started` -> the
`step_done` of the `disable` step (the account can no longer log in). Also printed: the whole
command's wall time (a hanging channel is waited on at the end of the run, at most its 5 s
deadline, after every change is made) and how each notice was journaled. Every trial checks the
account is disabled with psycopg and that the hanging channel's notices are journaled as not
delivered ("timed out after 5s"). Exits 1 when the median hanging trial reaches the disable more
than 0.5 s later than the median working one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lockout.project import DjangoApp, Project, start_django
from tests.servers.postgres import start_postgres
from tests.servers.sinks import HttpSink

LIMIT = 0.5  # seconds a hanging channel may add to the time to containment


def trial(project: Project, app: DjangoApp) -> tuple[float, float, list[tuple[str, bool, str]]]:
    """One lockout: (seconds to the disable, wall seconds, [(event, ok, error)])."""
    uid, email, _ = app.signup(token=True)
    app.login(email)
    start = time.perf_counter()
    r = project.run("lockout", email, "--reason", "bench", "--yes", "--json")
    wall = time.perf_counter() - start
    if r.returncode not in (0, 1, 3):
        raise SystemExit(f"lockout exited {r.returncode}:\n{r.stdout}{r.stderr}")
    run_id = json.loads(r.stdout)["run_id"]
    events = project.events(run_id)
    t0 = next(e["ts"] for e in events if e["type"] == "run_started")
    t1 = next(e["ts"] for e in events
              if e["type"] == "step_done" and e["data"]["step"] == "disable")
    with psycopg.connect(app.dsn) as conn:
        row = conn.execute("select is_active from auth_user where id = %s",
                           [int(uid)]).fetchone()
    if row is None or row[0]:
        raise SystemExit(f"run {run_id}: the account is still active")
    told = [(e["data"]["event"], e["data"]["ok"], e["data"]["error"]) for e in events
            if e["type"] == "delivery"]
    seconds = (datetime.fromisoformat(t1) - datetime.fromisoformat(t0)).total_seconds()
    return seconds, wall, told


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pg = start_postgres()
    sink = HttpSink().start()
    app: DjangoApp | None = None
    try:
        app = start_django(pg.create_database("bench_notice_hang"), "db")
        with tempfile.TemporaryDirectory() as tmp:
            projects = {}
            for name, url in (("working", f"{sink.apprise_url}lockout"),
                              ("hanging", sink.hang_apprise_url)):
                project = Project(Path(tmp) / name, sink)
                project.write(app.dsn, f'preset = "django"\nprobe_url = "{app.url}/whoami/"\n'
                                       'sessions = "db"\n')
                # the owner's channel: the sink, or the port that never answers
                project.config.write_text(project.config.read_text().replace(
                    f"{sink.apprise_url}lockout", url))
                projects[name] = project
            results: dict[str, list[tuple[float, float]]] = {"working": [], "hanging": []}
            for _ in range(args.rounds):
                for name, project in projects.items():
                    seconds, wall, told = trial(project, app)
                    results[name].append((seconds, wall))
                    ok = all(d[1] for d in told) if name == "working" else not any(
                        d[1] for d in told) and all("timed out" in d[2] for d in told)
                    if not told or not ok:
                        raise SystemExit(f"{name}: unexpected deliveries {told}")
            print(f"deliveries journaled (last hanging trial): {told}")
    finally:
        if app is not None:
            app.stop()
        sink.stop()
        pg.close()
    med = {k: statistics.median(s for s, _ in v) for k, v in results.items()}
    wall = {k: statistics.median(w for _, w in v) for k, v in results.items()}
    added = med["hanging"] - med["working"]
    print(f"rounds: {args.rounds}")
    print("time to disable (journal: run_started -> step_done disable), median:")
    print(f"  working channel  {med['working']:.3f} s   (command {wall['working']:.2f} s)")
    print(f"  hanging channel  {med['hanging']:.3f} s   (command {wall['hanging']:.2f} s)")
    print(f"added by the hanging channel: {added:+.3f} s "
          f"(ratio {med['hanging'] / med['working']:.2f}; goal <= +{LIMIT} s)")
    return 0 if added <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
