"""The read-only path (`Runbook.mutating = False`): observe and verify every step, keep going
after a step's findings or its failure; the verdict is the findings' (passed / failed / could not
verify). Nothing is planned to change, so nothing is confirmed, applied or undone."""

from __future__ import annotations

from collections.abc import Sequence

from breakglass.engine.monitoring import Monitoring
from breakglass.engine.notices import Notices
from breakglass.engine.runbook import Step
from breakglass.engine.scope import RunScope
from breakglass.engine.tracker import StepTracker, codes
from breakglass.errors import StateLost

VERDICTS = {0: "passed", 1: "failed", 3: "could not verify"}


class ReadOnlyRun:
    def __init__(self, scope: RunScope, steps: Sequence[Step], tracker: StepTracker,
                 notices: Notices, monitoring: Monitoring) -> None:
        self.scope, self.steps, self.tracker = scope, steps, tracker
        self.notices, self.monitoring = notices, monitoring

    def run(self, skip: set[str] | None = None, event: str = "started") -> str:
        """Verify every step not in `skip`; returns the run's status."""
        journal, ctx = self.scope.journal, self.scope.ctx
        self.notices.notify("start", event)
        for step in self.steps:
            if skip and step.name in skip:
                continue
            self.tracker.current = step.name
            journal.append("step_started", {"step": step.name, "plan": {}})
            try:
                self.monitoring.crumb(step, "observe")
                observed = step.observe(ctx)
                journal.append("step_planned", {"step": step.name, "title": step.title,
                                                "plan": step.plan(observed).to_dict()})
                self.monitoring.crumb(step, "verify")
                found = list(step.verify(ctx, observed))
            except StateLost:
                raise  # as in the apply phase: the run stops as it stands
            except Exception as exc:
                self.tracker.failed(step, "verify", exc)
                continue
            journal.append("step_verified", {"step": step.name,
                                             "findings": [f.to_dict() for f in found]})
            journal.append("step_done", {"step": step.name, "applied": False})
            failed = any(f.counts for f in found)
            self.tracker.show(step.name, "failed" if failed else "passed", codes(found))
        return VERDICTS[self.scope.summary().computed_exit_code()]
