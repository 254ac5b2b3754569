"""The checklist's values: an Item (one thing the seed's checklist asks for), how it is verified,
and the context and result of an automated check.

    Item            id, title, section, severity, responsibility, gates, verification
    CheckContext    what a check may use: config, secrets, state_dir, redactor, a fact cache
    CheckResult     findings + evidence (JSON-able; journaled and redacted by the engine)
    check(ID)       decorator registering the function that verifies item ID

A check observes real state (an HTTP response, `sshd -T` on each host, pg_roles) and judges it.
It never changes anything. It raises CouldNotVerify (or returns an UNVERIFIED finding) when it
could not look; it never returns an empty result for something it did not see: an empty
CheckResult means "looked, and it is fine", so its evidence says what was looked at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from breakglass.engine.findings import Finding, Severity, unverified

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.redaction import Redactor
    from breakglass.engine.runbook import StepContext
    from breakglass.secrets import SecretResolver

T = TypeVar("T")


class Gate(StrEnum):
    """When an item is checked (`breakglass check --gate …`): before the first launch, before
    each release, and in the monthly audit. The seed: "Use this page as both a release gate and a
    monthly audit"; "Run this before launch"."""

    LAUNCH = "launch"
    RELEASE = "release"
    MONTHLY = "monthly"


ALL_GATES = frozenset(Gate)


@dataclass(frozen=True)
class Item:
    """One checklist item. `check` True: a command verifies it (a function registered with
    @check(id)); False: only a person can, by `breakglass attest ID --by NAME`, and the
    attestation expires after `attest_days` unless a shorter --expires is given."""

    id: str
    title: str
    #: the seed's section (1-15) that explains it
    section: int
    #: the line(s) of the seed's final 23-item checklist it covers (1-based; empty: a
    #: section's check that the final list only implies)
    final: tuple[int, ...]
    severity: Severity
    #: the owners' responsibility (config [owners]) told about it and allowed to attest it
    responsibility: str
    gates: frozenset[Gate]
    check: bool
    #: what to do when it fails (a check's findings say it more exactly)
    action: str
    attest_days: int = 30

    @property
    def manual(self) -> bool:
        return not self.check

    @property
    def gate_names(self) -> list[str]:
        """The item's gates in the order people run them: launch, release, monthly."""
        return [g.value for g in Gate if g in self.gates]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "section": self.section,
                "final": list(self.final), "severity": self.severity.value,
                "responsibility": self.responsibility,
                "gates": self.gate_names,
                "verified_by": "check" if self.check else "attestation",
                "attest_days": self.attest_days if self.manual else None}


@dataclass
class CheckResult:
    """What a check found (`findings`: empty when the item holds) and what it looked at
    (`evidence`: headers seen, `sshd -T` values per host, the role's attributes…). Both are
    journaled through the redactor; still, never put a secret value in either."""

    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckContext:
    """What a check may use; built once per `check` run (or precondition pass) and shared by all
    the checks of that run, so that the login page is fetched once and each host is asked once.

    `fact(key, produce)` memoizes `produce()` (its value or its exception) under `key`; it is
    thread-safe, so checks may fan out over hosts with a pool."""

    config: Config
    secrets: SecretResolver
    state_dir: Path
    redactor: Redactor
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    log: Callable[[str], None] | None = None
    _facts: dict[str, tuple[bool, Any]] = field(default_factory=dict, repr=False)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fact(self, key: str, produce: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._facts:
                try:
                    self._facts[key] = (True, produce())
                except Exception as exc:  # remembered: the next check sees the same failure
                    self._facts[key] = (False, exc)
            ok, value = self._facts[key]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def note(self, message: str) -> None:
        if self.log is not None:
            self.log(message)


class SharedCheckContext:
    """One CheckContext per run, built from the first StepContext that asks (the engine makes one
    StepContext per run: the same config, secrets, redactor and journal for every step), so the
    items of one run — `check`'s steps, a runbook's checklist preconditions — share their facts."""

    def __init__(self) -> None:
        self._ctx: CheckContext | None = None

    def get(self, ctx: StepContext) -> CheckContext:
        if self._ctx is None:
            self._ctx = CheckContext(config=ctx.config, secrets=ctx.secrets,
                                     state_dir=ctx.state_dir, redactor=ctx.redactor,
                                     log=lambda message: ctx.log(message))
        return self._ctx


CheckFn = Callable[[CheckContext], CheckResult]

#: item id -> the function that verifies it (filled by @check in breakglass/checklist/checks/)
CHECKS: dict[str, CheckFn] = {}


def check(item_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register `fn` as the verification of `item_id` (one function per item)."""

    def register(fn: CheckFn) -> CheckFn:
        if item_id in CHECKS and CHECKS[item_id] is not fn:
            raise RuntimeError(f"two checks registered for {item_id}")
        CHECKS[item_id] = fn
        return fn

    return register


def not_configured(item_id: str, what: str, action: str, **evidence: Any) -> CheckResult:
    """The item cannot be checked because the config does not say where to look (no [app]
    base_url, no hosts): "could not verify", never a pass."""
    return CheckResult([unverified("NOT_CONFIGURED", f"{item_id} not checked: {what}", action,
                                   item_id, **evidence)], dict(evidence))

