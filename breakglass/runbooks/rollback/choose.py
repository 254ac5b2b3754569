"""Which release the fleet goes back to, and every reason to refuse (pure: no I/O).

Without `--to` the target is the newest release older than the one the fleet runs — "the one
before current" — and the fleet must agree on `current` (a fleet already split across releases
is refused: only a person knows which side is right, and says so with `--to`). With `--to` the
target is that release, whatever each host runs now (a split fleet ends on one release).

A rollback that cannot reach every host is refused before anything changes: rolling back the
hosts we can see would leave the fleet split, the one state this runbook promises never to
leave behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass.engine.findings import Finding, Outcome, Severity, unverified
from breakglass.errors import BreakglassError, CouldNotVerify
from breakglass.runbooks.rollback.layout import HostReleases, release_key


@dataclass(frozen=True)
class HostRead:
    """One host's listing, or why it could not be read."""

    host: str
    label: str
    releases: HostReleases | None = None
    error: BreakglassError | None = None


@dataclass(frozen=True)
class Choice:
    """The target release and the release each host ran when the rollback started (what an
    undo goes back to). Pinned in the journal by the `choose` step, so a resumed run keeps
    going to the same place even though "the one before current" has moved meanwhile."""

    target: str
    start: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "start": dict(self.start)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Choice:
        return cls(str(d["target"]), {str(k): str(v) for k, v in dict(d["start"]).items()})


def choose(reads: Sequence[HostRead], to: str | None, pinned: Choice | None = None,
           run_id: str = "") -> tuple[Choice | None, list[Finding]]:
    """The choice, or None and the findings that refuse it (every host's problem, not just
    the first: the person fixing them wants the whole list). `pinned`: the run `run_id` has
    begun, so a refusal no longer means "nothing was changed"."""
    tail = (f"the rollback has begun (hosts may run different releases until it finishes): "
            f"`breakglass runs.resume {run_id}` once this is fixed" if pinned is not None
            else "nothing was changed on any host (a partial fleet is never rolled back)")
    findings = [_unreachable(r, tail) for r in reads if r.error is not None]
    listed = [r.releases for r in reads if r.releases is not None]
    findings += [Finding("RELEASE_LAYOUT_BROKEN", f"{h.host}: {h.problem}",
                         "fix the layout on that host (BASE/releases/<id>/ and a `current` "
                         "symlink to one of them), or correct [releases] path",
                         Severity.ERROR, Outcome.FAILED, h.host, h.to_dict())
                 for h in listed if h.problem is not None]
    if findings and pinned is not None:
        findings.append(_paused(reads, pinned, run_id))
    if findings:
        return None, findings
    if pinned is not None:
        target, start = pinned.target, dict(pinned.start)
    else:
        start = {h.host: h.current for h in listed if h.current is not None}
        if to is not None:
            target = to
        else:
            on = sorted(set(start.values()), key=release_key)
            if len(on) > 1:
                where = ", ".join(f"{h} on {r}" for h, r in start.items())
                return None, [Finding(
                    "FLEET_SPLIT", f"the hosts run different releases ({where})",
                    "decide which release is right and run `breakglass rollback --to RELEASE`",
                    Severity.ERROR, Outcome.FAILED, "releases", {"current": start})]
            current = on[0]
            older = {r for h in listed for r in h.releases
                     if release_key(r) < release_key(current)}
            if not older:
                return None, [Finding(
                    "NO_PREVIOUS_RELEASE", f"no release older than {current} on any host",
                    "nothing to roll back to: deploy a fix forward, or name a release with --to",
                    Severity.ERROR, Outcome.FAILED, "releases", {"current": current})]
            target = max(older, key=release_key)
    missing = [Finding("ROLLBACK_TARGET_MISSING",
                       f"{h.host}: release {target} is not in {h.base}/releases/",
                       f"deploy {target} to {h.host} (or pick a release every host has with "
                       f"--to); {tail}",
                       Severity.ERROR, Outcome.FAILED, h.host,
                       {"releases": list(h.releases), "target": target})
               for h in listed if target not in h.releases]
    if missing:
        return None, missing
    return Choice(target, start), []


def _paused(reads: Sequence[HostRead], pinned: Choice, run_id: str) -> Finding:
    """Where each host stands when a rollback that has begun cannot go on."""
    where = "; ".join(_where(r, pinned) for r in reads)
    return unverified("ROLLBACK_PAUSED", f"the rollback to {pinned.target} has begun and cannot "
                      f"go on: {where}", "fix the findings above, then `breakglass runs.resume "
                      f"{run_id}` rolls the rest (or `breakglass runs.undo {run_id}` puts the "
                      "changed hosts back)", "releases")


def _where(read: HostRead, pinned: Choice) -> str:
    if read.releases is None:
        return f"{read.host}: cannot be read"
    current = read.releases.current
    which = (" (the target)" if current == pinned.target
             else " (as before)" if current == pinned.start.get(read.host) else "")
    owed = " (restart owed)" if read.releases.pending else ""
    return f"{read.host} on {current}{which}{owed}"


def _unreachable(read: HostRead, tail: str) -> Finding:
    exc = read.error
    code = exc.code if isinstance(exc, CouldNotVerify) else "HOST_UNREACHABLE"
    action = exc.action if isinstance(exc, CouldNotVerify) and exc.action else "check the host"
    return unverified(code, f"{read.host}: cannot be read: {exc}",
                      f"{action}; {tail}", read.host)
