"""The engine's seams to the outside: owners' notices and error reporting.

The executor calls these; breakglass/notify/ implements them (apprise, sentry-sdk). Keeping the
protocols here lets the engine be tested without either SDK and keeps data flowing one way
(engine -> notifier), as DESIGN.md's map says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

NoticeEvent = Literal["start", "success", "failure", "approval", "test"]


@dataclass(frozen=True)
class Delivery:
    """The fate of one notice to one channel of one person. `channel` is masked (scheme and
    host only, never a token). A failed delivery is journaled and shown, never fatal."""

    person: str
    channel: str
    ok: bool
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Notifier(Protocol):
    def notify(self, responsibility: str, event: NoticeEvent, title: str,
               body: str) -> list[Delivery]:
        """Send a notice to every owner of `responsibility`. Never raises for a failed delivery:
        it returns it. Title and body are redacted by the implementation before sending."""
        ...


class ErrorReporter(Protocol):
    def breadcrumb(self, message: str, data: Mapping[str, Any] | None = None) -> None:
        ...

    def capture(self, exc: BaseException) -> None:
        ...

    def anchor(self, run_id: str, runbook: str, status: str, journal_hash: str) -> str | None:
        """Send a finished run's final journal hash off the machine; returns an event id, None
        when it was dropped."""
        ...

    def checkin(self, monitor_slug: str, status: Literal["in_progress", "ok", "error"],
                check_in_id: str | None = None, duration: float | None = None,
                monitor_config: Mapping[str, Any] | None = None) -> str | None:
        """A cron check-in (Sentry Crons): `in_progress` when a monitored run starts, then
        `ok`/`error` with the id it returned, so a scheduled run that never happens alerts.
        `monitor_config` (schedule, margins) creates or updates the monitor on the way."""
        ...

    def flush(self) -> None:
        ...
