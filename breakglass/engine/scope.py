"""What every part of a run shares: the run's options, the services given to it, and the run
itself (its runbook, journal, id and step context). The executor builds one `RunScope` per run;
the preconditions gate, the notices, the monitoring and the apply/undo core each get it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from breakglass.engine.checkpoints import STEP_BOUNDARIES, Checkpoint
from breakglass.engine.hooks import ErrorReporter, Notifier
from breakglass.engine.progress import DEFAULT_HEARTBEAT
from breakglass.engine.redaction import Redactor
from breakglass.engine.runbook import Precondition, Runbook, StepContext
from breakglass.engine.runs import RunSummary, summarize
from breakglass.secrets import SecretResolver

if TYPE_CHECKING:
    from rich.console import Console

    from breakglass.engine import journal as jr


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    interactive: bool = False  # stdin is a TTY: a mutating run may ask for "yes"
    json_output: bool = False  # people's output is suppressed; the caller prints RunResult
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
    # called at each step's boundaries (engine/checkpoints.py); crash tests hold a run there
    checkpoint: Checkpoint = STEP_BOUNDARIES


@dataclass
class RunScope:
    runbook: Runbook
    options: RunOptions
    services: Services
    journal: jr.Journal
    run_id: str
    state_dir: Path
    ctx: StepContext

    @property
    def console(self) -> Console | None:
        return self.services.console

    def summary(self) -> RunSummary:
        """The run as its journal tells it so far."""
        return summarize(self.journal.path, self.run_id)

    def way_forward(self, action: str, default: str) -> str:
        """What to do when a check could not run (a service unreachable). In a run that can be
        resumed the way forward is this run's resume — not "retry": a fresh run of a half-done
        rotation would start over with a third value."""
        if not self.runbook.mutating or self.options.dry_run:
            return action or default
        if "runs.resume" in action:
            return action
        return (f"{action or 'fix what prevented the check'}; then finish this run: "
                f"`breakglass runs.resume {self.run_id}`")
