"""The checklist items a runbook declares (`Runbook.checklist`) as the engine's Preconditions
(handed to it through Services.checklist, built in breakglass/runner.py).

A checklist precondition means exactly what `breakglass check` means by the item: both call
checklist/evaluate.py. One difference, documented in docs/preconditions.md: an item that is not
configured at all (NOT_CONFIGURED: no [drills.restore] for backups.restore_tested) is a note here,
not a block — a team that never set up drills must still be able to roll back — while `check`
keeps reporting it as unverified.
"""

from __future__ import annotations

from collections.abc import Sequence

from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import SharedCheckContext
from breakglass.engine.findings import Finding, Outcome, Severity, as_note
from breakglass.engine.runbook import Precondition, StepContext
from breakglass.errors import UsageError

#: the code of checklist/model.py `not_configured`
NOT_CONFIGURED = "NOT_CONFIGURED"


def checklist_preconditions(items: Sequence[str]) -> list[Precondition]:
    """One blocking Precondition per checklist item. They share one CheckContext (built from
    the first StepContext that asks), so items of one run reuse each other's facts."""
    shared = SharedCheckContext()

    def make(item_id: str) -> Precondition:
        item = BY_ID.get(item_id)
        if item is None:  # a runbook declared an id items.py does not have: a bug, say so
            raise RuntimeError(f"unknown checklist item {item_id!r} in a runbook's checklist")

        def check(ctx: StepContext) -> Sequence[Finding]:
            try:
                found = evaluate(shared.get(ctx), item).findings
            except UsageError as exc:  # a bad secret ref in the item's settings
                return [Finding("USAGE_ERROR", f"{item_id}: {exc}", "fix the configuration",
                                Severity.ERROR, Outcome.FAILED, item_id)]
            return [as_note(f) if f.code == NOT_CONFIGURED else f for f in found]

        return Precondition(item_id, item.title, check, responsibility=item.responsibility)

    return [make(i) for i in dict.fromkeys(items)]
