"""The `check` runbook: `breakglass check [--gate G] [--only ID,…] [--allow-unverified ID,…]`.

A read-only runbook (the engine observes and verifies every step and keeps going after a finding;
its exit code is 1 for any failed item, else 3 for any item that could not be verified, else 0).
One step per selected item, in checklist order, named by the item id. Each step's observe calls
`evaluate()` (breakglass/checklist/evaluate.py) with ONE CheckContext shared by every step of the
run, so that the login page is fetched once and each host is asked once.

`--allow-unverified ID`: the item's UNVERIFIED findings become INFO notes that say they were
allowed (a note never changes the exit code); its FAILED findings still fail. It is for an item
a pipeline cannot look at (no SSH from CI), named one by one so nothing else is waved through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from breakglass.checklist import items as catalog
from breakglass.checklist.attest import suggest
from breakglass.checklist.model import Gate, Item, SharedCheckContext
from breakglass.engine.findings import Finding, Outcome, as_note
from breakglass.engine.measures import Measured, Quantity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Plan, Runbook, Step, StepContext
from breakglass.engine.runs import RunSummary
from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.config import Config

#: the evidence key that marks a finding turned into a note by --allow-unverified
ALLOWED = "allowed_unverified"
#: the journal note (a `log` event of the item's step) that carries an item's evidence
EVIDENCE = "item evidence"
GATES = tuple(g.value for g in Gate)


def parse_gate(gate: str | None) -> Gate | None:
    if gate is None or gate == "" or gate == "all":
        return None
    try:
        return Gate(gate)
    except ValueError:
        raise UsageError(f"--gate {gate!r}: unknown gate; use one of {', '.join(GATES)} (or "
                         "none for every item)") from None


def known_ids(option: str, values: Sequence[str] | None) -> list[str]:
    """`values` stripped and deduplicated; an id the catalog does not have is a usage error that
    names the closest ones."""
    ids = [v.strip() for v in values or () if v.strip()]
    for item_id in ids:
        if item_id not in catalog.BY_ID:
            raise UsageError(f"{option} {item_id}: unknown checklist item"
                             f"{suggest(item_id, list(catalog.BY_ID))}")
    return list(dict.fromkeys(ids))


def select(gate: Gate | None, only: Sequence[str] | None) -> list[Item]:
    """The items of `gate` (every item without one), narrowed to `only`, in checklist order."""
    chosen = catalog.in_gate(gate)
    if not only:
        return chosen
    wanted = set(known_ids("--only", only))
    outside = [i for i in wanted if catalog.BY_ID[i] not in chosen]
    if outside and gate is not None:
        raise UsageError(f"--only {outside[0]}: not in gate {gate.value} (its gates: "
                         f"{', '.join(sorted(g.value for g in catalog.BY_ID[outside[0]].gates))})")
    return [i for i in chosen if i.id in wanted]


@register
class Check(Runbook):
    """Check the security checklist: each item of the gate, verified or attested."""

    name = "check"
    responsibility = "release_signoff"
    mutating = False

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        self.gate = parse_gate(self.params.get("gate"))
        self.items = select(self.gate, self.params.get("only"))
        self.allowed = set(known_ids("--allow-unverified", self.params.get("allow_unverified")))
        self._shared = SharedCheckContext()

    @property
    def target(self) -> str:
        return self.gate.value if self.gate else "all"

    def steps(self) -> Sequence[Step]:
        return [ItemStep(item, self._shared, item.id in self.allowed) for item in self.items]

    @classmethod
    def measured(cls, summary: RunSummary) -> Sequence[Measured]:
        """Items run, failing and could not be verified (one step per item)."""
        failing = unverified = 0
        for step in summary.steps.values():
            counted = [f for f in step.findings if f.counts]
            failing += any(f.outcome == Outcome.FAILED for f in counted)
            unverified += bool(counted) and all(f.outcome == Outcome.UNVERIFIED
                                                for f in counted)
        return [Measured(summary.target, (
            Quantity("items", len(summary.steps), "count", gauge=True),
            Quantity("items_failing", failing, "count", label="items failing", gauge=True),
            Quantity("items_unverified", unverified, "count", label="items not verified",
                     gauge=True)), metric="check")]


class ItemStep(Step):
    """Evaluate one item. observe: run its check (or read its attestation) and journal the
    evidence; verify: its findings, with UNVERIFIED ones turned into notes when allowed."""

    def __init__(self, item: Item, shared: SharedCheckContext, allow_unverified: bool) -> None:
        self.item, self.shared, self.allow_unverified = item, shared, allow_unverified
        self.name = item.id
        self.title = item.title

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        from breakglass.checklist.evaluate import evaluate

        result = evaluate(self.shared.get(ctx), self.item)
        # The evidence is journaled as a note of this step: a passing item has no findings to
        # carry it, and `check --json` and JUnit read it back from the journal.
        ctx.log(EVIDENCE, item=self.item.id, evidence=result.evidence)
        return {"findings": [f.to_dict() for f in result.findings], "evidence": result.evidence}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        how = "check" if self.item.check else "attestation"
        return Plan.noop(f"read-only: {self.item.id} by {how}")

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        found = [Finding.from_dict(f) for f in observed["findings"]]
        if not self.allow_unverified:
            return found
        return [_allowed(f, self.item.id) if f.outcome is Outcome.UNVERIFIED else f
                for f in found]


def _allowed(f: Finding, item_id: str) -> Finding:
    # A note in the engine's sense (Finding.counts is False). The code is kept so that scripts
    # still see what could not be looked at.
    return replace(as_note(f), message=f"allowed (--allow-unverified {item_id}): {f.message}",
                   evidence={**f.evidence, ALLOWED: True})
