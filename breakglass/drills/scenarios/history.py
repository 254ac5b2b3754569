"""The state's record `drills/scenarios` (breakglass/state/: `state_dir/drills/scenarios.jsonl`,
or with `[project] state = "s3://…"` one object per run under `records/drills/scenarios/`, shared
by the team): one record per drill.scenarios run — run id, time, base_url and each scenario's
verdict and code. The checklist's §14 items judge the newest line that ran
their scenario (breakglass/checklist/checks/scenarios.py). A resumed run appends once.

A line is only a claim: anyone who can write the state folder can append one. `load()` returns
only the lines that the journal of the run they name backs (as attestations are backed,
breakglass/checklist/attest.py): the journal verifies, is a drill.scenarios run against the same
base_url, its steps' findings give exactly the line's verdicts (`verdicts`, the function the run
itself wrote them with), and the line's time falls within the run. A forged or edited line, or
one with a dropped failure, counts for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.drills.scenarios import ITEMS
from breakglass.engine.findings import verdict

if TYPE_CHECKING:
    from breakglass.engine.runs import RunSummary
    from breakglass.state.base import State

#: the state's record of drill.scenarios runs
RECORDS = "drills/scenarios"
#: the runbook whose journal backs a line, and its step that writes the line
RUNBOOK = "drill.scenarios"
HISTORY_STEP = "history"


def load(state: State) -> list[dict[str, Any]]:
    """Every recorded run its journal backs, oldest first; a damaged line is skipped."""
    return backed(state)[0]


def backed(state: State) -> tuple[list[dict[str, Any]], list[str]]:
    """The lines that count, oldest first, and why each other line does not."""
    from breakglass.engine.runs import partition

    lines = [r for r in state.cited_records(RECORDS) if isinstance(r.get("scenarios"), dict)]
    return partition(lines, lambda r: problem(state.local_dir, r))


def verdicts(summary: RunSummary, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """scenario -> {verdict, code}, from what the run's journal holds for each scenario step."""
    out: dict[str, dict[str, str]] = {}
    for name in names:
        rec = summary.steps.get(name)
        found = rec.findings if rec is not None else []
        if rec is None or (rec.status != "done" and not found):
            out[name] = {"verdict": "could not verify", "code": "NOT_RUN"}
            continue
        first = next((f for f in found if f.counts), found[0] if found else None)
        out[name] = {"verdict": verdict(found), "code": first.code if first is not None else ""}
    return out


def problem(state_dir: Path, record: Mapping[str, Any]) -> str | None:
    """Why `record` does not count; None when its run's journal (in `state_dir`) backs it."""
    from breakglass.engine.runs import Unbacked, backing_run

    try:
        s = backing_run(state_dir, record.get("run_id"), RUNBOOK)
    except Unbacked as exc:
        return str(exc)
    if str(record.get("base_url", "")).rstrip("/") != s.target:
        return f"its run drilled {s.target}, not {record.get('base_url')}"
    if record.get("scenarios") != verdicts(s, [n for n in s.steps if n in ITEMS]):
        return "the line's verdicts differ from what its run journaled (edited)"
    step = s.steps.get(HISTORY_STEP)
    end = (step.finished if step is not None else None) or s.finished
    try:
        when = datetime.fromisoformat(str(record.get("time")))
        inside = (s.started is not None and end is not None
                  and datetime.fromisoformat(s.started) <= when <= datetime.fromisoformat(end))
    except (TypeError, ValueError):
        inside = False
    if not inside:
        return "the line's time is not within its run (edited)"
    return None


def append(state: State, record: Mapping[str, Any]) -> bool:
    """Append `record` unless its run id is there already. True when a line was written."""
    return state.append_record(RECORDS, record)
