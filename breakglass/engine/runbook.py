"""Runbook and Step: the shape every runbook has (pyinfra's fact/operation split).

A Step is a plain object with four phases:

    observe(ctx)            read-only: returns JSON-able facts about the real state
    plan(observed)          pure: what would change, or why nothing needs to (Plan.noop_reason)
    apply(ctx, plan)        makes the change; returns a JSON-able result (journaled, redacted)
    verify(ctx, observed)   proves the effect against a *fresh* observation; returns findings
    undo(ctx)               optional: reverses apply when a later step fails

Steps never print, never read environment variables and never look at a dry-run flag: the
engine (breakglass/engine/executor.py) owns dry-run, confirmation, journaling, redaction,
notification, resume and undo. A step makes resume safe by observing: when `apply` already
happened before a crash, `observe` sees it and `plan` returns a no-op with the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from breakglass.engine.findings import Finding
from breakglass.engine.progress import ProgressEvent, Unit
from breakglass.engine.redaction import Redactor

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.measures import Measured
    from breakglass.engine.runs import RunSummary
    from breakglass.secrets import SecretResolver


@dataclass(frozen=True)
class Action:
    """One change a step will make. `target` names what is touched (a host, a key id, a table);
    destructive actions are marked in the plan."""

    description: str
    target: str = ""
    destructive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "target": self.target,
                "destructive": self.destructive}


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    noop_reason: str | None = None

    @property
    def is_noop(self) -> bool:
        return not self.actions

    @classmethod
    def noop(cls, reason: str) -> Plan:
        return cls((), reason)

    @classmethod
    def of(cls, *actions: Action) -> Plan:
        return cls(tuple(actions), None)

    def to_dict(self) -> dict[str, Any]:
        return {"actions": [a.to_dict() for a in self.actions], "noop_reason": self.noop_reason}


@dataclass
class StepContext:
    """What a step may use. Built by the executor; steps must not reach for globals."""

    run_id: str
    runbook: str
    config: Config
    params: Mapping[str, Any]
    state_dir: Path
    redactor: Redactor
    secrets: SecretResolver
    # step name -> the result its `apply` returned (rebuilt from the journal on resume)
    outputs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    log_sink: Callable[[str, Mapping[str, Any]], None] | None = None
    progress_sink: Callable[[ProgressEvent], None] | None = None

    def progress(self, label: str, done: float, total: float | None = None,
                 unit: Unit = "items") -> None:
        """Report progress of long work (bytes downloaded, data items restored); the engine
        shows it to people and nowhere else (engine/progress.py). Cheap to call often."""
        if self.progress_sink is not None:
            self.progress_sink(ProgressEvent(label, done, total, unit))

    @contextmanager
    def activity(self, label: str) -> Iterator[None]:
        """A phase with nothing to count (starting a server, decrypting, reading a table of
        contents): people see a spinner naming it while it lasts, so no wait is silent."""
        if self.progress_sink is not None:
            self.progress_sink(ProgressEvent(label, unit="phase"))
        try:
            yield
        finally:
            if self.progress_sink is not None:
                self.progress_sink(ProgressEvent(label, unit="phase", ended=True))

    def log(self, message: str, **data: Any) -> None:
        """Journal a note (redacted by the journal). Steps never print."""
        if self.log_sink is not None:
            self.log_sink(message, data)

    def secret(self, ref: str) -> str:
        return self.secrets.resolve(ref)

    def register_secret(self, value: str | bytes | None) -> None:
        """Register a value the step produced or read (a new key, a password) with the redactor
        before it can reach any output."""
        self.redactor.register(value)


class Step(ABC):
    #: stable identifier within the runbook (used as the journal key; never change it)
    name: str = ""
    #: short title for people
    title: str = ""

    @abstractmethod
    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        ...

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.noop("read-only check")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any] | None:
        raise NotImplementedError(f"step {self.name} has actions but no apply()")

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        return ()

    def undo(self, ctx: StepContext) -> None:
        raise NotImplementedError

    @property
    def undoable(self) -> bool:
        return type(self).undo is not Step.undo


@dataclass(frozen=True)
class Precondition:
    """A checklist item a runbook relies on, checked by the engine before any step.

    A failing *blocking* precondition stops a mutating runbook before it applies anything (the
    plan is still shown). A non-blocking one is a note for mutating runbooks — an incident
    response must not wait for paperwork — and a finding like any other for read-only ones."""

    item: str
    title: str
    check: Callable[[StepContext], Sequence[Finding]]
    blocking: bool = True
    #: whose owners are told, besides the runbook's, when `--override ITEM` lets a failing one
    #: through (a checklist item's own responsibility; None: the runbook's only)
    responsibility: str | None = None


class Runbook(ABC):
    #: dotted CLI name, e.g. "backup.verify"
    name: ClassVar[str]
    #: the owners' responsibility that is notified (DESIGN principle 7)
    responsibility: ClassVar[str]
    #: read-only runbooks skip confirmation and never call apply()
    mutating: ClassVar[bool] = True
    #: checklist items (breakglass/checklist/items.py) this runbook relies on: the engine checks
    #: each one before any step, like the checklist's `check` command would (docs/preconditions.md)
    checklist: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        self.config = config
        self.params = dict(params)

    @property
    @abstractmethod
    def target(self) -> str:
        """What this run acts on; together with `name` it is the lock key (e.g. "backups.main")."""

    @abstractmethod
    def steps(self) -> Sequence[Step]:
        ...

    @property
    def monitor_slug(self) -> str | None:
        """A Sentry Crons monitor for scheduled runbooks (e.g. the monthly restore drill): the
        engine checks in when a run starts and ends, so a drill that stops running alerts."""
        return None

    @property
    def monitor_config(self) -> Mapping[str, Any] | None:
        """Sentry Crons monitor settings sent with the check-ins (e.g. {"schedule": {"type":
        "crontab", "value": "0 3 1 * *"}}), so the monitor exists without clicking in Sentry."""
        return None

    @property
    def also_notify(self) -> tuple[str, ...]:
        """Further responsibilities whose owners get this run's notices (a leaked secret is an
        incident too: `rotate --leaked` tells incident_response as well as key_rotation)."""
        return ()

    @classmethod
    def measured(cls, summary: RunSummary) -> Sequence[Measured]:
        """What a run of this runbook measured, one `Measured` per subject (a backup set), each
        number typed with its unit and target (engine/measures.py). From this one declaration
        come the `measures` of --json, the metrics textfile's gauges and the notice's key
        numbers. Read from the journal only (a class method: runs.show gives the same numbers
        later, without the runbook's config); must not raise for a run that ended early (a
        number not reached is None)."""
        return ()

    @property
    def containment(self) -> str | None:
        """The step that stops the harm in an incident runbook (lockout: "disable"). Owners'
        notices wait until it is done, then go out in the background: the containment never
        waits on a notice channel (DESIGN principle 9)."""
        return None

    def closing_findings(self, ctx: StepContext, summary: RunSummary) -> Sequence[Finding]:
        """What the run must say however it ended (succeeded, failed at any step, blocked,
        rolled back), checked against real state as it ends; shown first, journaled, put in
        the report and the owners' notice. `rotate --leaked` says here whether the leaked value
        is still live. A dry run does not ask. Must not raise: a check that cannot run is an
        `unverified` finding."""
        return ()

    def preconditions(self) -> Sequence[Precondition]:
        """Runbook-specific preconditions (the target release exists, room for a new secret
        value), beyond the engine's own (an owner for its responsibility) and the `checklist`
        items; see engine/preconditions.py."""
        return ()
