"""Drill and scenario history lines as the drills leave them: each line together with the
journal of the run that wrote it (written through the real Journal, dated `at`), since a line
counts only while that journal backs it (drills/history.py, drills/scenarios/history.py).
The forgery tests append lines without such a journal, or edit the line after the fact."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from breakglass.drills import history as drill_history
from breakglass.drills.scenarios import history as scenario_history
from breakglass.engine import journal
from breakglass.engine.executor import new_run_id
from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.engine.redaction import Redactor
from breakglass.engine.runs import summarize
from breakglass.state.local import LocalState


@contextmanager
def _dated(at: datetime) -> Iterator[None]:
    """Journal events timestamped `at`: a history of drills run weeks ago."""
    with mock.patch.object(journal, "utc_now", lambda: at.isoformat(timespec="microseconds")):
        yield


def _run(state_dir: Path, runbook: str, target: str, at: datetime) -> journal.Journal:
    j = journal.Journal.create(state_dir, new_run_id(), Redactor())
    with _dated(at):
        j.append("run_started", {"runbook": runbook, "title": runbook, "params": {},
                                 "target": target, "dry_run": False, "mutating": True,
                                 "responsibility": "backup_restore", "pid": 1, "overrides": {}})
    return j


def drill(state_dir: Path, verdict: str, finished: datetime, backup_set: str = "shop",
          codes: list[str] | None = None) -> str:
    """A drill.restore run that reached its report step with `verdict`; returns its run id."""
    j = _run(state_dir, drill_history.RUNBOOK, backup_set, finished)
    run_id = j.path.stem
    line = {"run_id": run_id, "finished": finished.isoformat(), "backup_set": backup_set,
            "verdict": verdict, "codes": codes or []}
    with _dated(finished):
        j.append("step_applied", {"step": drill_history.REPORT_STEP,
                                  "result": {**line, "trend": "t.html"}})
        code = 0 if verdict == "passed" else 1
        j.append("run_finished", {"status": "succeeded" if code == 0 else "rolled back",
                                  "exit_code": code})
    drill_history.append(LocalState(state_dir), line)
    return run_id


def _finding(verdict: str, code: str) -> Finding:
    if verdict == "passed":
        return Finding(code, "ok", "nothing to do", Severity.INFO)
    if verdict == "failed":
        return Finding(code, "failed", "fix it", Severity.ERROR)
    return unverified(code, "could not verify", "fix what stopped it")


def scenarios(state_dir: Path, base_url: str, at: datetime,
              results: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """A drill.scenarios run at `at` whose scenarios ended as `results` (scenario -> (verdict,
    code)), and the line its history step wrote; returns the line."""
    j = _run(state_dir, scenario_history.RUNBOOK, base_url.rstrip("/"), at)
    with _dated(at):
        for name, (verdict, code) in results.items():
            j.append("step_started", {"step": name, "plan": {}})
            j.append("step_verified", {"step": name,
                                       "findings": [_finding(verdict, code).to_dict()]})
            j.append("step_done", {"step": name, "applied": False})
        j.append("step_started", {"step": scenario_history.HISTORY_STEP, "plan": {}})
        summary = summarize(j.path)
        line = {"run_id": j.path.stem, "time": at.isoformat(), "base_url": base_url,
                "scenarios": scenario_history.verdicts(summary, list(results))}
        scenario_history.append(LocalState(state_dir), line)
        j.append("step_done", {"step": scenario_history.HISTORY_STEP, "applied": False})
        j.append("run_finished", {"status": "passed", "exit_code": 0})
    return line
