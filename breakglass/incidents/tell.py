"""The owners of incident_response are told when an incident opens and when it closes, through
the same channels and the same composer as a run's notices (notify/compose.py, event
"incident"). Every owner is told whatever `notify_on` they chose: an incident is not news one
opts out of. A failed delivery is recorded in the incident's record, never fatal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from breakglass.engine.hooks import Delivery, Notice

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.incidents.record import Incident
    from breakglass.notify.owners import AppriseNotifier

RESPONSIBILITY = "incident_response"


def notice(config: Config, incident: Incident, status: str, message: str) -> Notice:
    return Notice(event="incident", run_id="-", project=config.project.name,
                  environment=config.project.environment, runbook="incident",
                  target=incident.title, mutating=False, status=status, message=message,
                  show=f"breakglass incident.timeline --id {incident.id}",
                  incident=incident.id)


def tell(notifier: AppriseNotifier, note: Notice) -> list[Delivery]:
    """Send `note` to every owner of incident_response; wait (bounded by the channels'
    deadline) so that each delivery can be recorded."""
    people = notifier.owners_of(RESPONSIBILITY)
    if not people:
        return [Delivery("-", "-", False, f"no owner for {RESPONSIBILITY}")]
    return notifier.send(people, note).wait()
