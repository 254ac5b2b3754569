"""RTO and RPO of a restore drill: which stages count, how long they took, and the two judgments.

RTO is the sum of the stage times the steps measured (monotonic clock, journaled in each step's
result), not the wall clock: a resumed drill keeps the times of the attempts that completed each
stage, so RTO is the work a real recovery would take, not the hours a killed run sat waiting.

Which stages a drill has depends on its environment: a dump is fetched, verified and restored
into `local` or `server`; for an environment restored from a snapshot (SnapshotEnvironment:
`rds`) creating it *is* the restore, so only environment, validate and teardown are timed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from breakglass.config.durations import format_duration
from breakglass.engine.findings import Finding
from breakglass.text import human_duration

STAGES = ("fetch", "verify", "environment", "restore", "validate", "teardown")
SNAPSHOT_STAGES = ("environment", "validate", "teardown")

#: stage -> (the step whose result holds it, the key in that result)
_WHERE = {"fetch": ("fetch", "seconds_fetch"), "verify": ("fetch", "seconds_verify"),
          "environment": ("environment", "seconds_environment"),
          "restore": ("restore", "seconds_restore"),
          "validate": ("validate", "seconds_validate"),
          "teardown": ("teardown", "seconds_teardown")}


def stages_of(from_snapshot: bool) -> tuple[str, ...]:
    return SNAPSHOT_STAGES if from_snapshot else STAGES


def stage_seconds(outputs: Mapping[str, Any], from_snapshot: bool) -> dict[str, float]:
    """Seconds per stage from the steps' journaled results (0 for a stage that did not run)."""
    out = {}
    for stage in stages_of(from_snapshot):
        step, key = _WHERE[stage]
        out[stage] = float((outputs.get(step) or {}).get(key) or 0.0)
    return out


def rto_finding(stages: Mapping[str, float], rto: timedelta) -> Finding | None:
    """RTO_EXCEEDED naming the slowest stage, or None within the target."""
    total = sum(stages.values())
    if total <= rto.total_seconds():
        return None
    slowest = max(stages, key=lambda k: stages[k])
    return Finding(
        "RTO_EXCEEDED", f"the restore took {human_duration(total)}; the RTO target (rto) is "
        f"{format_duration(rto)} (slowest stage: {slowest}, {human_duration(stages[slowest])})",
        "a real recovery would take longer than promised: speed up the slowest stage (faster "
        "store, bigger drill machine, jobs) or agree a realistic rto", subject="rto",
        evidence={"rto_seconds": round(total, 3), "target_seconds": rto.total_seconds(),
                  "stages": dict(stages)})


def rpo_finding(rpo_seconds: float, max_age: timedelta, what: str,
                key: Any) -> Finding | None:
    """RPO_EXCEEDED when the restored `what` ("backup", "snapshot") was older than max_age."""
    if rpo_seconds <= max_age.total_seconds():
        return None
    return Finding(
        "RPO_EXCEEDED", f"the newest {what} was {human_duration(rpo_seconds)} old at drill time; "
        f"the RPO target (max_age) is {format_duration(max_age)}",
        f"a disaster now would lose more data than promised: find out why {what}s are not more "
        "recent (job schedule, failures) and take one now", subject="rpo",
        evidence={"rpo_seconds": rpo_seconds, "target_seconds": max_age.total_seconds(),
                  "backup": key})
