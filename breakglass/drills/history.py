"""The restore drill's history and its trend report.

The state's record `drills/history` (breakglass/state/: `state_dir/drills/history.jsonl`, or
with `[project] state = "s3://…"` one object per drill under `records/drills/history/`, shared
by every machine and scheduled job) gets one record per drill that reached its end (passed or
failed validation): run id, time, backup, environment, RTO (seconds per stage and total) against
the target, RPO against max_age, verdict. A resumed run appends once (keyed by run id).

A line is only a claim: anyone who can write the state folder can append one. `backed()` counts a
line only while the journal of the run it names verifies, is a drill.restore run, and journaled
in its report step's result every field of the line with the same value (the report step
journals the record it appends). So a forged line, a line with another run's id, or an edited
verdict or date counts for nothing; making the journal agree means rewriting it, which breaks
its chain or, rewritten whole, the final hash its notice carried (docs/runs.md). `load()` is the
raw record (the trend report, and the report step that looks for its own line).

`reports/drill-restore-trend.html` is rebuilt from the whole (shared) history after each drill,
wherever it ran, and stored in the state (`put_blob`; locally under state_dir): one
self-contained page (no scripts, no external assets — it must open from an e-mail attachment or
an auditor's USB stick), drawn by breakglass/drills/trend.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.drills import trend

if TYPE_CHECKING:
    from breakglass.state.base import State

#: the state's record of drills, and the trend page's blob name
RECORDS = "drills/history"
TREND = "reports/drill-restore-trend.html"
#: the runbook whose journal backs a line, and its step whose journaled result is the line
RUNBOOK = "drill.restore"
REPORT_STEP = "report"
#: drills shown in the chart (the table lists the same ones)
CHART_LAST = 60


def load(state: State) -> list[dict[str, Any]]:
    """Every recorded drill, oldest first; a damaged line is skipped, not fatal."""
    return state.records(RECORDS)


def backed(state: State) -> tuple[list[dict[str, Any]], list[str]]:
    """The drills that count (see the module docstring), oldest first, and why each other line
    does not."""
    from breakglass.engine.runs import partition

    return partition(state.cited_records(RECORDS), lambda r: problem(state.local_dir, r))


def problem(state_dir: Path, record: Mapping[str, Any]) -> str | None:
    """Why `record` does not count; None when its run's journal (in `state_dir`) backs it."""
    from breakglass.engine.runs import Unbacked, backing_run

    try:
        s = backing_run(state_dir, record.get("run_id"), RUNBOOK)
    except Unbacked as exc:
        return str(exc)
    step = s.steps.get(REPORT_STEP)
    result = step.result if step is not None else None
    if not isinstance(result, dict):
        return "its run journaled no drill result"
    if any(key not in result or result[key] != value for key, value in record.items()):
        return "the line differs from what its run journaled (edited)"
    return None


def append(state: State, record: Mapping[str, Any]) -> bool:
    """Append `record` unless its run id is already there (a resumed report step). Returns True
    when a line was written."""
    return state.append_record(RECORDS, record)


def write_trend(state: State) -> Path:
    """Render the trend of every recorded drill (the whole team's on a shared state) and store
    it; returns the local copy."""
    newest = sorted(load(state), key=lambda r: str(r.get("finished", "")))[-CHART_LAST:]
    page = trend.render(newest)
    return state.put_blob(TREND, page.encode("utf-8"))
