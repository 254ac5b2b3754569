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

The parts of a run, one concern each, sharing a `RunScope` (scope.py): the preconditions gate
(gate.py), the owners' notices (notices.py), Sentry (monitoring.py), the current step and how
each step ends (tracker.py), the read-only path (readonly.py); `_Run` below is the plan /
confirm / apply / undo core. Crash tests hold a run at a step boundary through
`Services.checkpoint` (checkpoints.py).

Resume is safe because steps observe: a step killed half-way sees its own partial work on the next
observation and plans only what is missing. Everything resume needs (params, steps done, steps
applied and their outputs, an undo in progress) comes from the verified journal.
"""

from __future__ import annotations

import contextlib
import os
import secrets as _random
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.engine import journal as jr
from breakglass.engine import metrics, registry
from breakglass.engine import render as out
from breakglass.engine.findings import Finding, FindingError, Outcome, Severity, unverified
from breakglass.engine.gate import PreconditionGate, check_overrides
from breakglass.engine.hooks import NoticeEvent
from breakglass.engine.measures import gauges
from breakglass.engine.monitoring import Monitoring
from breakglass.engine.notices import Notices
from breakglass.engine.readonly import ReadOnlyRun
from breakglass.engine.report import write_reports
from breakglass.engine.runbook import Plan, Runbook, Step, StepContext
from breakglass.engine.runs import RunSummary, find_journal, summarize
from breakglass.engine.scope import RunOptions, RunScope, Services
from breakglass.engine.tracker import StepTracker, codes
from breakglass.errors import (
    EXIT_FINDING,
    EXIT_OK,
    EXIT_UNVERIFIED,
    EXIT_USAGE,
    CouldNotVerify,
    JournalTampered,
    NotConfirmed,
    StateLost,
    UsageError,
)
from breakglass.state import open_state
from breakglass.state.base import Holder, Lease, State, whoami
from breakglass.text import error_line

if TYPE_CHECKING:
    from breakglass.config import Config

__all__ = ["RunOptions", "RunResult", "Services", "execute", "new_run_id", "resume",
           "state_dir_of", "undo"]


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
        with run.notices.settled():
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
        with run.notices.settled():
            run.note_takeover(stale)
            yield run


def _result(summary: RunSummary, state_dir: Path, reports: dict[str, Path]) -> RunResult:
    return RunResult(summary.run_id, summary.runbook, summary.target,
                     summary.status or "unfinished", summary.computed_exit_code(),
                     summary.findings, summary.path, reports, summary)


class _StepFailed(Exception):
    """Internal: a step failed during the apply phase; the run stops and undoes."""



class _Run:
    """The apply/undo core of one run: plan, confirm, apply and verify each step, undo on a
    failure, finish (journal, notices, report, metrics). The preconditions gate, the read-only
    path, the notices, the monitoring and the step tracker are its parts."""

    def __init__(self, runbook: Runbook, options: RunOptions, services: Services,
                 journal: jr.Journal, run_id: str, state_dir: Path, lease: Lease) -> None:
        ctx = StepContext(run_id=run_id, runbook=runbook.name, config=runbook.config,
                          params=runbook.params, state_dir=state_dir,
                          redactor=services.redactor, secrets=services.secrets)
        self.scope = RunScope(runbook, options, services, journal, run_id, state_dir, ctx)
        self.runbook, self.options, self.services = runbook, options, services
        self.journal, self.run_id, self.state_dir, self.ctx = journal, run_id, state_dir, ctx
        self.lease = lease
        self.steps: Sequence[Step] = runbook.steps()
        self.console = services.console
        self.monitoring = Monitoring(self.scope)
        self.notices = Notices(self.scope, self.monitoring)
        self.gate = PreconditionGate(self.scope, self.notices)
        self.tracker = StepTracker(self.scope, self.monitoring, self.steps)

    # -- entry points ---------------------------------------------------------------------
    def start(self) -> RunResult:
        blocked = self.gate.check()
        if not self.runbook.mutating:
            return self._read_only()
        return self._plan_then_apply(blocked, done=set(), applied=[], event="started")

    def resume(self, summary: RunSummary) -> RunResult:
        """Continue an interrupted or unconfirmed run, or finish its undo."""
        self._restore_outputs(summary)
        if summary.undo_steps is not None:
            self.notices.stop_holding()  # undoing: there is nothing to contain first
            self.notices.notify("start", "resumed (finishing its undo)")
            return self._undo([s for s in summary.undo_steps if s not in summary.undone],
                              resumed=True)
        blocked = self.gate.check()
        if not self.runbook.mutating:
            return self._read_only(skip={n for n, r in summary.steps.items()
                                         if r.status == "done"}, event="resumed")
        if blocked:
            return self._finish(f"blocked by precondition {', '.join(blocked)}")
        if not summary.confirmed:
            self._confirm()
        self.notices.notify("start", "resumed")
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
        blocked = self.gate.check()
        return self._plan_then_apply(blocked, done=done, applied=summary.applied_steps(),
                                     event=f"resumed after it {summary.status}")

    def undo_applied(self, summary: RunSummary, todo: list[str],
                     manual: list[str]) -> RunResult:
        """`runs.undo`: undo `todo` (newest first); `manual` steps have no undo and are named in
        the journal and the notice, so nobody believes they were reversed."""
        # A step's undo reads what the run applied (e.g. rollback's pinned start releases).
        self._restore_outputs(summary)
        self.notices.stop_holding()  # undoing: there is nothing to contain first
        self.notices.notify("start", "undo requested")
        if manual:
            self.journal.append("log", {"step": "", "message": "applied steps without an undo "
                                        "(reverse them by hand)", "data": {"steps": manual}})
        self.journal.append("undo_started", {"steps": todo, "requested": True})
        return self._undo(todo, resumed=True, ended="undone")

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
            self.notices.notify("start", "lease taken over", msg)

    def _restore_outputs(self, summary: RunSummary) -> None:
        for name, rec in summary.steps.items():
            if rec.result is not None:
                self.ctx.outputs[name] = rec.result

    def _read_only(self, skip: set[str] | None = None, event: str = "started") -> RunResult:
        path = ReadOnlyRun(self.scope, self.steps, self.tracker, self.notices, self.monitoring)
        return self._finish(path.run(skip, event))

    # -- plan, confirm, apply, undo ---------------------------------------------------------
    def _plan_then_apply(self, blocked: list[str], done: set[str], applied: list[str],
                         event: str) -> RunResult:
        planned = self._plan_all(skip=done)
        if planned is None:  # an observation failed: nothing was changed
            s = self.scope.summary()
            return self._finish("could not verify" if s.computed_exit_code() == 3 else "failed")
        if self.console is not None:
            out.plan(self.console, self.runbook.name, self.runbook.target, self.run_id,
                     planned, self.options.dry_run)
        if self.options.dry_run:
            # A dry run whose apply would be refused says so in its exit code: 3 when the
            # refusal is only "could not verify" (a host unreachable), else 1.
            refused = (self.scope.summary().computed_exit_code()
                       or EXIT_FINDING) if blocked else EXIT_OK
            return self._finish("dry-run", exit_code=refused)
        if blocked:
            return self._finish(f"blocked by precondition {', '.join(blocked)}")
        if not all(p.is_noop for _, _, p in planned):
            # Nothing to change needs no confirmation; every step is still verified.
            self._confirm()
        # Owners hear "started" once changes are about to begin, not for a refused plan.
        self.notices.notify("start", event)
        return self._apply_phase(done=done, applied=applied)

    def _plan_all(self, skip: set[str]) -> list[tuple[str, str, Plan]] | None:
        planned = []
        for step in self.steps:
            if step.name in skip:
                continue
            try:
                self.monitoring.crumb(step, "observe")
                p = step.plan(step.observe(self.ctx))
            except Exception as exc:
                self.tracker.failed(step, "observe", exc)
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
            self.notices.release()
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
        s = self.scope.summary()
        return step.name in s.steps and s.steps[step.name].apply_started

    def _apply_step(self, step: Step) -> bool:
        """Re-observe, re-plan, apply, verify one step. True when it applied something."""
        self.tracker.current = step.name
        checkpoint, crumb = self.services.checkpoint, self.monitoring.crumb
        try:
            crumb(step, "observe")
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
                checkpoint(step.name, "before_apply")
                crumb(step, "apply")
                result = dict(step.apply(self.ctx, p) or {})
                self.journal.append("step_applied", {"step": step.name, "result": result})
                checkpoint(step.name, "after_apply")
                self.ctx.outputs[step.name] = self.services.redactor.redact_obj(result)
                did_apply = True
            crumb(step, "verify")
            found = list(step.verify(self.ctx, step.observe(self.ctx)))
        except (_StepFailed, StateLost):
            # A run that lost its shared state stops as it stands: no step_failed (it could
            # not be written) and no undo (another machine may own the run now).
            raise
        except Exception as exc:
            self.tracker.failed(step, "apply", exc)
            raise _StepFailed from exc
        self.journal.append("step_verified", {"step": step.name,
                                              "findings": [f.to_dict() for f in found]})
        if any(f.counts for f in found):
            self.journal.append("step_failed", {"step": step.name, "phase": "verify",
                                                "error": "verification failed"})
            self.tracker.show(step.name, "failed", codes(found))
            raise _StepFailed
        checkpoint(step.name, "after_verify")
        self.journal.append("step_done", {"step": step.name, "applied": did_apply})
        if step.name == self.runbook.containment:
            self.notices.release(contained=step.title if did_apply else "")
        self.notices.collect(block=False)
        self.tracker.show(step.name, "done" if did_apply else "noop",
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
                self.monitoring.crumb(step, "undo")
                step.undo(self.ctx)
            except Exception as exc:
                ok = False
                self.monitoring.capture(exc)
                finding = _undo_finding(step, exc, self.run_id)
                self.journal.append("undo_step_failed", {
                    "step": name, "error": error_line(exc), "finding": finding.to_dict()})
                self.tracker.show(name, "undo failed", codes([finding]))
                continue
            self.journal.append("undo_step_done", {"step": name})
            self.tracker.show(name, "undone")
        if not ok:
            return self._finish("failed; undo incomplete")
        return self._finish(ended if names or ended == "undone" else "failed")

    # -- the end ----------------------------------------------------------------------------
    def _finish(self, status: str, exit_code: int | None = None) -> RunResult:
        self.tracker.stop_progress()
        self._closing(status)
        s = self.scope.summary()
        if exit_code is None and self.tracker.usage_error:
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
            self.notices.notify(event, status, anchor=anchor, exit_code=exit_code)
            self.monitoring.checkin("ok" if exit_code == EXIT_OK else "error")
            self.monitoring.anchor(status, anchor)
        # Every notice settles before the report is written: sent, refused, or "timed out
        # after Ns" for a channel that hangs (never waited on past its deadline).
        self.notices.collect(block=True)
        reports = self._report()
        summary = self.scope.summary()
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
        self.monitoring.flush()
        return _result(summary, self.state_dir, reports)

    def _metrics(self, summary: RunSummary, exit_code: int) -> None:
        """Prometheus gauges (engine/metrics.py), when `[metrics] textfile` is set. Like a
        notice, a metrics file that cannot be written is journaled and shown, never fatal."""
        textfile = self.runbook.config.metrics.textfile
        if textfile is None or summary.finished is None:
            return
        try:
            metrics.record(self.state_dir, Path(textfile), self.runbook.config.project.name,
                           self.runbook.name, self.runbook.target, summary.finished, exit_code,
                           gauges(self.runbook.measured(summary)))
        except Exception as exc:  # never let monitoring change the run's outcome
            self.monitoring.capture(exc)
            message = f"metrics not written to {textfile}: {error_line(exc)}"
            self.journal.append("log", {"step": "", "message": message, "data": {}})
            if self.console is not None:
                self.console.print(message)

    def _closing(self, status: str) -> list[Finding]:
        """Journal what the runbook must say however the run ended (Runbook.closing_findings)."""
        if status == "dry-run":
            return []
        summary = self.scope.summary()
        try:
            found = list(self.runbook.closing_findings(self.ctx, summary))
        except Exception as exc:  # the run's own end must still be recorded and told
            self.monitoring.capture(exc)
            found = [unverified("CLOSING_CHECK_FAILED", f"the final check failed: "
                                f"{error_line(exc)}", "read the error; check the state by hand",
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


def _undo_finding(step: Step, exc: Exception, run_id: str) -> Finding:
    """What an undo that failed leaves: the step's own finding when it raised one (a state and
    a recovery plan), else what failed and the way forward."""
    if isinstance(exc, FindingError):
        return exc.finding
    return Finding("UNDO_FAILED", f"undo failed: {error_line(exc)}",
                   f"fix the cause, then `breakglass runs.resume {run_id}` finishes the undo",
                   Severity.ERROR, Outcome.FAILED, step.name)
