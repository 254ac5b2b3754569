"""Preconditions the engine adds to every runbook: an owner for its responsibility (DESIGN
principle 7: owners are told), and the checklist items it declares (`Runbook.checklist`).

A checklist precondition means exactly what `breakglass check` means by the item: both call
checklist/evaluate.py. One difference, documented in docs/preconditions.md: an item that is not
configured at all (NOT_CONFIGURED: no [drills.restore] for backups.restore_tested) is a note here,
not a block — a team that never set up drills must still be able to roll back — while `check`
keeps reporting it as unverified.
"""

from __future__ import annotations

from collections.abc import Sequence

from breakglass.engine.findings import Finding, Outcome, Severity, as_note
from breakglass.engine.runbook import Precondition, StepContext
from breakglass.errors import UsageError

#: the code of checklist/model.py `not_configured`
NOT_CONFIGURED = "NOT_CONFIGURED"


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


def checklist_preconditions(items: Sequence[str]) -> list[Precondition]:
    """One blocking Precondition per checklist item. They share one CheckContext (built from
    the first StepContext that asks), so items of one run reuse each other's facts."""
    from breakglass.checklist.items import BY_ID
    from breakglass.checklist.model import SharedCheckContext

    shared = SharedCheckContext()

    def make(item_id: str) -> Precondition:
        item = BY_ID.get(item_id)
        if item is None:  # a runbook declared an id items.py does not have: a bug, say so
            raise RuntimeError(f"unknown checklist item {item_id!r} in a runbook's checklist")

        def check(ctx: StepContext) -> Sequence[Finding]:
            from breakglass.checklist.evaluate import evaluate

            try:
                found = evaluate(shared.get(ctx), item).findings
            except UsageError as exc:  # a bad secret ref in the item's settings
                return [Finding("USAGE_ERROR", f"{item_id}: {exc}", "fix the configuration",
                                Severity.ERROR, Outcome.FAILED, item_id)]
            return [as_note(f) if f.code == NOT_CONFIGURED else f for f in found]

        return Precondition(item_id, item.title, check, responsibility=item.responsibility)

    return [make(i) for i in dict.fromkeys(items)]
