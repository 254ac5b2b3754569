"""Findings: what a check or a verification found, with a stable code and the next action.

A finding's `code` is stable (documented in docs/, used by scripts and alerts); its `message`
says what was seen, its `action` what the user should do next. Its `outcome` is one of four:

    ok          a check that passed, with its proof (BACKUP_OK, STRUCTURE_OK, OLD_KEY_REFUSED)
    note        told, journaled and reported, never a verdict ("no manifest: checksum not
                compared", an overridden precondition)
    failed      ran and found a problem (exit 1)
    unverified  could not run (exit 3)

`severity` says how bad a failed or unverified finding is; an ok or a note is always `info`, and
an `info` finding is never "failed" (it is a note): that holds for every finding however it was
built, so a passing check can never be shown as a failure (docs/runs.md, "Output").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from breakglass.errors import EXIT_FINDING, EXIT_OK, EXIT_UNVERIFIED, BreakglassError


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class Outcome(StrEnum):
    OK = "ok"
    NOTE = "note"
    FAILED = "failed"
    UNVERIFIED = "unverified"


#: outcomes that decide a verdict (the others are evidence)
COUNTING = frozenset({Outcome.FAILED, Outcome.UNVERIFIED})


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    action: str
    severity: Severity = Severity.ERROR
    outcome: Outcome = Outcome.FAILED
    subject: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # One meaning per outcome, whatever the caller (or an older journal) passed: an info
        # finding that "failed" is a note, and an ok or a note carries no severity of its own.
        if self.outcome is Outcome.FAILED and self.severity is Severity.INFO:
            object.__setattr__(self, "outcome", Outcome.NOTE)
        if self.outcome not in COUNTING and self.severity is not Severity.INFO:
            object.__setattr__(self, "severity", Severity.INFO)

    @property
    def counts(self) -> bool:
        """True when this finding changes the verdict (a failure or could-not-verify)."""
        return self.outcome in COUNTING

    @property
    def label(self) -> str:
        """The one word people read: ok, note, unverified, or a failure's severity."""
        return self.severity.value if self.outcome is Outcome.FAILED else self.outcome.value

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["outcome"] = self.outcome.value
        d["evidence"] = dict(self.evidence)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            code=d["code"],
            message=d["message"],
            action=d["action"],
            severity=Severity(d.get("severity", "error")),
            outcome=Outcome(d.get("outcome", "failed")),
            subject=d.get("subject", ""),
            evidence=dict(d.get("evidence", {})),
        )


class FindingError(BreakglassError):
    """An error that is a finding: raised by a step (e.g. an undo that could not put things
    back) whose failure has its own code, evidence and next action — a recovery plan in
    `evidence["recovery_plan"]` is printed whole (engine/render.py)."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def unverified(code: str, message: str, action: str, subject: str = "", **evidence: Any) -> Finding:
    """A finding for a check that could not run (exit 3 unless something failed outright)."""
    return Finding(code, message, action, Severity.ERROR, Outcome.UNVERIFIED, subject, evidence)


def as_ok(f: Finding) -> Finding:
    """`f` as a check that passed, with what proves it (BACKUP_OK, OLD_KEY_REFUSED)."""
    return replace(f, severity=Severity.INFO, outcome=Outcome.OK)


def as_note(f: Finding) -> Finding:
    """`f` as a note: told, journaled and reported, but it changes no verdict and blocks
    nothing."""
    return replace(f, severity=Severity.INFO, outcome=Outcome.NOTE)


def verdict(findings: Iterable[Finding]) -> str:
    """'passed', 'failed' or 'could not verify' for a set of findings."""
    code = exit_code(findings)
    return {EXIT_OK: "passed", EXIT_FINDING: "failed", EXIT_UNVERIFIED: "could not verify"}[code]


def exit_code(findings: Iterable[Finding]) -> int:
    """1 if anything failed (a definite problem is the most actionable news), else 3 if anything
    could not be verified, else 0. INFO notes never count."""
    fs = [f for f in findings if f.counts]
    if any(f.outcome is Outcome.FAILED for f in fs):
        return EXIT_FINDING
    if fs:
        return EXIT_UNVERIFIED
    return EXIT_OK
