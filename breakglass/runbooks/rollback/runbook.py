"""The `rollback` runbook (docs/rollback.md): the fleet of `[releases]` goes back to an earlier
release — the one before `current`, or `--to RELEASE` — one host at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from breakglass.engine.measures import Measured, Quantity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Precondition, Runbook, Step
from breakglass.runbooks.rollback.fleet import Fleet
from breakglass.runbooks.rollback.steps import ChooseStep, HostStep, MigrationStep

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.runs import RunSummary


@register
class Rollback(Runbook):
    """Roll the fleet back to an earlier release, host by host, proving each one healthy."""

    name = "rollback"
    responsibility = "release_signoff"
    # If the rollback itself goes wrong (a migration that cannot be undone), the way back is a
    # restore: it had better have been proven recently.
    checklist = ("backups.restore_tested",)

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        self.fleet = Fleet(config, self.params)

    @property
    def target(self) -> str:
        return "releases"

    @property
    def also_notify(self) -> tuple[str, ...]:
        return ("incident_response",)  # a bad release in production is an incident

    @classmethod
    def measured(cls, summary: RunSummary) -> Sequence[Measured]:
        """How many hosts were switched (and still are), out of the hosts the run planned for:
        the target is every host (which ones moved from which release: the notice's changes)."""
        hosts = [rec for name, rec in summary.steps.items() if name.startswith("host.")]
        if not hosts:
            return []
        moved = [r for r in hosts if r.applied and r.status != "undone" and r.result]
        return [Measured(summary.target, (Quantity("hosts_changed", len(moved), "count",
                                                   len(hosts), label="hosts changed"),))]

    def steps(self) -> Sequence[Step]:
        return [ChooseStep(self.fleet), MigrationStep(self.fleet),
                *(HostStep(self.fleet, name) for name in self.fleet.settings.hosts)]

    def preconditions(self) -> Sequence[Precondition]:
        fleet = self.fleet
        return [
            Precondition("releases.target", "every host is reachable and has the target release",
                         lambda ctx: fleet.choice(ctx)[1]),
            # --force: an unsafe or failing migration check becomes a note, not a stop.
            Precondition("releases.migrations", "the migration check allows the rollback",
                         lambda ctx: fleet.verdict(ctx).findings(), blocking=not fleet.force),
        ]
