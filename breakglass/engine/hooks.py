"""The engine's seams to the outside: owners' notices and error reporting.

The executor calls these; breakglass/notify/ implements them (apprise, sentry-sdk). Keeping the
protocols here lets the engine be tested without either SDK and keeps data flowing one way
(engine -> notifier), as DESIGN.md's map says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, get_args

from breakglass.engine.findings import Finding

#: what a notice is about: a run that starts (or resumes), ends passing, ends with a problem,
#: could not verify, or went past a check (an override); "test" is `notify.test` only;
#: "incident": an incident opened or closed (breakglass/incidents/), told to every owner of
#: incident_response whatever they chose
NoticeEvent = Literal["start", "success", "failure", "unverified", "approval", "test",
                      "incident"]
#: the events `notify_on` may choose from (config: [people.NAME] and [notify_on])
CHOOSABLE: tuple[str, ...] = tuple(e for e in get_args(NoticeEvent)
                                   if e not in ("test", "incident"))
#: the events that end a run: their notice says what changed and carries the journal hash
ENDINGS: tuple[NoticeEvent, ...] = ("success", "failure", "unverified")
#: what a run tells people who chose nothing: a read-only run speaks only when something is
#: wrong (a daily backup.verify that passes is not news), a run that changes things always
DEFAULT_EVENTS: Mapping[bool, frozenset[str]] = {
    True: frozenset(CHOOSABLE), False: frozenset({"failure", "unverified"})}


@dataclass(frozen=True)
class Figure:
    """One key number of a run, for people (`text`) and machines (`data`): e.g. label "RTO",
    text "4m 12s (target 30m)", data {"rto_seconds": 252.0, "rto_target_seconds": 1800.0}."""

    label: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """The facts of one notice; breakglass/notify/compose.py writes them for each channel (plain
    text, Markdown, a JSON document). Built by the engine from the run's journal."""

    event: NoticeEvent
    run_id: str
    project: str
    environment: str
    runbook: str
    target: str
    mutating: bool
    #: the engine's status word ("started", "succeeded", "rolled back", "blocked by …")
    status: str
    exit_code: int | None = None
    #: what happened, for a notice that is not a run's end (an override, a takeover)
    message: str = ""
    findings: tuple[Finding, ...] = ()
    figures: tuple[Figure, ...] = ()
    #: what the run changed, what it planned but did not change, what it changed then undid
    applied: tuple[str, ...] = ()
    not_applied: tuple[str, ...] = ()
    undone: tuple[str, ...] = ()
    #: where to see more: the `runs.show` command, the report (URL or path on `host`)
    show: str = ""
    report: str = ""
    host: str = ""
    #: the run's final journal hash (end notices only): a copy off the machine
    anchor: str = ""
    #: the events this run tells people who chose none of their own ([notify_on] or default)
    wanted: frozenset[str] = frozenset(CHOOSABLE)
    #: the id of the incident open when the run started ("" for none): in title and payload
    incident: str = ""


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


class PendingNotice(Protocol):
    """A notice on its way (sent in the background: notices never delay a change)."""

    def done(self) -> bool:
        ...

    def wait(self) -> list[Delivery]:
        """Every delivery, waiting at most until the notice's own deadline: a channel still
        sending then is a failed delivery ("timed out after 5s"), never waited on longer."""
        ...


class Notifier(Protocol):
    def dispatch(self, responsibility: str, notice: Notice) -> PendingNotice:
        """Start sending `notice` to the owners of `responsibility` who want its event, and
        return at once. Never raises for a failed delivery: `wait()` returns it. What is sent
        is redacted by the implementation."""
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
