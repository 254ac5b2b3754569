"""The executor: runs a Runbook the same way every time, and finishes it after a crash.

    execute(runbook, options, services)          a new run
    resume(run_id, config, options, services)    finish an interrupted (or unconfirmed) run

A run: take the lock for (runbook.name, runbook.target) -> journal `run_started` -> check the
preconditions (the owner check, the runbook's own, its checklist items; a failing blocking one
stops apply unless `--override ITEM --because WHY` names it: docs/preconditions.md) -> observe +
plan every step and show the whole plan -> dry run stops here -> mutating runbooks need --yes or an
interactive "yes" -> per step: re-observe, re-plan (a no-op is journaled with its reason), apply,
journal the result, re-observe and verify -> on a failed verify or an exception, undo the applied
steps in reverse order -> notify owners -> report -> release the lock.

Read-only runbooks (`mutating = False`) observe and verify every step and keep going after a
step's findings; their exit code is `findings.exit_code()`, and a dry run of one is a run.

Resume is safe because steps observe: a step killed half-way sees its own partial work on the next
observation and plans only what is missing. Everything resume needs (params, steps done, steps
applied and their outputs, an undo in progress) comes from the verified journal.
"""

from __future__ import annotations

import contextlib
import os
import secrets as _random
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from breakglass.engine import journal as jr
from breakglass.engine import metrics, registry
from breakglass.engine import render as out
from breakglass.engine.findings import (
    Finding,
    FindingError,
    Outcome,
    Severity,
    as_note,
    unverified,
)
from breakglass.engine.hooks import (
    DEFAULT_EVENTS,
    ENDINGS,
    Delivery,
    ErrorReporter,
    Figure,
    Notice,
    NoticeEvent,
    Notifier,
    PendingNotice,
)
from breakglass.engine.preconditions import owner_precondition
from breakglass.engine.progress import DEFAULT_HEARTBEAT, ProgressEvent, ProgressView
from breakglass.engine.redaction import Redactor
from breakglass.engine.report import write_reports
from breakglass.engine.runbook import (
    Plan,
    Precondition,
    Runbook,
    Step,
    StepContext,
)
from breakglass.engine.runs import RunSummary, find_journal, report_names, summarize
from breakglass.errors import (
    EXIT_FINDING,
    EXIT_OK,
    EXIT_UNVERIFIED,
    EXIT_USAGE,
    BreakglassError,
    CouldNotVerify,
    JournalTampered,
    NotConfirmed,
    StateLost,
    UsageError,
)
from breakglass.secrets import SecretResolver
from breakglass.state import open_state
from breakglass.state.base import Holder, Lease, State, whoami

if TYPE_CHECKING:
    from rich.console import Console

    from breakglass.config import Config


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    interactive: bool = False  # stdin is a TTY: a mutating run may ask for "yes"
    json_output: bool = False  # people's output is suppressed; the caller prints RunResult
    # Crash-test hook: "STEP.POINT" (POINT: before_apply, mid — the step's first progress report
    # with done > 0 —, after_apply, after_verify). The run writes `pause_file` (its pid) and
    # waits there to be SIGKILLed, once: an existing pause_file disarms it, so the resumed run
    # goes through. Set only by tests, through the CLI's BREAKGLASS_TEST_PAUSE_AT.
    pause_at: str | None = None
    pause_file: Path | None = None
    # `--override ITEM --because WHY`: item -> why. A failing blocking precondition named here
    # does not block; it is journaled (precondition_overridden) and owners are told. A resumed
    # run keeps the overrides its run_started event recorded.
    overrides: Mapping[str, str] = field(default_factory=dict)
    # `--take-over`: take the run's lease even from a live holder (its machine is known to be
    # gone); journaled and told to the owners
    take_over: bool = False
    # seconds between progress heartbeat lines when the output is not a terminal (a cron or CI
    # log); 0 prints one line per progress report (tests). The CLI reads BREAKGLASS_HEARTBEAT.
    heartbeat: float = DEFAULT_HEARTBEAT
    # the open incident (breakglass/incidents/): its id goes into the run's start event, with
    # who started it from where, and into every notice the run sends
    incident: str | None = None


def _no_checklist(items: Sequence[str]) -> list[Precondition]:
    """Services built without the checklist: fine for a runbook that declares no items; for one
    that does, skipping them silently would let a blocked change through."""
    if items:
        raise RuntimeError(f"the run's Services have no checklist to check {', '.join(items)}: "
                           "build them with breakglass.runner.services")
    return []


@dataclass
class Services:
    redactor: Redactor
    secrets: SecretResolver
    notifier: Notifier | None = None
    reporter: ErrorReporter | None = None
    console: Console | None = None  # None: no output for people (library use, --json)
    # where progress goes when `console` is None (--json: stderr, so stdout stays one document)
    progress_console: Console | None = None
    # asks the person at the terminal; only called when options.interactive
    confirm: Callable[[str], bool] | None = None
    # the preconditions of a runbook's checklist items (Runbook.checklist): the checklist runs
    # its own checks (checklist/preconditions.py); the engine only knows them as Preconditions
    checklist: Callable[[Sequence[str]], list[Precondition]] = field(
        default=_no_checklist)


@dataclass
class RunResult:
    run_id: str
    runbook: str
    target: str
    status: str
    exit_code: int
    findings: list[Finding] = field(default_factory=list)
    journal: Path | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    summary: RunSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.summary.to_dict() if self.summary else {}
        d.update(run_id=self.run_id, runbook=self.runbook, target=self.target,
                 status=self.status, exit_code=self.exit_code,
                 findings=[f.to_dict() for f in self.findings],
                 journal=str(self.journal) if self.journal else None,
                 reports={k: str(v) for k, v in self.reports.items()})
        return d


def new_run_id() -> str:
    """Sortable by time (UTC, to the microsecond) plus a short random part against collisions."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{_random.token_hex(2)}"


def state_dir_of(config: Config) -> Path:
    """The local folder of the state: all of it, or the cache of the shared state."""
    return open_state(config).local_dir


@contextlib.contextmanager
def _leased(state: State, runbook: Runbook, run_id: str, options: RunOptions
            ) -> Iterator[tuple[Lease, Holder | None]]:
    """Hold (runbook, target)'s lease for the block; a run that lost its shared state stops
    with the run id in the message (exit 3), the lease released however it ends. The CLI
    prints an error's message only, so what to do next goes into it."""
    try:
        lease = state.lease(runbook.name, runbook.target)
        stale = lease.acquire(run_id, take_over=options.take_over)
    except CouldNotVerify as exc:  # S3 unreachable or refusing: the run never started
        raise type(exc)(f"{exc}; nothing was changed. {exc.action}", code=exc.code,
                        action=exc.action) from exc
    try:
        yield lease, stale
    except StateLost as exc:
        action = exc.action.replace("RUN_ID", run_id)
        raise StateLost(f"run {run_id} stopped: {exc}; {action}", code=exc.code,
                        action=action) from exc
    finally:
        lease.release()


def preconditions_of(runbook: Runbook, services: Services) -> list[Precondition]:
    """Every precondition a run of `runbook` checks: the engine's owner check, the runbook's
    own, then its checklist items."""
    return [owner_precondition(runbook.responsibility), *runbook.preconditions(),
            *services.checklist(runbook.checklist)]


def check_overrides(runbook: Runbook, overrides: Mapping[str, str], services: Services) -> None:
    """UsageError (exit 2) unless each override names a blocking precondition of this run and
    says why; the message lists what can be overridden. Builds the run's preconditions first,
    so Services without the checklist fail here, before the run takes a lease or a journal."""
    items = [p.item for p in preconditions_of(runbook, services) if p.blocking]
    if not overrides:
        return
    listed = ", ".join(items) if items else "none"
    for item, because in overrides.items():
        if not runbook.mutating:
            raise UsageError(f"--override {item}: {runbook.name} changes nothing, so nothing "
                             "is blocked: there is nothing to override")
        if item not in items:
            raise UsageError(f"--override {item}: not a precondition of this {runbook.name} "
                             f"run; its preconditions: {listed}")
        if not because.strip():
            raise UsageError(f"--override {item} needs --because \"why\" (journaled and sent "
                             "to the owners)")


def execute(runbook: Runbook, options: RunOptions, services: Services) -> RunResult:
    check_overrides(runbook, options.overrides, services)
    state = open_state(runbook.config)
    run_id = new_run_id()
    with _leased(state, runbook, run_id, options) as (lease, stale):
        journal = jr.Journal.create(state.local_dir, run_id, services.redactor,
                                    state.remote_journal(run_id, create=True))
        journal.append("run_started", {
            "runbook": runbook.name, "title": (runbook.__doc__ or "").strip().split("\n")[0],
            "params": runbook.params, "target": runbook.target, "dry_run": options.dry_run,
            "mutating": runbook.mutating, "responsibility": runbook.responsibility,
            "pid": os.getpid(), "overrides": dict(options.overrides),
            **({"incident": options.incident, "by": whoami(), "host": socket.gethostname()}
               if options.incident else {})})
        run = _Run(runbook, options, services, journal, run_id, state.local_dir, lease)
        with run.notices_settled():
            run.note_takeover(stale)
            return run.start()


def resume(run_id: str, config: Config, options: RunOptions, services: Services) -> RunResult:
    """Finish run `run_id`: continue an interrupted or unconfirmed run, finish an incomplete
    undo, or — for a mutating run that ended failed — re-plan from the first step not done
    (after the user fixed the cause) and apply from there, with a new confirmation."""
    state = open_state(config)
    state_dir = state.local_dir
    path, summary = _verified_summary(state, run_id, "resume")
    mode = summary.resume_mode
    if mode is None:
        if services.console is not None:
            out.summary_line(services.console, summary, [])
            services.console.print(_not_resumable(summary))
        return _result(summary, state_dir, reports={})
    runbook = registry.get(summary.runbook)(config, summary.params)
    # The overrides given when the run started still hold: the person who resumes finishes the
    # decision recorded then (and may add their own).
    options = replace(options, overrides={**summary.overrides, **options.overrides})
    check_overrides(runbook, options.overrides, services)
    with _reopened(runbook, summary, path, options, services, mode) as run:
        if mode == "replan":
            return run.replan(summary)
        return run.resume(summary)


def undo(run_id: str, config: Config, options: RunOptions, services: Services) -> RunResult:
    """Reverse, newest first, the steps an interrupted or failed run applied and has not undone
    (`runs.undo ID`). A step without an undo is named, never skipped silently."""
    state = open_state(config)
    path, summary = _verified_summary(state, run_id, "undo")
    if summary.is_finished and summary.resume_mode is None:
        raise UsageError(f"run {run_id} ended {summary.status!r}: only a failed or interrupted "
                         "run can be undone")
    runbook = registry.get(summary.runbook)(config, summary.params)
    by_name = {s.name: s for s in runbook.steps()}
    pending = [n for n in reversed(summary.applied_steps()) if n in by_name]
    todo = [n for n in pending if by_name[n].undoable]
    manual = [n for n in pending if not by_name[n].undoable]
    if services.console is not None:
        out.undo_plan(services.console, run_id, [(n, by_name[n].title) for n in todo],
                      [(n, by_name[n].title) for n in manual])
    if manual and not todo:
        # Nothing here can be reversed by breakglass: ending "undone" would tell the owners a
        # change was taken back when none was. The run stays as it is, resumable.
        raise UsageError(f"nothing undone: no step run {run_id} applied has an undo "
                         f"({', '.join(manual)}); finish the run instead with `breakglass "
                         f"runs.resume {run_id}`, or reverse those steps by hand")
    if todo and not options.yes:
        ask = services.confirm
        if not (options.interactive and ask is not None and ask("Undo these steps? Type 'yes': ")):
            # Asked before the journal is touched: a refused undo leaves the run as it was.
            raise NotConfirmed(f"nothing undone: no --yes and no interactive confirmation. "
                               f"Review the steps above, then run `breakglass runs.undo "
                               f"{run_id} --yes`")
    with _reopened(runbook, summary, path, options, services, "undo") as run:
        return run.undo_applied(summary, todo, manual)


def _verified_summary(state: State, run_id: str, verb: str, *, sync: bool = True
                      ) -> tuple[Path, RunSummary]:
    if sync:
        state.sync_runs([run_id])
    path = find_journal(state.local_dir, run_id)
    problems = jr.verify(path)
    if problems:
        raise JournalTampered(f"journal of run {run_id} does not verify ({problems[0]}); "
                              f"refusing to {verb}. See `breakglass runs.verify {run_id}`")
    return path, summarize(path, run_id)


def _not_resumable(summary: RunSummary) -> str:
    if not summary.mutating:
        return (f"run {summary.run_id} already finished; nothing to resume: it changed nothing, "
                f"so run `breakglass {summary.runbook}` again for a new verdict")
    return f"run {summary.run_id} already finished ({summary.status}); nothing to resume"


@contextlib.contextmanager
def _reopened(runbook: Runbook, summary: RunSummary, path: Path, options: RunOptions,
              services: Services, mode: str) -> Iterator[_Run]:
    """Take the run's lock again, journal `run_resumed` (with what it reopens) and yield the
    run; the lock is released however the run ends."""
    state = open_state(runbook.config)
    with _leased(state, runbook, summary.run_id, options) as (lease, stale):
        # Opening the shared copy refreshes the local one to the version the next append
        # extends; what was planned from must still be what is there.
        remote = state.remote_journal(summary.run_id, create=False)
        if remote is not None:
            _, summary = _verified_summary(state, summary.run_id, "resume", sync=False)
            if summary.resume_mode != mode:
                raise UsageError(f"run {summary.run_id} changed while resuming (another "
                                 "machine?); look at `breakglass runs.show "
                                 f"{summary.run_id}` and try again")
        journal = jr.Journal.reopen(path, services.redactor, remote)
        # The head may lag one event behind after a crash; the next append rewrites it.
        journal.append("run_resumed", {"pid": os.getpid(), "mode": mode,
                                       "reopens": summary.status})
        run = _Run(runbook, options, services, journal, summary.run_id, state.local_dir, lease)
        with run.notices_settled():
            run.note_takeover(stale)
            yield run


def _result(summary: RunSummary, state_dir: Path, reports: dict[str, Path]) -> RunResult:
    return RunResult(summary.run_id, summary.runbook, summary.target,
                     summary.status or "unfinished", summary.computed_exit_code(),
                     summary.findings, summary.path, reports, summary)


class _StepFailed(Exception):
    """Internal: a step failed during the apply phase; the run stops and undoes."""


class _Run:
    def __init__(self, runbook: Runbook, options: RunOptions, services: Services,
                 journal: jr.Journal, run_id: str, state_dir: Path, lease: Lease) -> None:
        self.runbook, self.options, self.services = runbook, options, services
        self.journal, self.run_id, self.state_dir = journal, run_id, state_dir
        self.lease = lease
        self.steps: Sequence[Step] = runbook.steps()
        self.console = services.console
        # Notices on their way, oldest first: (event, anchor, pending), journaled as they
        # settle. Before an incident runbook's containment step is done, notices wait in
        # `_held`: they go out in the background right after it (DESIGN principle 9).
        self._pending: list[tuple[NoticeEvent, str, PendingNotice]] = []
        self._held: list[tuple[str, Notice]] = []
        self._holding = runbook.containment is not None
        self.ctx = StepContext(run_id=run_id, runbook=runbook.name, config=runbook.config,
                               params=runbook.params, state_dir=state_dir,
                               redactor=services.redactor, secrets=services.secrets)
        self._current = ""
        self.usage_error = False
        self._started = time.monotonic()
        self._checkin_id: str | None = None
        self.ctx.log_sink = self._log
        shown = self.console or services.progress_console
        self.progress = (ProgressView(shown, runbook.name, options.heartbeat)
                         if shown is not None else None)
        self.ctx.progress_sink = self._progress

    # -- entry points ---------------------------------------------------------------------
    def start(self) -> RunResult:
        blocked = self._check_preconditions()
        if not self.runbook.mutating:
            return self._read_only()
        return self._plan_then_apply(blocked, done=set(), applied=[], event="started")

    def resume(self, summary: RunSummary) -> RunResult:
        """Continue an interrupted or unconfirmed run, or finish its undo."""
        self._restore_outputs(summary)
        if summary.undo_steps is not None:
            self._holding = False  # undoing: there is nothing to contain first
            self._notify("start", "resumed (finishing its undo)")
            return self._undo([s for s in summary.undo_steps if s not in summary.undone],
                              resumed=True)
        blocked = self._check_preconditions()
        if not self.runbook.mutating:
            return self._read_only(skip={n for n, r in summary.steps.items()
                                         if r.status == "done"}, event="resumed")
        if blocked:
            return self._finish(f"blocked by precondition {', '.join(blocked)}")
        if not summary.confirmed:
            self._confirm()
        self._notify("start", "resumed")
        return self._apply_phase(done=summary.done_steps(), applied=summary.applied_steps())

    def replan(self, summary: RunSummary) -> RunResult:
        """A run that ended failed, after the user fixed the cause: check the preconditions
        again, observe and plan every step not done (an undone step is not done), show that
        plan, confirm it again (it may differ from the one confirmed before) and apply."""
        self._restore_outputs(summary)
        done = summary.done_steps()
        if self.console is not None and done:
            self.console.print(f"resuming run {self.run_id} ({summary.status}); done before: "
                               f"{', '.join(n for n in summary.steps if n in done)}")
        blocked = self._check_preconditions()
        return self._plan_then_apply(blocked, done=done, applied=summary.applied_steps(),
                                     event=f"resumed after it {summary.status}")

    def undo_applied(self, summary: RunSummary, todo: list[str],
                     manual: list[str]) -> RunResult:
        """`runs.undo`: undo `todo` (newest first); `manual` steps have no undo and are named in
        the journal and the notice, so nobody believes they were reversed."""
        # A step's undo reads what the run applied (e.g. rollback's pinned start releases).
        self._restore_outputs(summary)
        self._holding = False  # undoing: there is nothing to contain first
        self._notify("start", "undo requested")
        if manual:
            self.journal.append("log", {"step": "", "message": "applied steps without an undo "
                                        "(reverse them by hand)", "data": {"steps": manual}})
        self.journal.append("undo_started", {"steps": todo, "requested": True})
        return self._undo(todo, resumed=True, ended="undone")

    def _restore_outputs(self, summary: RunSummary) -> None:
        for name, rec in summary.steps.items():
            if rec.result is not None:
                self.ctx.outputs[name] = rec.result

    def _plan_then_apply(self, blocked: list[str], done: set[str], applied: list[str],
                         event: str) -> RunResult:
        planned = self._plan_all(skip=done)
        if planned is None:  # an observation failed: nothing was changed
            s = summarize(self.journal.path, self.run_id)
            return self._finish("could not verify" if s.computed_exit_code() == 3 else "failed")
        if self.console is not None:
            out.plan(self.console, self.runbook.name, self.runbook.target, self.run_id,
                     planned, self.options.dry_run)
        if self.options.dry_run:
            # A dry run whose apply would be refused says so in its exit code: 3 when the
            # refusal is only "could not verify" (a host unreachable), else 1.
            refused = (summarize(self.journal.path, self.run_id).computed_exit_code()
                       or EXIT_FINDING) if blocked else EXIT_OK
            return self._finish("dry-run", exit_code=refused)
        if blocked:
            return self._finish(f"blocked by precondition {', '.join(blocked)}")
        if not all(p.is_noop for _, _, p in planned):
            # Nothing to change needs no confirmation; every step is still verified.
            self._confirm()
        # Owners hear "started" once changes are about to begin, not for a refused plan.
        self._notify("start", event)
        return self._apply_phase(done=done, applied=applied)

    # -- phases ---------------------------------------------------------------------------
    def _check_preconditions(self) -> list[str]:
        """Check the engine's and the runbook's preconditions; journal and show each. Returns
        the items that block applying (failing, blocking, in a mutating runbook)."""
        blocked: list[str] = []
        for pre in preconditions_of(self.runbook, self.services):
            try:
                found = list(pre.check(self.ctx))
            except CouldNotVerify as exc:
                found = [unverified(exc.code or "COULD_NOT_VERIFY", str(exc),
                                    self._way_forward(exc.action, "fix what prevented the "
                                                      "check"), pre.item)]
            failing = any(f.counts for f in found)
            # Not set up at all is neither a pass (✓) nor a block: say so (docs/preconditions.md)
            unset = not failing and any(f.code.endswith("NOT_CONFIGURED") for f in found)
            because = self.options.overrides.get(pre.item)
            overridden = (failing and pre.blocking and self.runbook.mutating
                          and because is not None)
            detail = found[0].message if found else ""
            if self.runbook.mutating and not pre.blocking:
                found = [as_note(f) for f in found]
            elif overridden:
                assert because is not None
                original, found = found, self._overridden(pre, because, found)
                detail = f"overridden (--because {because!r}): {detail}"
            elif failing and pre.blocking and self.runbook.mutating:
                blocked.append(pre.item)
            self.journal.append("precondition", {
                "item": pre.item, "title": pre.title, "blocking": pre.blocking,
                "ok": not failing, "not_configured": unset, "overridden": overridden,
                "findings": [f.to_dict() for f in found]})
            if overridden:
                self._override_event(pre, str(because), original)
            if self.console is not None:
                out.precondition(self.console, pre.item, pre.title, not failing, detail,
                                 not_configured=unset)
        return blocked

    def _overridden(self, pre: Precondition, because: str,
                    found: list[Finding]) -> list[Finding]:
        """The findings of an overridden precondition, as notes (they no longer decide the
        run's verdict) headed by one saying who let it through and why — in every report."""
        head = Finding("PRECONDITION_OVERRIDDEN", f"{pre.item} failed and was overridden: "
                       f"{because}", "make the item pass (see the findings below), then stop "
                       "overriding it", Severity.INFO, Outcome.NOTE, pre.item,
                       {"item": pre.item, "because": because, "by": whoami(),
                        "codes": [f.code for f in found if f.counts]})
        return [head, *(as_note(f) for f in found)]

    def _override_event(self, pre: Precondition, because: str, found: list[Finding]) -> None:
        self.journal.append("precondition_overridden", {
            "item": pre.item, "because": because, "by": whoami(),
            "findings": [f.to_dict() for f in found]})
        first = next((f.message for f in found if f.counts), "")
        self._notify("approval", f"precondition {pre.item} overridden",
                     message=f"{pre.item} ({pre.title}) failed: {first}. Overridden by "
                          f"{whoami()} with --because {because!r}.",
                     extra=(pre.responsibility,) if pre.responsibility else ())

    def _plan_all(self, skip: set[str]) -> list[tuple[str, str, Plan]] | None:
        planned = []
        for step in self.steps:
            if step.name in skip:
                continue
            try:
                self._crumb(step, "observe")
                p = step.plan(step.observe(self.ctx))
            except Exception as exc:
                self._step_failed(step, "observe", exc)
                return None
            self.journal.append("step_planned", {"step": step.name, "title": step.title,
                                                 "plan": p.to_dict()})
            planned.append((step.name, step.title, p))
        return planned

    def _confirm(self) -> None:
        if self.options.yes:
            self.journal.append("confirmed", {"how": "--yes"})
            return
        ask = self.services.confirm
        if self.options.interactive and ask is not None and ask("Apply this plan? Type 'yes': "):
            self.journal.append("confirmed", {"how": "prompt"})
            return
        reason = "no --yes and no interactive confirmation"
        self.journal.append("not_confirmed", {"reason": reason})
        self._report()
        raise NotConfirmed(f"nothing applied: {reason}. Review the plan above, then run "
                           f"`breakglass runs.resume {self.run_id} --yes`")

    def _apply_phase(self, done: set[str], applied: list[str]) -> RunResult:
        if self.runbook.containment in done:  # a resumed run: contained already
            self._release_notices()
        for step in self.steps:
            if step.name in done:
                continue
            try:
                if self._apply_step(step):
                    applied.append(step.name)
            except _StepFailed:
                if step.name not in applied and self._apply_started(step):
                    applied.append(step.name)
                by_name = {s.name: s for s in self.steps}
                todo = [n for n in reversed(applied) if n in by_name and by_name[n].undoable]
                return self._undo(todo, resumed=False)
        return self._finish("succeeded")

    def _apply_started(self, step: Step) -> bool:
        s = summarize(self.journal.path, self.run_id)
        return step.name in s.steps and s.steps[step.name].apply_started

    def _apply_step(self, step: Step) -> bool:
        """Re-observe, re-plan, apply, verify one step. True when it applied something."""
        self._current = step.name
        try:
            self._crumb(step, "observe")
            p = step.plan(step.observe(self.ctx))
            self.journal.append("step_started", {"step": step.name, "plan": p.to_dict()})
            did_apply = False
            if p.is_noop:
                self.journal.append("step_noop", {"step": step.name, "reason": p.noop_reason})
            else:
                if self.lease.lost:
                    raise StateLost(f"its lease was lost before {step.name} ({self.lease.lost})",
                                    code="LEASE_LOST", action="see who holds it with "
                                    "`breakglass runs.show RUN_ID`")
                self.journal.append("step_apply_started", {
                    "step": step.name, "actions": [a.to_dict() for a in p.actions]})
                self._pause(step, "before_apply")
                self._crumb(step, "apply")
                result = dict(step.apply(self.ctx, p) or {})
                self.journal.append("step_applied", {"step": step.name, "result": result})
                self._pause(step, "after_apply")
                self.ctx.outputs[step.name] = self.services.redactor.redact_obj(result)
                did_apply = True
            self._crumb(step, "verify")
            found = list(step.verify(self.ctx, step.observe(self.ctx)))
        except (_StepFailed, StateLost):
            # A run that lost its shared state stops as it stands: no step_failed (it could
            # not be written) and no undo (another machine may own the run now).
            raise
        except Exception as exc:
            self._step_failed(step, "apply", exc)
            raise _StepFailed from exc
        self.journal.append("step_verified", {"step": step.name,
                                              "findings": [f.to_dict() for f in found]})
        if any(f.counts for f in found):
            self.journal.append("step_failed", {"step": step.name, "phase": "verify",
                                                "error": "verification failed"})
            self._show(step.name, "failed", _codes(found))
            raise _StepFailed
        self._pause(step, "after_verify")
        self.journal.append("step_done", {"step": step.name, "applied": did_apply})
        if step.name == self.runbook.containment:
            self._release_notices(contained=step.title if did_apply else "")
        self._collect_notices(block=False)
        self._show(step.name, "done" if did_apply else "noop",
                   "" if did_apply else (p.noop_reason or ""))
        return did_apply

    def _undo(self, names: list[str], resumed: bool, ended: str = "rolled back") -> RunResult:
        by_name = {s.name: s for s in self.steps}
        if not resumed:
            self.journal.append("undo_started", {"steps": names})
        ok = True
        for name in names:
            step = by_name.get(name)
            if step is None:
                continue
            try:
                self._crumb(step, "undo")
                step.undo(self.ctx)
            except Exception as exc:
                ok = False
                self._capture(exc)
                finding = _undo_finding(step, exc, self.run_id)
                self.journal.append("undo_step_failed", {
                    "step": name, "error": _one_line(exc), "finding": finding.to_dict()})
                self._show(name, "undo failed", _codes([finding]))
                continue
            self.journal.append("undo_step_done", {"step": name})
            self._show(name, "undone")
        if not ok:
            return self._finish("failed; undo incomplete")
        return self._finish(ended if names or ended == "undone" else "failed")

    def _read_only(self, skip: set[str] | None = None, event: str = "started") -> RunResult:
        self._notify("start", event)
        for step in self.steps:
            if skip and step.name in skip:
                continue
            self._current = step.name
            self.journal.append("step_started", {"step": step.name, "plan": {}})
            try:
                self._crumb(step, "observe")
                observed = step.observe(self.ctx)
                self.journal.append("step_planned", {"step": step.name, "title": step.title,
                                                     "plan": step.plan(observed).to_dict()})
                self._crumb(step, "verify")
                found = list(step.verify(self.ctx, observed))
            except StateLost:
                raise  # as in the apply phase: the run stops as it stands
            except Exception as exc:
                self._step_failed(step, "verify", exc)
                continue
            self.journal.append("step_verified", {"step": step.name,
                                                  "findings": [f.to_dict() for f in found]})
            self.journal.append("step_done", {"step": step.name, "applied": False})
            failed = any(f.counts for f in found)
            self._show(step.name, "failed" if failed else "passed", _codes(found))
        s = summarize(self.journal.path, self.run_id)
        status = {0: "passed", 1: "failed", 3: "could not verify"}[s.computed_exit_code()]
        return self._finish(status)

    # -- endings, notices, helpers ---------------------------------------------------------
    def _finish(self, status: str, exit_code: int | None = None) -> RunResult:
        if self.progress is not None:
            self.progress.stop()
        self._closing(status)
        s = summarize(self.journal.path, self.run_id)
        if exit_code is None and self.usage_error:
            exit_code = EXIT_USAGE
        if exit_code is None:
            exit_code = s.computed_exit_code()
            if status.startswith(("rolled back", "failed", "undone")) and exit_code == EXIT_OK:
                exit_code = EXIT_FINDING
        self.journal.append("run_finished", {"status": status, "exit_code": exit_code})
        if status not in ("dry-run",):
            # The end is journaled first so that its hash (the run's final hash) leaves the
            # machine in the notice and in Sentry: a later rewrite no longer matches it.
            anchor = self.journal.last_hash
            ends: dict[int, NoticeEvent] = {EXIT_OK: "success", EXIT_UNVERIFIED: "unverified"}
            event = ends.get(exit_code, "failure")
            self._notify(event, status, anchor=anchor, exit_code=exit_code)
            self._checkin("ok" if exit_code == EXIT_OK else "error")
            self._send_anchor(status, anchor)
        # Every notice settles before the report is written: sent, refused, or "timed out
        # after Ns" for a channel that hangs (never waited on past its deadline).
        self._collect_notices(block=True)
        reports = self._report()
        summary = summarize(self.journal.path, self.run_id)
        if status != "dry-run":
            self._metrics(summary, exit_code)
        if self.console is not None:
            if not self.runbook.mutating or status != "succeeded":
                out.findings(self.console, summary.findings)
            else:
                # A succeeded change still shows what its steps noted (the proof that an old
                # key is refused, where a leaked value sits in git history).
                out.findings(self.console, [*summary.closing, *(
                    f for st in summary.steps.values() for f in st.findings)])
            out.deliveries(self.console, [d for d in summary.deliveries if not d.get("ok")])
            out.summary_line(self.console, summary, [str(p) for p in reports.values()])
        if self.services.reporter is not None:
            self.services.reporter.flush()
        return _result(summary, self.state_dir, reports)

    def _metrics(self, summary: RunSummary, exit_code: int) -> None:
        """Prometheus gauges (engine/metrics.py), when `[metrics] textfile` is set. Like a
        notice, a metrics file that cannot be written is journaled and shown, never fatal."""
        textfile = self.runbook.config.metrics.textfile
        if textfile is None or summary.finished is None:
            return
        try:
            measures = self.runbook.measures(summary)
            metrics.record(self.state_dir, Path(textfile), self.runbook.config.project.name,
                           self.runbook.name, self.runbook.target, summary.finished, exit_code,
                           measures)
        except Exception as exc:  # never let monitoring change the run's outcome
            self._capture(exc)
            message = f"metrics not written to {textfile}: {_one_line(exc)}"
            self.journal.append("log", {"step": "", "message": message, "data": {}})
            if self.console is not None:
                self.console.print(message)

    def _closing(self, status: str) -> list[Finding]:
        """Journal what the runbook must say however the run ended (Runbook.closing_findings)."""
        if status == "dry-run":
            return []
        summary = summarize(self.journal.path, self.run_id)
        try:
            found = list(self.runbook.closing_findings(self.ctx, summary))
        except Exception as exc:  # the run's own end must still be recorded and told
            self._capture(exc)
            found = [unverified("CLOSING_CHECK_FAILED", f"the final check failed: "
                                f"{_one_line(exc)}", "read the error; check the state by hand",
                                self.runbook.target)]
        if found or summary.closing:  # a resumed run's end replaces the earlier one's
            self.journal.append("run_closing", {"findings": [f.to_dict() for f in found]})
        return found

    def _report(self) -> dict[str, Path]:
        # The report is built from the journal: the bucket holds every event of it first.
        self.journal.flush()
        try:
            return write_reports(open_state(self.runbook.config), self.run_id, self.journal.path)
        except CouldNotVerify as exc:
            # The shared state failed after the run's end was journaled there. A report is
            # rebuilt from that journal, so nothing is lost: kept on this machine, shared
            # later by `breakglass state.push`.
            from breakglass.state.local import LocalState

            if self.console is not None:
                self.console.print(f"the reports stay on this machine for now ({exc}); "
                                   "`breakglass state.push` shares them")
            return write_reports(LocalState(self.state_dir), self.run_id, self.journal.path)

    def note_takeover(self, stale: Holder | None) -> None:
        if stale is None:
            return
        how = "--take-over" if self.options.take_over else "its lease had lapsed"
        msg = (f"took over the lease of {stale.describe()} ({how}), as {whoami()} on "
               f"{socket.gethostname()}")
        self.journal.append("lock_takeover", {"message": msg, "forced": self.options.take_over,
                                              **stale.to_dict()})
        if self.console is not None:
            self.console.print(msg)
        if self.options.take_over:
            self._notify("start", "lease taken over", msg)

    def _notify(self, event: NoticeEvent, status: str, message: str = "",
                extra: tuple[str, ...] = (), anchor: str = "",
                exit_code: int | None = None) -> None:
        """Send a notice to the owners in the background (never waited on here); before an
        incident runbook's containment step is done, hold it until then."""
        if self.options.dry_run:
            return
        if event == "start":
            self._checkin("in_progress")
        if self.services.notifier is None:
            return
        notice = self._notice(event, status, message, anchor, exit_code)
        ending = event in ENDINGS
        if ending:
            self._release_notices()
        for responsibility in dict.fromkeys((self.runbook.responsibility,
                                             *self.runbook.also_notify, *extra)):
            if self._holding and not ending:
                self._held.append((responsibility, notice))
            else:
                self._dispatch(responsibility, notice)

    def _dispatch(self, responsibility: str, notice: Notice) -> None:
        notifier = self.services.notifier
        assert notifier is not None
        try:
            pending = notifier.dispatch(responsibility, notice)
        except Exception as exc:  # a notifier must never take a run down (principle 7)
            self._capture(exc)
            self._journal_deliveries(notice.event, notice.anchor, [
                Delivery("-", "-", False, f"notifier error: {_one_line(exc)}")])
            return
        self._pending.append((notice.event, notice.anchor, pending))

    def _release_notices(self, contained: str = "") -> None:
        """The containment step is done (or the run ends without it): send what was held,
        saying what is done already (`contained`: the step's title)."""
        self._holding = False
        held, self._held = self._held, []
        for responsibility, notice in held:
            if contained and notice.event == "start":
                said = f"{notice.message} " if notice.message else ""
                notice = replace(notice, message=f"{said}Done already: {contained}.")
            self._dispatch(responsibility, notice)

    def _collect_notices(self, *, block: bool) -> None:
        """Journal the deliveries of settled notices, oldest first; `block`: wait for each
        (bounded by its deadline)."""
        while self._pending:
            event, anchor, pending = self._pending[0]
            if not block and not pending.done():
                return
            self._pending.pop(0)
            try:
                got = pending.wait()
            except Exception as exc:  # principle 7, as in _dispatch
                self._capture(exc)
                got = [Delivery("-", "-", False, f"notifier error: {_one_line(exc)}")]
            self._journal_deliveries(event, anchor, got)

    def _journal_deliveries(self, event: NoticeEvent, anchor: str,
                            got: Sequence[Delivery]) -> None:
        for d in got:
            self.journal.append("delivery", {"event": event, **d.to_dict(),
                                             **({"anchor": anchor} if anchor else {})})

    @contextlib.contextmanager
    def notices_settled(self) -> Iterator[None]:
        """However the run leaves (NotConfirmed, a lost lease, a bug), its notices are sent or
        recorded as not delivered before the process can exit."""
        try:
            yield
        finally:
            self._release_notices()
            # A journal that cannot be written any more (the shared state was lost) must not
            # hide the error that ended the run.
            with contextlib.suppress(BreakglassError, OSError):
                self._collect_notices(block=True)
                self.journal.flush()  # the run's last events were held for a next write

    def _notice(self, event: NoticeEvent, status: str, message: str, anchor: str,
                exit_code: int | None) -> Notice:
        cfg, rb = self.runbook.config, self.runbook
        ending = event in ENDINGS
        s = summarize(self.journal.path, self.run_id)
        wanted = (cfg.notify_on[rb.name] if rb.name in cfg.notify_on
                  else DEFAULT_EVENTS[rb.mutating])
        applied, not_applied, undone = _changes(s) if ending else ((), (), ())
        return Notice(
            event=event, run_id=self.run_id, project=cfg.project.name,
            environment=cfg.project.environment, runbook=rb.name, target=rb.target,
            mutating=rb.mutating, status=status, exit_code=exit_code, message=message,
            findings=tuple(s.findings) if ending else (),
            figures=self._figures(s) if ending else (),
            applied=applied, not_applied=not_applied, undone=undone,
            show=f"breakglass runs.show {self.run_id}",
            report=self._report_link() if ending else "",
            host=socket.gethostname(), anchor=anchor, wanted=frozenset(wanted),
            incident=self.options.incident or "")

    def _report_link(self) -> str:
        """The HTML report as a notice's reader can open it: a presigned URL when the state
        is shared (the report is stored there as the run ends), else its local path."""
        name = report_names(self.run_id)["html"]
        try:
            link = open_state(self.runbook.config).blob_link(name)
        except BreakglassError:  # no link is no reason to hold the notice back
            link = None
        return link or str(self.state_dir / name)

    def _figures(self, summary: RunSummary) -> tuple[Figure, ...]:
        try:
            return tuple(self.runbook.headline(summary))
        except Exception as exc:  # a notice goes out without its numbers rather than not at all
            self._capture(exc)
            return ()

    def _send_anchor(self, status: str, anchor: str) -> None:
        reporter = self.services.reporter
        if reporter is None:
            return
        try:
            sent = reporter.anchor(self.run_id, self.runbook.name, status, anchor) is not None
            error = "" if sent else "dropped by the Sentry SDK"
        except Exception as exc:  # best effort, like notices
            sent, error = False, _one_line(exc)
        self.journal.append("anchor", {"to": "sentry", "hash": anchor, "ok": sent,
                                       "error": error})

    def _pause(self, step: Step, point: str) -> None:
        token = self.options.pause_file
        if self.options.pause_at != f"{step.name}.{point}" or token is None or token.exists():
            return
        token.write_text(str(os.getpid()))
        while True:  # the test SIGKILLs us here
            time.sleep(3600)

    def _progress(self, event: ProgressEvent) -> None:
        if event.done > 0 and self._current:
            by_name = {s.name: s for s in self.steps}
            if self._current in by_name:
                self._pause(by_name[self._current], "mid")
        if self.progress is not None:
            self.progress.update(event.stamped(self._current))

    def _checkin(self, status: Literal["in_progress", "ok", "error"]) -> None:
        slug, reporter = self.runbook.monitor_slug, self.services.reporter
        if slug is None or reporter is None:
            return
        duration = time.monotonic() - self._started if status != "in_progress" else None
        try:
            got = reporter.checkin(slug, status, self._checkin_id, duration,
                                   self.runbook.monitor_config)
        except Exception as exc:  # monitoring is best effort, like notices
            self.journal.append("checkin", {"monitor": slug, "status": status, "ok": False,
                                            "error": _one_line(exc)})
            return
        if status == "in_progress":
            self._checkin_id = got
        self.journal.append("checkin", {"monitor": slug, "status": status, "ok": True})

    def _log(self, message: str, data: Mapping[str, Any]) -> None:
        self.journal.append("log", {"step": self._current, "message": message,
                                    "data": dict(data)})

    def _crumb(self, step: Step, phase: str) -> None:
        if self.services.reporter is not None:
            self.services.reporter.breadcrumb(f"{self.runbook.name}: {step.name} {phase}",
                                              {"run_id": self.run_id, "step": step.name})

    def _capture(self, exc: BaseException) -> None:
        if self.services.reporter is not None:
            # Error reporting is best effort: a broken Sentry must not change the run's outcome.
            with contextlib.suppress(Exception):
                self.services.reporter.capture(exc)

    def _way_forward(self, action: str, default: str) -> str:
        """What to do when a check could not run (a service unreachable). In a run that can be
        resumed the way forward is this run's resume — not "retry": a fresh run of a half-done
        rotation would start over with a third value."""
        if not self.runbook.mutating or self.options.dry_run:
            return action or default
        if "runs.resume" in action:
            return action
        return (f"{action or 'fix what prevented the check'}; then finish this run: "
                f"`breakglass runs.resume {self.run_id}`")

    def _step_failed(self, step: Step, phase: str, exc: Exception) -> None:
        if isinstance(exc, CouldNotVerify):
            finding = unverified(exc.code or "COULD_NOT_VERIFY", str(exc),
                                 self._way_forward(exc.action, "fix what prevented the check "
                                                   "and run it again"),
                                 step.name, **exc.evidence)
        elif isinstance(exc, UsageError):
            # A secret ref that does not resolve, a bad argument found late, a refusal (an
            # unknown user, the last admin, a production guard): the user's input is wrong, not
            # the system (exit 2). Before any change, resuming would ask the same question with
            # the same arguments and be refused again: the way on is a new command. Only a run
            # that already changed something is finished with runs.resume.
            self.usage_error = True
            applied = summarize(self.journal.path, self.run_id).applied_steps()
            finding = Finding("USAGE_ERROR", str(exc),
                              f"fix it, then `breakglass runs.resume {self.run_id}`" if applied
                              else "nothing was changed: fix it (or the arguments) and run the "
                              "command again", Severity.ERROR, Outcome.FAILED, step.name)
        elif not isinstance(exc, BreakglassError):
            # Not an error breakglass raises on purpose: a bug. The step did not finish its
            # job, so the run could not verify (exit 3) — never "found a problem" (exit 1).
            self._capture(exc)
            finding = unverified("INTERNAL_ERROR", f"{phase} of {step.name} hit a bug in "
                                 f"breakglass: {_one_line(exc)}",
                                 "report it (the run id and this line); once fixed or worked "
                                 f"around: `breakglass runs.resume {self.run_id}`", step.name)
        else:
            finding = Finding("STEP_FAILED", f"{phase} failed: {_one_line(exc)}",
                              "read the error, fix its cause, then `breakglass runs.resume "
                              f"{self.run_id}`", Severity.ERROR, Outcome.FAILED, step.name)
        self.journal.append("step_failed", {"step": step.name, "phase": phase,
                                            "error": _one_line(exc),
                                            "finding": finding.to_dict()})
        self._show(step.name, "failed", _codes([finding]))

    def _show(self, name: str, status: str, detail: str = "") -> None:
        if self.progress is not None:
            self.progress.stop()  # a step's progress bar ends with the step
        if self.console is not None:
            out.step_status(self.console, name, status, detail)


def _undo_finding(step: Step, exc: Exception, run_id: str) -> Finding:
    """What an undo that failed leaves: the step's own finding when it raised one (a state and
    a recovery plan), else what failed and the way forward."""
    if isinstance(exc, FindingError):
        return exc.finding
    return Finding("UNDO_FAILED", f"undo failed: {_one_line(exc)}",
                   f"fix the cause, then `breakglass runs.resume {run_id}` finishes the undo",
                   Severity.ERROR, Outcome.FAILED, step.name)


def _codes(found: Sequence[Finding]) -> str:
    """What a failed step's status line names: the codes of the findings that failed it (not a
    note before them); what was seen and what to do follow once, in the findings below."""
    return ", ".join(dict.fromkeys(f.code for f in found if f.counts))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _changes(s: RunSummary) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(changed, planned but not changed, changed then undone), as step titles, for a notice."""
    applied, not_applied, undone = [], [], []
    for rec in s.steps.values():
        name = rec.title or rec.name
        if rec.status == "undone":
            undone.append(name)
        elif rec.applied:
            applied.append(name)
        elif rec.plan.get("actions") and rec.status != "noop":
            not_applied.append(name)
    return tuple(applied), tuple(not_applied), tuple(undone)
