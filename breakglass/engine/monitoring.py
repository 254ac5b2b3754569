"""What a run tells the error reporter (Sentry): breadcrumbs per step phase, exceptions, cron
check-ins of scheduled runbooks, and the journal's final hash as an anchor. All best effort: a
broken Sentry never changes a run's outcome; what could not be sent is journaled."""

from __future__ import annotations

import contextlib
import time
from typing import Literal

from breakglass.engine.runbook import Step
from breakglass.engine.scope import RunScope
from breakglass.text import error_line


class Monitoring:
    def __init__(self, scope: RunScope) -> None:
        self.scope = scope
        self._started = time.monotonic()
        self._checkin_id: str | None = None

    def crumb(self, step: Step, phase: str) -> None:
        reporter = self.scope.services.reporter
        if reporter is not None:
            reporter.breadcrumb(f"{self.scope.runbook.name}: {step.name} {phase}",
                                {"run_id": self.scope.run_id, "step": step.name})

    def capture(self, exc: BaseException) -> None:
        reporter = self.scope.services.reporter
        if reporter is not None:
            # Error reporting is best effort: a broken Sentry must not change the run's outcome.
            with contextlib.suppress(Exception):
                reporter.capture(exc)

    def checkin(self, status: Literal["in_progress", "ok", "error"]) -> None:
        slug, reporter = self.scope.runbook.monitor_slug, self.scope.services.reporter
        if slug is None or reporter is None:
            return
        journal = self.scope.journal
        duration = time.monotonic() - self._started if status != "in_progress" else None
        try:
            got = reporter.checkin(slug, status, self._checkin_id, duration,
                                   self.scope.runbook.monitor_config)
        except Exception as exc:  # monitoring is best effort, like notices
            journal.append("checkin", {"monitor": slug, "status": status, "ok": False,
                                       "error": error_line(exc)})
            return
        if status == "in_progress":
            self._checkin_id = got
        journal.append("checkin", {"monitor": slug, "status": status, "ok": True})

    def anchor(self, status: str, anchor: str) -> None:
        """Send the run's final hash: a later rewrite of the journal no longer matches it."""
        reporter = self.scope.services.reporter
        if reporter is None:
            return
        try:
            sent = reporter.anchor(self.scope.run_id, self.scope.runbook.name, status,
                                   anchor) is not None
            error = "" if sent else "dropped by the Sentry SDK"
        except Exception as exc:  # best effort, like notices
            sent, error = False, error_line(exc)
        self.scope.journal.append("anchor", {"to": "sentry", "hash": anchor, "ok": sent,
                                             "error": error})

    def flush(self) -> None:
        if self.scope.services.reporter is not None:
            self.scope.services.reporter.flush()
