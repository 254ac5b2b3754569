"""A mutating runbook that exists only for the engine's tests.

Each step `sN` owns two marker files, `sN.a` and `sN.b`, in `params["dir"]`. Creating a marker is
one action: it uses O_EXCL (so a second application raises instead of passing silently) and is
then counted in `applied.log`. `observe` reports which markers exist, so a step killed between
its two actions plans only the missing one on resume. `undo` removes the step's markers and is
counted in `undo.log`.

Faults a person can fix: `params["crash"]`, `params["fail_verify"]` and `params["fail_undo"]`
name a step whose apply raises, whose verification fails or whose undo raises, and
`params["unreachable"]` a step whose apply cannot reach its target (CouldNotVerify, like a
service that went away) — until a file `fixed` appears in the marker directory (the user fixed
the cause), so `runs.resume` of the failed run can finish it.

Deterministic crash points (no timing guesses): `params["pause"]` names one point —
`sN.before` / `sN.mid` / `sN.after` (start, middle, end of apply), `sN.verified` (end of verify)
or `sN.undo` (start of undo) — where the step writes `params["pause_file"]` and sleeps until
the test SIGKILLs it. It pauses only once (the file is the token), so the resumed run goes
through.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from breakglass.engine.findings import Finding
from breakglass.engine.measures import Measured, Quantity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Action, Plan, Precondition, Runbook, Step, StepContext
from breakglass.engine.runs import RunSummary
from breakglass.errors import CouldNotVerify

PARTS = ("a", "b")


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class MarkerStep(Step):
    def __init__(self, name: str) -> None:
        self.name = name
        self.title = f"create markers {name}.a and {name}.b"

    def _dir(self, ctx: StepContext) -> Path:
        return Path(ctx.params["dir"])

    def _faulty(self, ctx: StepContext, param: str) -> bool:
        return ctx.params.get(param) == self.name and not (self._dir(ctx) / "fixed").exists()

    def _pause(self, ctx: StepContext, point: str) -> None:
        token = Path(ctx.params.get("pause_file") or "/nonexistent/pause")
        if ctx.params.get("pause") == f"{self.name}.{point}" and not token.exists():
            token.write_text(str(os.getpid()))
            time.sleep(600)  # the test SIGKILLs us here

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {p: (self._dir(ctx) / f"{self.name}.{p}").exists() for p in PARTS}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        missing = [p for p in PARTS if not observed[p]]
        if not missing:
            return Plan.noop(f"markers {self.name}.a and {self.name}.b already present")
        return Plan.of(*(Action(f"create marker {self.name}.{p}", target=f"{self.name}.{p}")
                         for p in missing))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        self._pause(ctx, "before")
        if self._faulty(ctx, "unreachable"):
            raise CouldNotVerify(f"cannot reach the marker directory for {self.name}",
                                 code="MARKERS_UNREACHABLE",
                                 action="check the marker directory and retry")
        if self._faulty(ctx, "crash"):
            # With a secret param, the exception message carries the secret (a canary for Sentry).
            secret = ctx.params.get("secret")
            carried = f" token={ctx.secret(secret)}" if secret else ""
            raise RuntimeError(f"boom in {self.name}{carried}")
        extra: dict[str, Any] = {}
        if ctx.params.get("secret") and self.name == "s1":
            # A canary: a secret the step reads and puts in its result and its log.
            token = ctx.secret(ctx.params["secret"])
            extra["token"] = token
            ctx.log(f"used token {token}")
        made = []
        ctx.progress(f"markers of {self.name}", 0, len(plan.actions))
        for i, action in enumerate(plan.actions):
            if i:
                self._pause(ctx, "mid")
            path = self._dir(ctx) / action.target
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            _append(self._dir(ctx) / "applied.log", action.target)
            made.append(action.target)
            ctx.progress(f"markers of {self.name}", len(made), len(plan.actions))
        if len(plan.actions) == 1 and plan.actions[0].target.endswith(".a"):
            self._pause(ctx, "mid")
        ctx.log("markers created", markers=made)
        self._pause(ctx, "after")
        return {"created": made, **extra}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        found = []
        if not all(observed.values()):
            found.append(Finding("MARKER_MISSING", f"{self.name} markers missing",
                                 "look at the marker directory", subject=self.name))
        if self._faulty(ctx, "fail_verify"):
            found.append(Finding("MARKER_REJECTED", f"{self.name} rejected by the test",
                                 "nothing: the test asked for it", subject=self.name))
        self._pause(ctx, "verified")
        return found

    def undo(self, ctx: StepContext) -> None:
        self._pause(ctx, "undo")
        if self._faulty(ctx, "fail_undo"):
            raise OSError(f"cannot undo {self.name}: the marker directory refused it")
        for p in PARTS:
            (self._dir(ctx) / f"{self.name}.{p}").unlink(missing_ok=True)
        _append(self._dir(ctx) / "undo.log", self.name)


@register
class MarkerRunbook(Runbook):
    """Create marker files (engine tests)."""

    name = "test.markers"
    responsibility = "incident_response"
    mutating = True

    @property
    def target(self) -> str:
        return str(self.params.get("target") or "markers")

    def steps(self) -> Sequence[Step]:
        kind = OneWayMarkerStep if self.params.get("one_way") else MarkerStep
        return [kind(f"s{i}") for i in range(1, int(self.params.get("steps", 3)) + 1)]

    @property
    def monitor_slug(self) -> str | None:
        return str(self.params["monitor"]) if self.params.get("monitor") else None

    @classmethod
    def measured(cls, summary: RunSummary) -> Sequence[Measured]:
        applied = sum(s.applied for s in summary.steps.values())
        return [Measured(summary.target, (Quantity("applied", applied, "count", gauge=True),),
                         metric="markers")]

    def preconditions(self) -> Sequence[Precondition]:
        """`params["gate"]` names a file that must exist (a stand-in checklist item); a folder
        there is a check that cannot run (the item's service unreachable)."""
        gate = self.params.get("gate")
        if not gate:
            return ()

        def check(ctx: StepContext) -> Sequence[Finding]:
            if Path(gate).is_dir():
                raise CouldNotVerify(f"cannot read {gate}", code="GATE_UNREACHABLE",
                                     action="make it a file")
            if Path(gate).exists():
                return []
            return [Finding("GATE_CLOSED", f"{gate} does not exist", "create it",
                            subject="test.gate")]

        return [Precondition("test.gate", "the gate file exists", check)]


class OneWayMarkerStep(MarkerStep):
    """A marker step without an undo (like a rotation's new key, or a lockout's disable)."""

    undo = Step.undo


class MarkerCheck(Step):
    """Read-only: is the marker there? `params["unreachable"]` names a step that cannot look."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.title = f"check marker {name}"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        if ctx.params.get("unreachable") == self.name:
            raise CouldNotVerify(f"cannot look at {self.name}", code="MARKERS_UNREACHABLE")
        return {"exists": (Path(ctx.params["dir"]) / f"{self.name}.a").exists()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed["exists"]:
            return []
        return [Finding("MARKER_MISSING", f"marker {self.name}.a is missing",
                        "create it", subject=self.name)]


@register
class MarkerAudit(Runbook):
    """Check marker files (engine tests, read-only)."""

    name = "test.markers-audit"
    responsibility = "incident_response"
    mutating = False

    @property
    def target(self) -> str:
        return "markers"

    def steps(self) -> Sequence[Step]:
        return [MarkerCheck(f"s{i}") for i in range(1, int(self.params.get("steps", 3)) + 1)]
