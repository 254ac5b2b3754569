"""The preconditions gate: before a run plans, check the engine's owner check, the runbook's own
preconditions and its checklist items; journal and show each. A failing blocking one stops a
mutating run's apply unless `--override ITEM --because WHY` names it (docs/preconditions.md)."""

from __future__ import annotations

from collections.abc import Mapping

from breakglass.engine import render as out
from breakglass.engine.findings import Finding, Outcome, Severity, as_note, unverified
from breakglass.engine.notices import Notices
from breakglass.engine.preconditions import owner_precondition
from breakglass.engine.runbook import Precondition, Runbook
from breakglass.engine.scope import RunScope, Services
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.state.base import whoami


def preconditions_of(runbook: Runbook, services: Services) -> list[Precondition]:
    """Every precondition a run of `runbook` checks: the engine's owner check, the runbook's
    own, then its checklist items."""
    return [owner_precondition(runbook.responsibility), *runbook.preconditions(),
            *services.checklist(runbook.checklist)]


def check_overrides(runbook: Runbook, overrides: Mapping[str, str], services: Services) -> None:
    """UsageError (exit 2) unless each override names a blocking precondition of this run and
    says why; the message lists what can be overridden. Builds the run's preconditions first,
    so Services without the checklist fail here, before the run takes a lease or a journal."""
    items = [p.item for p in preconditions_of(runbook, services) if p.blocking]
    if not overrides:
        return
    listed = ", ".join(items) if items else "none"
    for item, because in overrides.items():
        if not runbook.mutating:
            raise UsageError(f"--override {item}: {runbook.name} changes nothing, so nothing "
                             "is blocked: there is nothing to override")
        if item not in items:
            raise UsageError(f"--override {item}: not a precondition of this {runbook.name} "
                             f"run; its preconditions: {listed}")
        if not because.strip():
            raise UsageError(f"--override {item} needs --because \"why\" (journaled and sent "
                             "to the owners)")


class PreconditionGate:
    def __init__(self, scope: RunScope, notices: Notices) -> None:
        self.scope, self.notices = scope, notices

    def check(self) -> list[str]:
        """Check every precondition; journal and show each. Returns the items that block
        applying (failing, blocking, in a mutating runbook)."""
        rb, options, console = self.scope.runbook, self.scope.options, self.scope.console
        blocked: list[str] = []
        for pre in preconditions_of(rb, self.scope.services):
            try:
                found = list(pre.check(self.scope.ctx))
            except CouldNotVerify as exc:
                found = [unverified(exc.code or "COULD_NOT_VERIFY", str(exc),
                                    self.scope.way_forward(exc.action, "fix what prevented "
                                                           "the check"), pre.item)]
            failing = any(f.counts for f in found)
            # Not set up at all is neither a pass (✓) nor a block: say so (docs/preconditions.md)
            unset = not failing and any(f.code.endswith("NOT_CONFIGURED") for f in found)
            because = options.overrides.get(pre.item)
            overridden = failing and pre.blocking and rb.mutating and because is not None
            detail = found[0].message if found else ""
            if rb.mutating and not pre.blocking:
                found = [as_note(f) for f in found]
            elif overridden:
                assert because is not None
                original, found = found, _overridden(pre, because, found)
                detail = f"overridden (--because {because!r}): {detail}"
            elif failing and pre.blocking and rb.mutating:
                blocked.append(pre.item)
            self.scope.journal.append("precondition", {
                "item": pre.item, "title": pre.title, "blocking": pre.blocking,
                "ok": not failing, "not_configured": unset, "overridden": overridden,
                "findings": [f.to_dict() for f in found]})
            if overridden:
                self._override_event(pre, str(because), original)
            if console is not None:
                out.precondition(console, pre.item, pre.title, not failing, detail,
                                 not_configured=unset)
        return blocked

    def _override_event(self, pre: Precondition, because: str, found: list[Finding]) -> None:
        self.scope.journal.append("precondition_overridden", {
            "item": pre.item, "because": because, "by": whoami(),
            "findings": [f.to_dict() for f in found]})
        first = next((f.message for f in found if f.counts), "")
        self.notices.notify("approval", f"precondition {pre.item} overridden",
                            message=f"{pre.item} ({pre.title}) failed: {first}. Overridden by "
                                    f"{whoami()} with --because {because!r}.",
                            extra=(pre.responsibility,) if pre.responsibility else ())


def _overridden(pre: Precondition, because: str, found: list[Finding]) -> list[Finding]:
    """The findings of an overridden precondition, as notes (they no longer decide the run's
    verdict) headed by one saying who let it through and why — in every report."""
    head = Finding("PRECONDITION_OVERRIDDEN", f"{pre.item} failed and was overridden: "
                   f"{because}", "make the item pass (see the findings below), then stop "
                   "overriding it", Severity.INFO, Outcome.NOTE, pre.item,
                   {"item": pre.item, "because": because, "by": whoami(),
                    "codes": [f.code for f in found if f.counts]})
    return [head, *(as_note(f) for f in found)]
