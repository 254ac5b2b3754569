"""The fault suite (issue 10, point 8): every covered mutating runbook, with a fault injected at
every step boundary, then resumed or undone as a person would, then its end state read with
clients independent of breakglass.

    .venv/bin/python bench/faults.py                    # every boundary of every runbook
    .venv/bin/python bench/faults.py --quick            # 1-2 boundaries each (the tests' subset)
    .venv/bin/python bench/faults.py --only rollback,attest --budget 600
    .venv/bin/python bench/faults.py --only rotate      # every rotate.KIND (one per kind)

Faults: SIGKILL at STEP.before_apply / mid / after_apply / after_verify (the engine's
crash-test hook point), a host, the database, Redis, AWS (moto) or Stripe (its fake)
going away after a kill, a restart or a permission refused. Each scenario is one module in
bench/_faults/ (the registry: bench/_faults/__init__.py); servers are the test fixtures of
tests/servers/, started on loopback once and stopped at the end (also on Ctrl-C or SIGTERM).

Prints per runbook: boundaries tried, ended consistent, ended with a correct recovery plan,
stranded (goal 0), secrets leaked (goal 0), then what went wrong in each stranded or leaking
trial. It stops by itself: no trial starts after `--budget` seconds (the ones not run are
counted and printed), and every command it runs has its own timeout.

Exit status: 0 both goals met, 1 a trial stranded or leaked, 2 the suite itself failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._faults import SCENARIO_MODULES  # noqa: E402
from bench._faults.lab import Lab  # noqa: E402
from bench._faults.scenario import (  # noqa: E402
    CONSISTENT,
    NOT_REACHED,
    PLAN,
    SCENARIOS,
    STRANDED,
    Fault,
    Trial,
)

COLUMNS = ("boundaries tried", "consistent", "recovery plan", "stranded", "secrets leaked")
WIDTH = len("rotate.aws_secretsmanager") + 1  # the longest runbook name


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    for module in SCENARIO_MODULES:
        importlib.import_module(f"bench._faults.{module}")
    asked = args.only.split(",") if args.only else []
    # A family name stands for its members: `rotate` is every `rotate.KIND`.
    wanted = [n for n in SCENARIOS if not asked
              or any(n == w or n.startswith(f"{w}.") for w in asked)]
    unknown = [w for w in asked if not any(n == w or n.startswith(f"{w}.") for n in SCENARIOS)]
    if unknown:
        print(f"faults: unknown runbook {unknown[0]!r}; covered: {', '.join(SCENARIOS)}",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally below stops servers
    if args.jobs > 1 and len(wanted) > 1:
        trials, skipped = run_parallel(wanted, args)
        return report(trials, wanted, skipped, args)
    work = Path(tempfile.mkdtemp(prefix="bg-faults-"))
    lab = Lab(work)
    deadline = time.monotonic() + args.budget
    try:
        trials, skipped = run(wanted, lab, work, args, deadline)
    except Exception as exc:  # a server that would not start: the suite, not a runbook
        print(f"faults: the suite itself failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        lab.close()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return report(trials, wanted, skipped, args)


def report(trials: list[Trial], wanted: list[str], skipped: int,
           args: argparse.Namespace) -> int:
    figures = tally(trials, wanted)
    if args.json:
        print(json.dumps({"figures": figures, "not_run": skipped,
                          "trials": [_trial_dict(t) for t in trials]}, indent=2))
    else:
        show(figures, trials, skipped)
    bad = any(t.outcome == STRANDED or t.leaks for t in trials)
    return 1 if bad else 0


def run_parallel(wanted: list[str], args: argparse.Namespace) -> tuple[list[Trial], int]:
    """`--jobs N`: the scenarios split into N groups of about as many trials, each run by a
    child process of this script with its own lab (servers on their own free ports), their
    JSON merged. Trials spend most of their time waiting (servers stopping and starting,
    processes killed and resumed), so two groups on two cores take little more than one."""
    import subprocess

    sizes = {n: len(SCENARIOS[n].faults(args.quick)) for n in wanted}
    groups: list[list[str]] = [[] for _ in range(min(args.jobs, len(wanted)))]
    for name in sorted(wanted, key=lambda n: -sizes[n]):  # largest first, to the lightest
        min(groups, key=lambda g: sum(sizes[n] for n in g)).append(name)
    base = [sys.executable, str(Path(__file__).resolve()), "--json", "--budget",
            str(args.budget), *(["--quick"] if args.quick else []),
            *(["--kind", args.kind] if args.kind else [])]
    # Their stderr is ours: each trial's line appears as it ends.
    children = [subprocess.Popen([*base, "--only", ",".join(g)], stdout=subprocess.PIPE,
                                 text=True) for g in groups]
    trials: list[Trial] = []
    skipped = 0
    for child, group in zip(children, groups, strict=True):
        out, _ = child.communicate()
        if child.returncode not in (0, 1):
            raise SystemExit(f"faults: the group {','.join(group)} failed (exit "
                             f"{child.returncode})")
        doc = json.loads(out)
        skipped += int(doc["not_run"])
        for t in doc["trials"]:
            fault = Fault(t["fault"], t["point"], then=t["then"], extra=tuple(t["extra"]))
            trials.append(Trial(t["runbook"], fault, t["outcome"], t["detail"], t["leaks"]))
    return trials, skipped


def run(wanted: list[str], lab: Lab, work: Path, args: argparse.Namespace,
        deadline: float) -> tuple[list[Trial], int]:
    """Every trial of every wanted scenario until the deadline; (trials, trials not run)."""
    trials: list[Trial] = []
    skipped = 0
    for name in wanted:
        scenario = SCENARIOS[name](lab)
        for i, fault in enumerate(scenario.faults(args.quick)):
            if args.kind and fault.kind != args.kind:
                continue
            if time.monotonic() > deadline:
                skipped += 1
                continue
            t = scenario.trial(fault, work / f"{name}-{i}")
            trials.append(t)
            # A line per trial as it ends (to stderr under --json, whose stdout is the
            # document): a CI log shows progress, and --jobs children stream through it.
            out = sys.stderr if args.json else sys.stdout
            mark = "LEAK " if t.leaks else ""
            print(f"  {name:{WIDTH}} {fault.label:48} {mark}{t.outcome}", file=out, flush=True)
            if args.verbose and t.detail:
                print("    " + t.detail.strip().replace("\n", "\n    "), file=out, flush=True)
    return trials, skipped


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--quick", action="store_true",
                   help="2 boundaries per runbook (what tests/bench/test_faults.py runs)")
    p.add_argument("--only", default="", help="comma-separated runbooks, `rotate` for every "
                   "rotate.KIND (default: all)")
    p.add_argument("--kind", default="", help="only faults of this kind (e.g. sigkill)")
    p.add_argument("--budget", type=float, default=5400.0,
                   help="seconds after which no new trial starts (default 5400)")
    p.add_argument("--jobs", type=int, default=1,
                   help="run the scenarios in N processes at once (default 1)")
    p.add_argument("--json", action="store_true", help="figures and trials as JSON")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--verbose", action="store_true", help="print each bad trial as it ends")
    return p.parse_args(argv)


def tally(trials: list[Trial], names: list[str]) -> dict[str, dict[str, int]]:
    out = {}
    for name in names:
        mine = [t for t in trials if t.scenario == name and t.outcome != NOT_REACHED]
        out[name] = {"boundaries tried": len(mine),
                     "consistent": sum(t.outcome == CONSISTENT for t in mine),
                     "recovery plan": sum(t.outcome == PLAN for t in mine),
                     "stranded": sum(t.outcome == STRANDED for t in mine),
                     "secrets leaked": sum(bool(t.leaks) for t in mine),
                     "not reached": sum(t.scenario == name and t.outcome == NOT_REACHED
                                        for t in trials)}
    return out


def show(figures: dict[str, dict[str, int]], trials: list[Trial], skipped: int) -> None:
    print()
    print(f"{'runbook':{WIDTH}}" + "".join(f"{c:>18}" for c in COLUMNS))
    for name, f in figures.items():
        print(f"{name:{WIDTH}}" + "".join(f"{f[c]:>18}" for c in COLUMNS))
    reached = sum(f["not reached"] for f in figures.values())
    if reached:
        print(f"(boundaries never reached, not counted: {reached})")
    if skipped:
        print(f"(not run: {skipped} trial(s) past --budget)")
    for t in trials:
        if t.outcome == STRANDED or t.leaks:
            print(f"\n{t.scenario} {t.fault.label}: {t.outcome}")
            if t.detail:
                print("  " + t.detail.strip().replace("\n", "\n  ")[-1500:])
            for where in t.leaks:
                print(f"  secret found in {where}")


def _trial_dict(t: Trial) -> dict[str, Any]:
    return {"runbook": t.scenario, "fault": t.fault.kind, "point": t.fault.point,
            "then": t.fault.then, "extra": list(t.fault.extra), "outcome": t.outcome,
            "detail": t.detail, "leaks": t.leaks}


if __name__ == "__main__":
    sys.exit(main())
