"""What is still open when an incident closes: the postmortem's "Follow-ups".

One function per kind, registered with `@source`; each reads the incident's facts and yields
`FollowUp`s with a stable code, what is open and what to do. A new kind (a break-glass review
left undone, a history purge not run yet) is one more function here, nothing else changes.

    RUN_UNFINISHED    a tagged run changed something and did not end succeeded (interrupted,
                      failed, undo incomplete): finish it or undo it
    OVERRIDE_REVIEW   a failing checklist item was let through with --override: make it pass
    ITEM_FAILING      a checklist item the incident touched fails now (checked at close)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from breakglass.engine import journal as jr

if TYPE_CHECKING:
    from breakglass.checklist.model import CheckContext
    from breakglass.engine.runs import RunSummary
    from breakglass.incidents.timeline import Timeline


@dataclass(frozen=True)
class FollowUp:
    code: str
    what: str
    action: str
    subject: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Facts:
    """What a follow-up source may read: the timeline (incident, tagged runs) and, for the
    checklist, a CheckContext built once by the caller."""

    timeline: Timeline
    checks: CheckContext | None = None
    #: checklist item id -> its last result in the incident's runs ("ok", "failed",
    #: "overridden", "attested"), oldest first
    touched: dict[str, str] = field(default_factory=dict)


Source = Callable[[Facts], Iterable[FollowUp]]
SOURCES: list[Source] = []


def source(fn: Source) -> Source:
    SOURCES.append(fn)
    return fn


def collect(facts: Facts) -> list[FollowUp]:
    return [f for src in SOURCES for f in src(facts)]


def changes_made(runs: Iterable[RunSummary]) -> Iterator[RunSummary]:
    """The tagged runs that could change something (mutating, not a dry run)."""
    return (s for s in runs if s.mutating and not s.dry_run)


@source
def unfinished_runs(facts: Facts) -> Iterator[FollowUp]:
    for s in changes_made(facts.timeline.runs):
        # A run that stopped before changing anything (refused plan, blocked) leaves nothing
        # half done.
        if s.resume_mode is None or not s.applied_steps():
            continue
        said = s.status or "unfinished"
        yield FollowUp("RUN_UNFINISHED", f"{s.runbook} on {s.target} ended {said!r}: what it "
                       "changed may be half done", f"finish it with `breakglass runs.resume "
                       f"{s.run_id}` or reverse it with `breakglass runs.undo {s.run_id}`",
                       s.run_id)


@source
def overrides(facts: Facts) -> Iterator[FollowUp]:
    for s in facts.timeline.runs:
        for ev in jr.read_events(s.path):
            d = ev.get("data") or {}
            if ev.get("type") == "precondition_overridden" and isinstance(d, dict):
                yield FollowUp("OVERRIDE_REVIEW", f"{d.get('item')} was failing and was "
                               f"overridden by {d.get('by')} ({d.get('because')!r}) in run "
                               f"{s.run_id}", f"make {d.get('item')} pass (`breakglass check`) "
                               "and review the change made past it", str(d.get("item")))


@source
def failing_items(facts: Facts) -> Iterator[FollowUp]:
    if facts.checks is None or not facts.touched:
        return
    from breakglass.checklist.evaluate import evaluate
    from breakglass.checklist.items import BY_ID

    for item_id in facts.touched:
        found = [f for f in evaluate(facts.checks, BY_ID[item_id]).findings if f.counts]
        if found:
            yield FollowUp("ITEM_FAILING", f"{item_id} fails now: {found[0].message}",
                           found[0].action, item_id)


def touched_items(runs: Iterable[RunSummary]) -> dict[str, str]:
    """The checklist items the incident's runs looked at (preconditions, overrides, attest
    runs), each with its last result."""
    from breakglass.checklist.items import BY_ID

    out: dict[str, str] = {}
    for s in runs:
        if s.runbook == "attest" and s.params.get("item") in BY_ID and s.status == "succeeded":
            out[str(s.params["item"])] = "attested"
        for item, p in s.preconditions.items():
            if item in BY_ID:
                out[item] = ("overridden" if p.get("overridden") else
                             "ok" if p.get("ok") else "failed")
    return out
