"""What a run's journal says: the library behind `runs.list`, `runs.show`, `runs.verify` and the
executor's resume. Everything here is rebuilt from the journal alone, so it is redacted by
construction and agrees with the reports.

What a journal says is only a claim until it is checked (breakglass/engine/journal.py says what
the chain can prove): `summarize` never takes a `run_finished` past the head as the run's end
(`unconfirmed_end`), nor any other deciding event past the head (a step done, a confirmation),
`inspect` also verifies the chain (a journal that does not verify is listed
as TAMPERED, never as what it claims), `backing_run` is the one gate for evidence that cites a
run (attestations, drill and scenario histories), and `check_anchor` compares a journal with the
final hash its run sent out.

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
    delivery         {event, person, channel, ok, error, anchor?}
                                                            anchor: the final hash the notice
                                                            carried (success / failure notices)
    undo_started     {steps}
    undo_step_done   {step}  /  undo_step_failed {step, error, finding}
    precondition     {item, title, blocking, ok, overridden, findings}
                                                            before planning (and on resume)
    precondition_overridden {item, because, by, findings}   let through by --override
    checkin          {monitor, status, ok, error?}          Sentry Crons, for monitored runbooks
    run_closing      {findings}                             Runbook.closing_findings, as it ends
    run_finished     {status, exit_code, verdict}         its hash is the run's final hash
    anchor           {to, hash, ok, error}                  the final hash sent elsewhere (Sentry)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.engine import journal
from breakglass.engine.findings import Finding, exit_code, verdict
from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.state.base import State

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
    #: Runbook.closing_findings as the run ended (the latest end: a resume replaces them)
    closing: list[Finding] = field(default_factory=list)
    head_hash: str = journal.GENESIS
    events: int = 0
    #: the last event the head file confirms (journal.confirmed_seq)
    confirmed_seq: int = 0
    #: the status a `run_finished` past the head claims; never taken as the run's status
    unconfirmed_end: str | None = None
    #: the hash of the (confirmed) run_finished event: what the run's notices carried
    final_hash: str | None = None
    #: the final hash and where it was sent: {to, hash, ok, error} per notice / Sentry event
    anchors: list[dict[str, Any]] = field(default_factory=list)
    #: journal.verify's problems once `inspect` checked the chain; None when not checked
    journal_problems: list[str] | None = None

    @property
    def tampered(self) -> bool:
        return bool(self.journal_problems)

    @property
    def findings(self) -> list[Finding]:
        pre = [Finding.from_dict(f) for p in self.preconditions.values()
               for f in p.get("findings") or []]
        # What the run says as it ends comes first (a leaked key still live is the headline).
        return self.closing + pre + [f for s in self.steps.values() for f in s.findings]

    @property
    def is_finished(self) -> bool:
        return self.status is not None

    def step(self, name: str) -> StepRecord:
        if name not in self.steps:
            self.steps[name] = StepRecord(name)
        return self.steps[name]

    def live_status(self, state: State) -> str:
        """The status runs.list shows: the recorded end, or what an unfinished run is doing.
        A journal that does not verify is TAMPERED whatever it claims."""
        if self.tampered:
            return "TAMPERED"
        if self.status is not None:
            return self.status
        held = state.holder(self.runbook, self.target)
        if held is not None and held.run_id in (self.run_id, "?"):
            return "running"
        if self.unconfirmed_end is not None:
            return "end unconfirmed"
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

    def to_dict(self, state: State | None = None) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "runbook": self.runbook, "title": self.title,
            "target": self.target, "params": self.params, "mutating": self.mutating,
            "dry_run": self.dry_run, "responsibility": self.responsibility,
            "started": self.started, "finished": self.finished,
            "status": self.live_status(state) if state else self.status,
            # A TAMPERED journal's exit code is a claim like the rest: not shown as a result.
            "exit_code": None if self.tampered else self.exit_code,
            "verdict": verdict(self.findings),
            "journal_ok": None if self.journal_problems is None else not self.journal_problems,
            "journal_problems": self.journal_problems or [],
            "claimed_status": self.status if self.tampered else None,
            "unconfirmed_end": self.unconfirmed_end, "final_hash": self.final_hash,
            "anchors": self.anchors,
            "steps": [s.to_dict() for s in self.steps.values()],
            "findings": [f.to_dict() for f in self.findings],
            "deliveries": self.deliveries, "lock_takeovers": self.takeovers,
            "undo": {"steps": self.undo_steps, "undone": sorted(self.undone)}
            if self.undo_steps is not None else None,
            "journal": str(self.path), "journal_head": self.head_hash, "events": self.events,
        }


def summarize(path: Path, run_id: str | None = None) -> RunSummary:
    """Fold a journal's events into a RunSummary (does not verify the chain; `inspect` does).
    A `run_finished` past the head is unconfirmed: kept as `unconfirmed_end`, never as status."""
    s = RunSummary(run_id or path.stem, path)
    s.confirmed_seq = journal.confirmed_seq(path)
    for ev in journal.read_events(path):
        _apply_event(s, ev)
    return s


def inspect(path: Path, run_id: str | None = None) -> RunSummary:
    """`summarize` plus the chain's verdict (`journal_problems`): what runs.list and runs.show
    present, so a journal that does not verify is never shown as what it claims."""
    s = summarize(path, run_id)
    s.journal_problems = journal.verify(path)
    return s


class Unbacked(Exception):
    """Evidence names a run whose journal cannot back it; the message says why."""


def backing_run(state_dir: Path, run_id: Any, runbook: str) -> RunSummary:
    """The summary of `run_id`'s journal when it can back a record (an attestation, a drill or
    scenario history line): the journal exists, verifies, and is a run of `runbook`. Raises
    Unbacked otherwise. The caller then checks that the journal says what the record says."""
    try:
        path = find_journal(state_dir, str(run_id))
    except UsageError:
        raise Unbacked("no journal for its run id") from None
    if journal.verify(path):
        raise Unbacked("its run journal does not verify (`breakglass runs.verify`)")
    s = summarize(path, str(run_id))
    if s.runbook != runbook:
        raise Unbacked(f"its run is a {s.runbook} run, not {runbook}")
    return s


def partition(records: Iterable[dict[str, Any]],
              problem: Callable[[dict[str, Any]], str | None]
              ) -> tuple[list[dict[str, Any]], list[str]]:
    """(the records that count, "run ID: why" for each that does not), in order: how a history
    is read through `backing_run`."""
    good: list[dict[str, Any]] = []
    refused: list[str] = []
    for record in records:
        why = problem(record)
        if why is None:
            good.append(record)
        else:
            refused.append(f"run {record.get('run_id')!s}: {why}")
    return good, refused


@dataclass(frozen=True)
class AnchorCheck:
    """How a journal compares with a final hash sent out at the end of its run."""

    anchor: str
    event: dict[str, Any] | None  # the event with that hash; None: the journal does not match
    later: int  # events after it, which the anchor does not cover
    later_end: str | None  # the status of a run_finished after it (a resumed run), if any

    @property
    def matches(self) -> bool:
        return self.event is not None


ANCHOR = re.compile(r"^[0-9a-f]{64}$")


def check_anchor(path: Path, anchor: str) -> AnchorCheck:
    """Compare journal `path` with `anchor`, a run's final hash as its notice carried it. Only
    meaningful on a journal that verifies; a malformed hash is a usage error."""
    digest = anchor.strip().lower()
    if not ANCHOR.match(digest):
        raise UsageError(f"--anchor {anchor!r} is not a journal hash: paste the whole "
                         "64-character hash from the run's notice")
    events = journal.read_events(path)
    at = next((i for i, ev in enumerate(events) if ev.get("hash") == digest), None)
    if at is None:
        return AnchorCheck(digest, None, 0, None)
    later = events[at + 1:]
    ends = [ev for ev in later if ev.get("type") == "run_finished"]
    end = str((ends[-1].get("data") or {}).get("status")) if ends else None
    return AnchorCheck(digest, events[at], len(later), end)


#: events that decide what a run did or may do next: past the head they decide nothing
_DECIDING = frozenset({"run_finished", "confirmed", "step_done", "step_noop", "undo_step_done"})


def _apply_event(s: RunSummary, ev: dict[str, Any]) -> None:
    t, d, ts = ev.get("type"), ev.get("data") or {}, ev.get("ts")
    s.events += 1
    s.head_hash = str(ev.get("hash", s.head_hash))
    if t in _DECIDING and _seq(ev) > s.confirmed_seq:
        # Past the head: the last write before a crash, or one event forged by hand. Either
        # way it decides nothing: resume re-observes the step, asks for confirmation again,
        # redoes an undo step (undo is idempotent) or finishes the run for real.
        if t == "run_finished" and isinstance(d, dict):
            s.unconfirmed_end = str(d.get("status"))
        return
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
        if d.get("anchor") and d.get("person") != "-":  # "-": nobody to send it to
            s.anchors.append({"to": f"{d.get('person')} via {d.get('channel')}",
                              "hash": d["anchor"], "ok": bool(d.get("ok")),
                              "error": d.get("error") or ""})
    elif t == "anchor":
        s.anchors.append({"to": str(d.get("to")), "hash": d.get("hash"), "ok": bool(d.get("ok")),
                          "error": d.get("error") or ""})
    elif t == "undo_started":
        s.undo_steps = list(d.get("steps") or [])
    elif t == "run_closing":
        s.closing = [Finding.from_dict(f) for f in d.get("findings") or []]
    elif t == "run_finished":
        s.status, s.finished = str(d.get("status")), ts
        s.exit_code = int(d["exit_code"]) if "exit_code" in d else None
        s.unconfirmed_end, s.final_hash = None, str(ev.get("hash"))


def _seq(ev: dict[str, Any]) -> int:
    seq = ev.get("seq")
    return seq if isinstance(seq, int) else 0


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


def list_runs(state_dir: Path, newest: int | None = None) -> list[RunSummary]:
    """The runs in state_dir (the `newest` ones; None: all), oldest first, each with its chain
    checked (`inspect`)."""
    paths = journal_paths(state_dir)
    if newest is not None:
        paths = paths[-newest:] if newest else []
    return [inspect(p) for p in paths]


def report_names(run_id: str) -> dict[str, str]:
    """The state's blob names of a run's reports, by format."""
    return {fmt: f"reports/{run_id}.{fmt}" for fmt in ("json", "md", "html")}
