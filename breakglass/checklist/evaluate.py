"""Evaluate one checklist item: run its check, or judge its attestation.

Used by `breakglass check` (one step per item) and by the engine's checklist preconditions, so
an item means the same thing everywhere. A check that raises CouldNotVerify — or anything else —
becomes an UNVERIFIED finding: an item that could not be looked at never passes (DESIGN
principle 1).
"""

from __future__ import annotations

from breakglass.checklist.model import CheckContext, CheckResult, Item
from breakglass.engine.findings import Finding, Outcome, unverified
from breakglass.errors import CouldNotVerify, UsageError


def evaluate(ctx: CheckContext, item: Item) -> CheckResult:
    if item.manual:
        return _attested(ctx, item)
    from breakglass.checklist.checks import load

    fn = load().get(item.id)
    if fn is None:  # a catalog/registry mismatch; tests/checklist keep them in step
        return CheckResult([unverified("NO_CHECK", f"{item.id} has no check function",
                                       "please report this bug", item.id)])
    try:
        result = fn(ctx)
    except CouldNotVerify as exc:
        return CheckResult([unverified(exc.code or "COULD_NOT_VERIFY", str(exc),
                                       exc.action or "fix what prevented the check", item.id)])
    except UsageError:
        raise  # a bad secret ref or setting: the user's input (exit 2), not the system
    except Exception as exc:  # a bug or an unexpected answer: say so, never pass
        return CheckResult([unverified("CHECK_ERROR", f"{item.id}: {type(exc).__name__}: {exc}",
                                       "run again with BREAKGLASS_DEBUG=1 and report it",
                                       item.id)])
    return result


def _attested(ctx: CheckContext, item: Item) -> CheckResult:
    from breakglass.checklist.attest import latest, read_all, rejected
    from breakglass.state import open_state

    state = open_state(ctx.config)
    # Read once per check run (on S3: one listing, not one per item), shared by every item.
    records = ctx.fact("attestations", lambda: read_all(state))
    att = latest(state, item.id, records)
    how = f"`breakglass attest {item.id} --by NAME --note \"…\"` after checking it"
    if att is None:
        # Lines that do not count (their run unfinished, or the line edited after the fact) are
        # named, so nobody wonders why an attestation they remember is ignored.
        refused = rejected(state, item.id, records)
        why = f" ({len(refused)} attestation(s) not counted: {refused[0]})" if refused else ""
        return CheckResult([unverified(
            "NOT_ATTESTED", f"{item.id}: only a person can verify this and nobody has attested "
            f"it{why}", f"{item.action}; then {how}", item.id, rejected=refused)],
            {"rejected": refused})
    evidence = att.to_dict()
    if att.expires <= ctx.now:
        return CheckResult([Finding(
            "ATTESTATION_EXPIRED", f"{item.id}: attested by {att.by}, expired "
            f"{att.expires:%Y-%m-%d}", f"check it again, then {how}", item.severity,
            Outcome.UNVERIFIED, item.id, evidence)], evidence)
    return CheckResult([], evidence)
