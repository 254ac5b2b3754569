"""Which step a run is in and how each step ends, on screen and in the journal: the step's log
and progress reports (with the `mid` checkpoint), its status line, and a failed step's finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from breakglass.engine import render as out
from breakglass.engine.findings import Finding, Outcome, Severity, unverified
from breakglass.engine.monitoring import Monitoring
from breakglass.engine.progress import ProgressEvent, ProgressView
from breakglass.engine.runbook import Step
from breakglass.engine.scope import RunScope
from breakglass.errors import BreakglassError, CouldNotVerify, UsageError
from breakglass.text import error_line


class StepTracker:
    def __init__(self, scope: RunScope, monitoring: Monitoring, steps: Sequence[Step]) -> None:
        self.scope, self.monitoring = scope, monitoring
        self.current = ""
        #: a step failed on the user's input (exit 2), see `failed`
        self.usage_error = False
        self._names = {s.name for s in steps}
        shown = scope.console or scope.services.progress_console
        self.progress = (ProgressView(shown, scope.runbook.name, scope.options.heartbeat)
                         if shown is not None else None)
        scope.ctx.log_sink = self._log
        scope.ctx.progress_sink = self._progress

    def _log(self, message: str, data: Mapping[str, Any]) -> None:
        self.scope.journal.append("log", {"step": self.current, "message": message,
                                          "data": dict(data)})

    def _progress(self, event: ProgressEvent) -> None:
        if event.done > 0 and self.current in self._names:
            self.scope.services.checkpoint(self.current, "mid")
        if self.progress is not None:
            self.progress.update(event.stamped(self.current))

    def stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()

    def show(self, name: str, status: str, detail: str = "") -> None:
        self.stop_progress()  # a step's progress bar ends with the step
        if self.scope.console is not None:
            out.step_status(self.scope.console, name, status, detail)

    def failed(self, step: Step, phase: str, exc: Exception) -> None:
        """Journal and show the finding a step's exception leaves."""
        run_id = self.scope.run_id
        if isinstance(exc, CouldNotVerify):
            finding = unverified(exc.code or "COULD_NOT_VERIFY", str(exc),
                                 self.scope.way_forward(exc.action, "fix what prevented the "
                                                        "check and run it again"),
                                 step.name, **exc.evidence)
        elif isinstance(exc, UsageError):
            # A secret ref that does not resolve, a bad argument found late, a refusal (an
            # unknown user, the last admin, a production guard): the user's input is wrong, not
            # the system (exit 2). Before any change, resuming would ask the same question with
            # the same arguments and be refused again: the way on is a new command. Only a run
            # that already changed something is finished with runs.resume.
            self.usage_error = True
            applied = self.scope.summary().applied_steps()
            finding = Finding("USAGE_ERROR", str(exc),
                              f"fix it, then `breakglass runs.resume {run_id}`" if applied
                              else "nothing was changed: fix it (or the arguments) and run the "
                              "command again", Severity.ERROR, Outcome.FAILED, step.name)
        elif not isinstance(exc, BreakglassError):
            # Not an error breakglass raises on purpose: a bug. The step did not finish its
            # job, so the run could not verify (exit 3) — never "found a problem" (exit 1).
            self.monitoring.capture(exc)
            finding = unverified("INTERNAL_ERROR", f"{phase} of {step.name} hit a bug in "
                                 f"breakglass: {error_line(exc)}",
                                 "report it (the run id and this line); once fixed or worked "
                                 f"around: `breakglass runs.resume {run_id}`", step.name)
        else:
            finding = Finding("STEP_FAILED", f"{phase} failed: {error_line(exc)}",
                              "read the error, fix its cause, then `breakglass runs.resume "
                              f"{run_id}`", Severity.ERROR, Outcome.FAILED, step.name)
        self.scope.journal.append("step_failed", {"step": step.name, "phase": phase,
                                                  "error": error_line(exc),
                                                  "finding": finding.to_dict()})
        self.show(step.name, "failed", codes([finding]))


def codes(found: Sequence[Finding]) -> str:
    """What a failed step's status line names: the codes of the findings that failed it (not a
    note before them); what was seen and what to do follow once, in the findings below."""
    return ", ".join(dict.fromkeys(f.code for f in found if f.counts))
