"""What a run's journal says: the library behind `runs.list`, `runs.show`, `runs.verify` and the
executor's resume. Everything here is rebuilt from the journal alone, so it is redacted by
construction and agrees with the reports.

Event types the executor writes (data in braces):

    run_started      {runbook, title, params, target, dry_run, mutating, responsibility, pid,
                      overrides}                           overrides: --override item -> because
    run_resumed      {pid, mode, reopens}                   mode: continue (an unfinished run),
                                                            undo (finish or request an undo),
                                                            replan (a failed run, from the
                                                            steps not done); reopens: the
                                                            status it ended with, if any
    lock_takeover    {message, run_id, pid, host, started}
    step_planned     {step, title, plan}                    plan phase, every step
    not_confirmed    {reason}                               a mutating run stopped before applying
    confirmed        {how}
    step_started     {step, plan}                           apply phase: after re-observe+re-plan
    step_noop        {step, reason}
    step_apply_started {step, actions}
    step_applied     {step, result}
    step_verified    {step, findings}
    step_done        {step, applied}
    step_failed      {step, phase, error}
    log              {step, message, data}
    delivery         {event, person, channel, ok, error}
    undo_started     {steps}
    undo_step_done   {step}  /  undo_step_failed {step, error, finding}
    precondition     {item, title, blocking, ok, overridden, findings}
                                                            before planning (and on resume)
    precondition_overridden {item, because, by, findings}   let through by --override
    checkin          {monitor, status, ok, error?}          Sentry Crons, for monitored runbooks
    run_finished     {status, exit_code, verdict}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from breakglass.engine import journal, lock
from breakglass.engine.findings import Finding, exit_code, verdict
from breakglass.errors import UsageError

_RUN_ID = re.compile(r"^\d{8}T\d{6}(\d{6})?-[0-9a-f]{4,}$")


@dataclass
class StepRecord:
    name: str
    title: str = ""
    plan: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"  # pending | running | done | noop | failed | undone | undo failed
    applied: bool = False
    apply_started: bool = False
    result: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str = ""
    #: the finding of the latest failed undo of this step (in `findings` too)
    undo_finding: Finding | None = None
    started: str | None = None
    finished: str | None = None

    @property
    def seconds(self) -> float | None:
        if not (self.started and self.finished):
            return None
        t0 = datetime.fromisoformat(self.started)
        return (datetime.fromisoformat(self.finished) - t0).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "title": self.title, "status": self.status,
                "plan": self.plan, "applied": self.applied, "result": self.result,
                "error": self.error, "started": self.started, "finished": self.finished,
                "seconds": self.seconds, "findings": [f.to_dict() for f in self.findings]}


@dataclass
class RunSummary:
    run_id: str
    path: Path
    runbook: str = "?"
    title: str = ""
    target: str = "?"
    params: dict[str, Any] = field(default_factory=dict)
    mutating: bool = True
    dry_run: bool = False
    responsibility: str = ""
    #: --override item -> because, as the run was started with them (runs.resume keeps them)
    overrides: dict[str, str] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    status: str | None = None  # from run_finished; None while unfinished
    exit_code: int | None = None
    confirmed: bool = False
    not_confirmed: bool = False
    steps: dict[str, StepRecord] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    takeovers: list[str] = field(default_factory=list)
    # item -> its latest check (a resume checks again)
    preconditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    undo_steps: list[str] | None = None
    undone: set[str] = field(default_factory=set)
    head_hash: str = journal.GENESIS
    events: int = 0

    @property
    def findings(self) -> list[Finding]:
        pre = [Finding.from_dict(f) for p in self.preconditions.values()
               for f in p.get("findings") or []]
        return pre + [f for s in self.steps.values() for f in s.findings]

    @property
    def is_finished(self) -> bool:
        return self.status is not None

    def step(self, name: str) -> StepRecord:
        if name not in self.steps:
            self.steps[name] = StepRecord(name)
        return self.steps[name]

    def live_status(self, state_dir: Path) -> str:
        """The status runs.list shows: the recorded end, or what an unfinished run is doing."""
        if self.status is not None:
            return self.status
        if lock.is_held(state_dir, self.runbook, self.target):
            held = lock.holder(state_dir, self.runbook, self.target)
            if held is None or held.run_id == self.run_id:
                return "running"
        if self.not_confirmed and not self.confirmed:
            return "not confirmed"
        return "interrupted"

    @property
    def resume_mode(self) -> str | None:
        """How `runs.resume` picks this run up: "continue" an unfinished run; "undo" to finish
        an undo that failed; "replan" a mutating run that ended failed (from the steps not
        done, once the cause is fixed); None when there is nothing to resume."""
        if self.status is None:
            return "continue"
        if not self.mutating or self.dry_run or self.status in ("succeeded", "undone"):
            return None
        if self.status == "failed; undo incomplete":
            return "undo"
        return "replan"

    def done_steps(self) -> set[str]:
        return {n for n, r in self.steps.items() if r.status in ("done", "noop")}

    def applied_steps(self) -> list[str]:
        """Steps that started applying and were not undone since, in the order they ran."""
        return [n for n, r in self.steps.items() if r.apply_started and r.status != "undone"]

    def computed_exit_code(self) -> int:
        return self.exit_code if self.exit_code is not None else exit_code(self.findings)

    def to_dict(self, state_dir: Path | None = None) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "runbook": self.runbook, "title": self.title,
            "target": self.target, "params": self.params, "mutating": self.mutating,
            "dry_run": self.dry_run, "responsibility": self.responsibility,
            "started": self.started, "finished": self.finished,
            "status": self.live_status(state_dir) if state_dir else self.status,
            "exit_code": self.exit_code, "verdict": verdict(self.findings),
            "steps": [s.to_dict() for s in self.steps.values()],
            "findings": [f.to_dict() for f in self.findings],
            "deliveries": self.deliveries, "lock_takeovers": self.takeovers,
            "undo": {"steps": self.undo_steps, "undone": sorted(self.undone)}
            if self.undo_steps is not None else None,
            "journal": str(self.path), "journal_head": self.head_hash, "events": self.events,
        }


def summarize(path: Path, run_id: str | None = None) -> RunSummary:
    """Fold a journal's events into a RunSummary (does not verify the chain)."""
    s = RunSummary(run_id or path.stem, path)
    for ev in journal.read_events(path):
        _apply_event(s, ev)
    return s


def _apply_event(s: RunSummary, ev: dict[str, Any]) -> None:
    t, d, ts = ev.get("type"), ev.get("data") or {}, ev.get("ts")
    s.events += 1
    s.head_hash = str(ev.get("hash", s.head_hash))
    step = s.step(d["step"]) if isinstance(d, dict) and "step" in d and t != "log" else None
    if t == "run_started":
        s.runbook, s.target = d.get("runbook", "?"), d.get("target", "?")
        s.title, s.params = d.get("title", ""), dict(d.get("params") or {})
        s.mutating, s.dry_run = bool(d.get("mutating", True)), bool(d.get("dry_run"))
        s.responsibility, s.started = d.get("responsibility", ""), ts
        s.overrides = {str(k): str(v) for k, v in (d.get("overrides") or {}).items()}
    elif t == "lock_takeover":
        s.takeovers.append(str(d.get("message", "")))
    elif t == "run_resumed" and s.status is not None:
        _reopen(s, str(d.get("mode", "")))
    elif t == "not_confirmed":
        s.not_confirmed = True
    elif t == "confirmed":
        s.confirmed = True
    elif step is not None:
        _apply_step_event(step, t, d, ts)
        if t == "undo_step_done":
            s.undone.add(step.name)
    elif t == "precondition":
        s.preconditions[str(d.get("item"))] = dict(d)
    elif t == "delivery":
        s.deliveries.append(dict(d))
    elif t == "undo_started":
        s.undo_steps = list(d.get("steps") or [])
    elif t == "run_finished":
        s.status, s.finished = str(d.get("status")), ts
        s.exit_code = int(d["exit_code"]) if "exit_code" in d else None


def _reopen(s: RunSummary, mode: str) -> None:
    """A finished run resumed: it is unfinished again. A re-planned run starts a new attempt
    at the steps not done: its undo is over, undone steps may apply again, and its new plan
    needs a new confirmation."""
    s.status = s.finished = None
    s.exit_code = None
    if mode != "replan":
        return
    s.undo_steps, s.undone = None, set()
    s.confirmed = s.not_confirmed = False
    for rec in s.steps.values():
        if rec.status in ("done", "noop"):
            continue
        # Not done: tried again, so the failed attempt's verdict no longer stands (the journal
        # keeps it).
        rec.findings, rec.error = [], ""
        if rec.status == "undone":
            rec.apply_started = rec.applied = False
            rec.result = None


def _apply_step_event(step: StepRecord, t: Any, d: dict[str, Any], ts: Any) -> None:
    if t == "step_planned":
        step.title, step.plan = d.get("title", ""), dict(d.get("plan") or {})
    elif t == "step_started":
        step.status, step.started = "running", ts
        step.plan = dict(d.get("plan") or step.plan)
        step.findings = []
    elif t == "step_noop":
        step.status = "noop"
    elif t == "step_apply_started":
        step.apply_started = True
    elif t == "step_applied":
        step.applied, step.result = True, d.get("result")
    elif t == "step_verified":
        step.findings = [Finding.from_dict(f) for f in d.get("findings") or []]
        step.finished = ts
    elif t == "step_done":
        step.status, step.finished = "done", ts
        if not step.started:
            step.started = ts
    elif t == "step_failed":
        step.status, step.error, step.finished = "failed", str(d.get("error", "")), ts
        if d.get("finding"):
            step.findings.append(Finding.from_dict(d["finding"]))
    elif t in ("undo_step_done", "undo_step_failed"):
        # Only the latest undo attempt's finding stands: a resumed undo that succeeds clears it.
        if step.undo_finding is not None:
            step.findings.remove(step.undo_finding)
            step.undo_finding = None
        if t == "undo_step_done":
            step.status = "undone"
            return
        step.status, step.error = "undo failed", str(d.get("error", ""))
        if d.get("finding"):
            step.undo_finding = Finding.from_dict(d["finding"])
            step.findings.append(step.undo_finding)


def find_journal(state_dir: Path, run_id: str) -> Path:
    """The journal of `run_id`; a clear usage error for an unknown or malformed id."""
    if not _RUN_ID.match(run_id):
        raise UsageError(f"{run_id!r} is not a run id (see `breakglass runs.list`)")
    path = journal.journal_path(state_dir, run_id)
    if not path.is_file():
        raise UsageError(f"no run {run_id} in {journal.runs_dir(state_dir)} "
                         "(see `breakglass runs.list`)")
    return path


def journal_paths(state_dir: Path) -> list[Path]:
    """Every run's journal in state_dir, oldest first (a run id starts with its UTC start
    time, so names sort by time)."""
    d = journal.runs_dir(state_dir)
    return sorted(d.glob("*.jsonl")) if d.is_dir() else []


def list_runs(state_dir: Path) -> list[RunSummary]:
    """Every run in state_dir, oldest first."""
    return [summarize(p) for p in journal_paths(state_dir)]


def report_paths(state_dir: Path, run_id: str) -> dict[str, Path]:
    base = state_dir / "reports"
    return {fmt: base / f"{run_id}.{fmt}" for fmt in ("json", "md", "html")}
