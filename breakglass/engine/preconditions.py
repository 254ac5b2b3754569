"""The precondition the engine adds to every runbook: an owner for its responsibility (DESIGN
principle 7: owners are told). The checklist items a runbook declares (`Runbook.checklist`) are
checked by the checklist itself (checklist/preconditions.py), handed to the engine through
Services.checklist: the engine never imports the checklist."""

from __future__ import annotations

from collections.abc import Sequence

from breakglass.engine.findings import Finding, Severity
from breakglass.engine.runbook import Precondition, StepContext


def owner_precondition(responsibility: str) -> Precondition:
    """Someone owns `responsibility` and has a channel to be told on. Non-blocking: a missing
    owner must never stop an incident response, but a read-only check reports it."""

    def check(ctx: StepContext) -> Sequence[Finding]:
        people = ctx.config.owners.get(responsibility, [])
        if not people:
            return [Finding(
                "NO_OWNER", f"nobody owns {responsibility}: no one is told when this runbook "
                "fails", f'add `{responsibility} = ["name"]` under [owners] and a [people.name] '
                "with `notify = [...]`; `breakglass notify.test` proves it arrives",
                Severity.WARNING, subject=f"owners.{responsibility}")]
        return [Finding(
            "NO_NOTICE_CHANNEL", f"{person} owns {responsibility} but has no notify channel",
            f"add `notify = [...]` (an apprise URL or a reference to one) to [people.{person}]",
            Severity.WARNING, subject=f"people.{person}")
            for person in people
            if person in ctx.config.people and not ctx.config.people[person].notify]

    return Precondition(f"owners.{responsibility}", f"an owner of {responsibility} is told",
                        check, blocking=False)
