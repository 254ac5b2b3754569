"""A run's notices to its owners: built from the journal, sent in the background, journaled as
they settle (`delivery` events). Before an incident runbook's containment step is done, notices
are held and go out right after it (DESIGN principle 9: notices never delay a change)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from dataclasses import replace

from breakglass.engine.hooks import (
    DEFAULT_EVENTS,
    ENDINGS,
    Delivery,
    Figure,
    Notice,
    NoticeEvent,
    PendingNotice,
)
from breakglass.engine.measures import figures
from breakglass.engine.monitoring import Monitoring
from breakglass.engine.runs import RunSummary, report_names
from breakglass.engine.scope import RunScope
from breakglass.errors import BreakglassError
from breakglass.state import open_state
from breakglass.text import error_line


class Notices:
    def __init__(self, scope: RunScope, monitoring: Monitoring) -> None:
        self.scope, self.monitoring = scope, monitoring
        # Notices on their way, oldest first: (event, anchor, pending), journaled as they
        # settle. Before an incident runbook's containment step is done, notices wait in
        # `_held`: they go out in the background right after it.
        self._pending: list[tuple[NoticeEvent, str, PendingNotice]] = []
        self._held: list[tuple[str, Notice]] = []
        self._holding = scope.runbook.containment is not None

    def stop_holding(self) -> None:
        """Nothing to contain first (an undo): notices go out as they come."""
        self._holding = False

    def notify(self, event: NoticeEvent, status: str, message: str = "",
               extra: tuple[str, ...] = (), anchor: str = "",
               exit_code: int | None = None) -> None:
        """Send a notice to the owners in the background (never waited on here); before an
        incident runbook's containment step is done, hold it until then."""
        if self.scope.options.dry_run:
            return
        if event == "start":
            self.monitoring.checkin("in_progress")
        if self.scope.services.notifier is None:
            return
        notice = self._notice(event, status, message, anchor, exit_code)
        ending = event in ENDINGS
        if ending:
            self.release()
        rb = self.scope.runbook
        for responsibility in dict.fromkeys((rb.responsibility, *rb.also_notify, *extra)):
            if self._holding and not ending:
                self._held.append((responsibility, notice))
            else:
                self._dispatch(responsibility, notice)

    def release(self, contained: str = "") -> None:
        """The containment step is done (or the run ends without it): send what was held,
        saying what is done already (`contained`: the step's title)."""
        self._holding = False
        held, self._held = self._held, []
        for responsibility, notice in held:
            if contained and notice.event == "start":
                said = f"{notice.message} " if notice.message else ""
                notice = replace(notice, message=f"{said}Done already: {contained}.")
            self._dispatch(responsibility, notice)

    def collect(self, *, block: bool) -> None:
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
                self.monitoring.capture(exc)
                got = [Delivery("-", "-", False, f"notifier error: {error_line(exc)}")]
            self._journal_deliveries(event, anchor, got)

    @contextlib.contextmanager
    def settled(self) -> Iterator[None]:
        """However the run leaves (NotConfirmed, a lost lease, a bug), its notices are sent or
        recorded as not delivered before the process can exit."""
        try:
            yield
        finally:
            self.release()
            # A journal that cannot be written any more (the shared state was lost) must not
            # hide the error that ended the run.
            with contextlib.suppress(BreakglassError, OSError):
                self.collect(block=True)
                self.scope.journal.flush()  # the run's last events were held for a next write

    def _dispatch(self, responsibility: str, notice: Notice) -> None:
        notifier = self.scope.services.notifier
        assert notifier is not None
        try:
            pending = notifier.dispatch(responsibility, notice)
        except Exception as exc:  # a notifier must never take a run down (principle 7)
            self.monitoring.capture(exc)
            self._journal_deliveries(notice.event, notice.anchor, [
                Delivery("-", "-", False, f"notifier error: {error_line(exc)}")])
            return
        self._pending.append((notice.event, notice.anchor, pending))

    def _journal_deliveries(self, event: NoticeEvent, anchor: str,
                            got: Sequence[Delivery]) -> None:
        for d in got:
            self.scope.journal.append("delivery", {"event": event, **d.to_dict(),
                                                   **({"anchor": anchor} if anchor else {})})

    def _notice(self, event: NoticeEvent, status: str, message: str, anchor: str,
                exit_code: int | None) -> Notice:
        cfg, rb, run_id = self.scope.runbook.config, self.scope.runbook, self.scope.run_id
        ending = event in ENDINGS
        s = self.scope.summary()
        wanted = (cfg.notify_on[rb.name] if rb.name in cfg.notify_on
                  else DEFAULT_EVENTS[rb.mutating])
        applied, not_applied, undone = _changes(s) if ending else ((), (), ())
        return Notice(
            event=event, run_id=run_id, project=cfg.project.name,
            environment=cfg.project.environment, runbook=rb.name, target=rb.target,
            mutating=rb.mutating, status=status, exit_code=exit_code, message=message,
            findings=tuple(s.findings) if ending else (),
            figures=self._figures(s) if ending else (),
            applied=applied, not_applied=not_applied, undone=undone,
            show=f"breakglass runs.show {run_id}",
            report=self._report_link() if ending else "",
            host=socket.gethostname(), anchor=anchor, wanted=frozenset(wanted),
            incident=self.scope.options.incident or "")

    def _report_link(self) -> str:
        """The HTML report as a notice's reader can open it: a presigned URL when the state
        is shared (the report is stored there as the run ends), else its local path."""
        name = report_names(self.scope.run_id)["html"]
        try:
            link = open_state(self.scope.runbook.config).blob_link(name)
        except BreakglassError:  # no link is no reason to hold the notice back
            link = None
        return link or str(self.scope.state_dir / name)

    def _figures(self, summary: RunSummary) -> tuple[Figure, ...]:
        try:
            return figures(self.scope.runbook.measured(summary))
        except Exception as exc:  # a notice goes out without its numbers rather than not at all
            self.monitoring.capture(exc)
            return ()


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
