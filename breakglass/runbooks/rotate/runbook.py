"""The `rotate` runbook: `breakglass rotate NAME [--leaked] [--revoke-first]` (docs/rotate.md).

It builds the kind for `[secrets.NAME]` from its registered spec (kinds.py), asks
base.rotation_steps for the steps in the order the mode needs, and adds the steps that are
not about a kind: restarting consumers (consumers.py) and, with --leaked, searching git
history for the old value (leaked.py) and, once it is revoked, what it was used for
(exposure.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from breakglass.engine.findings import Finding, Severity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Action, Plan, Precondition, Runbook, Step, StepContext
from breakglass.errors import BreakglassError, UsageError
from breakglass.runbooks.rotate.base import (
    Kind,
    Mode,
    RevokeStep,
    RotationStep,
    carried,
    leaked_status,
    rotation_steps,
)

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.runs import RunSummary

def kind_for(config: Config, secret: str) -> Kind[Any]:
    from breakglass.runbooks.rotate.kinds import spec_for

    if secret not in config.secrets:
        known = ", ".join(sorted(config.secrets)) or "none"
        raise UsageError(f"no [secrets.{secret}] in the configuration (configured: {known})")
    cfg = config.secrets[secret]
    problems = cfg.rotation_problems()
    if problems:
        raise UsageError(f"secrets.{secret}: {problems[0]}")
    return spec_for(cfg.kind).build(secret, cfg, config)


@register
class Rotate(Runbook):
    """Rotate a secret: create, deploy, restart consumers, verify, revoke, prove the old dead."""

    name = "rotate"
    responsibility = "key_rotation"

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        self.secret = str(self.params.get("secret") or "")
        self.kind = kind_for(config, self.secret)
        self.mode = Mode(leaked=bool(self.params.get("leaked")),
                         revoke_first=bool(self.params.get("revoke_first")))
        self.since = _since(str(self.params.get("since") or ""), self.mode)
        if self.mode.revoke_first and not self.kind.revoke_first_ok:
            raise UsageError(f"--revoke-first does not apply to kind {self.kind.kind}: its old "
                             "value goes out of use when the new one is promoted")

    @property
    def target(self) -> str:
        return f"secrets.{self.secret}"

    @property
    def also_notify(self) -> tuple[str, ...]:
        # A leak is an incident: its owners hear about it as well as the key owners.
        return ("incident_response",) if self.mode.leaked else ()

    @property
    def containment(self) -> str | None:
        # A leak is contained when the leaked value is revoked (right after the new one exists).
        return RevokeStep.name if self.mode.leaked else None

    def steps(self) -> Sequence[Step]:
        before: list[Step] = []
        cfg = self.kind.cfg
        if self.mode.leaked and cfg.repository is not None:
            before.append(LeakSearchStep(self.kind, self.mode))
        consumers = ConsumersStep(self.kind, self.mode) if cfg.consumers else None
        steps = rotation_steps(self.kind, self.mode, before, consumers)
        if self.mode.leaked and ExposureStep.applies(self.kind):
            # After the revocation (containment first), before the deletion (IAM forgets a
            # deleted key's last use).
            at = next(i for i, s in enumerate(steps) if s.name == "delete")
            steps.insert(at, ExposureStep(self.kind, self.mode, self.since))
        return steps

    def preconditions(self) -> Sequence[Precondition]:
        def room(ctx: StepContext) -> Sequence[Finding]:
            # Once this run has pinned the old value (or continues an earlier run that did), a
            # second credential is the run's own new one.
            if ctx.outputs.get("pin") or carried(self.kind, ctx):
                return []
            return self.kind.start_findings(ctx)

        checks = [Precondition(f"secrets.{self.secret}.room", "room for a new value (never "
                               "more than two live)", room)]
        if type(self.kind).access_findings is not Kind.access_findings:  # a kind that checks
            checks.insert(0, Precondition(f"secrets.{self.secret}.access", "the credentials "
                                          "breakglass runs with may make every change",
                                          self.kind.access_findings))
        return checks

    def closing_findings(self, ctx: StepContext, summary: RunSummary) -> Sequence[Finding]:
        # A leak is an incident: however the run ended, the first thing it says is whether the
        # leaked value is still live.
        if not self.mode.leaked:
            return []
        from breakglass.runbooks.rotate import exposure

        used = ctx.outputs.get(ExposureStep.name)
        return [leaked_status(self.kind, ctx, summary),
                *(exposure.findings(used, self.target) if used else [])]


def _since(text: str, mode: Mode) -> datetime | None:
    if not text:
        return None
    if not mode.leaked:
        raise UsageError("--since is the leak time: it goes with --leaked")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r} is not a date/time: give e.g. 2026-05-01 or "
                         "2026-05-01T14:30Z") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


class ConsumersStep(RotationStep):
    name, title = "consumers", "restart consumers and check their health"

    def _hosts(self, ctx: StepContext) -> tuple[list[Any], dict[str, Any]]:
        from breakglass.connectors.ssh import host_from_config
        from breakglass.runbooks.rotate import consumers as cs

        found = cs.consumers_of(ctx.config, self.kind.secret)
        hosts = {c.host: host_from_config(ctx.config, c.host, ctx.secrets) for c in found}
        return found, hosts

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        from breakglass.runbooks.rotate import consumers as cs

        found, hosts = self._hosts(ctx)
        return {**super().observe(ctx),
                "restart": {str(c): cs.restart_line(hosts[c.host], c.service) for c in found}}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.of(*(Action(f"restart {c} (`{line}`) and check its health, one host at a "
                                "time", c) for c, line in observed["restart"].items()))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        from breakglass.runbooks.rotate import consumers as cs

        found, hosts = self._hosts(ctx)
        results = cs.restart_and_check(found, hosts, ctx.config.app)
        return {"results": [r.to_dict() for r in results]}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        from breakglass.runbooks.rotate import consumers as cs

        results = [cs.ConsumerResult(**r) for r in
                   (ctx.outputs.get(self.name) or {}).get("results", [])]
        found = cs.findings(results)
        if not found:
            return []
        consumers, hosts = self._hosts(ctx)
        plan = [*self.kind.recovery(self.snap(observed)),
                *cs.recovery_plan(consumers, hosts, app=ctx.config.app)]
        ctx.log("recovery plan", commands=plan)
        first = found[0]
        return [Finding(first.code, first.message, f"{first.action} (recovery plan below)",
                        first.severity, first.outcome, first.subject,
                        {**first.evidence, "recovery_plan": plan}), *found[1:]]


class LeakSearchStep(RotationStep):
    name, title = "leak_search", "search git history for the leaked value"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {"repository": str(self.kind.cfg.repository)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.of(Action("search every commit of the repository for the old value "
                              "(read-only; the value never goes on a command line)",
                              observed["repository"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        from breakglass.runbooks.rotate import leaked

        value = self.kind.old_value(ctx, self.old_id(ctx))
        if value is None:
            return {"searched": False, "why": "the old value could not be read back"}
        assert self.kind.cfg.repository is not None
        report = leaked.search_history(self.kind.cfg.repository, value)
        return {"searched": True, **report.to_dict()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        from breakglass.runbooks.rotate import leaked

        result = ctx.outputs.get(self.name) or {}
        if not result.get("searched"):
            return [self.kind.finding("LEAK_SEARCH_SKIPPED", f"git history not searched: "
                                      f"{result.get('why', 'no result')}", "search by hand",
                                      Severity.INFO)]
        # Occurrences are notes, not failures: the rotation makes the value dead; purging the
        # history is the owners' follow-up (the findings say how).
        return leaked.findings(result, subject=f"secrets.{self.kind.secret}")


class ExposureStep(RotationStep):
    """What the leaked value was used for (exposure.py): read-only, never fails the run; what
    it saw is said as the run ends (Rotate.closing_findings)."""

    name, title = "exposure", "look up what the leaked value was used for"

    def __init__(self, kind: Kind[Any], mode: Mode, since: datetime | None) -> None:
        super().__init__(kind, mode)
        self.since = since

    @staticmethod
    def applies(kind: Kind[Any]) -> bool:
        from breakglass.runbooks.rotate import exposure

        return kind.kind in exposure.PROBES or kind.cfg.repository is not None

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.of(Action("read what the leaked value was used for since it leaked "
                              "(read-only: the provider's usage records)", self.kind.where))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        from breakglass.runbooks.rotate import exposure

        revoked = (ctx.outputs.get("revoke") or {}).get("at")
        until = datetime.fromisoformat(revoked) if revoked else datetime.now(UTC)
        search = ctx.outputs.get(LeakSearchStep.name) or {}
        commits = [c for o in search.get("occurrences") or [] for c in o.get("added_in") or []]
        commits += list(search.get("in_messages") or [])
        since = self.since or self._leak_time(ctx, commits)
        result = exposure.look(self.kind.kind, ctx.config, self.old_id(ctx), since, until)
        if commits and self.kind.cfg.repository is not None:
            result["git"] = exposure.pushed(self.kind.cfg.repository, commits)
        return result

    def _leak_time(self, ctx: StepContext, commits: list[str]) -> datetime | None:
        from breakglass.runbooks.rotate import exposure

        if not commits or self.kind.cfg.repository is None:
            return None
        try:
            return exposure.leak_time(self.kind.cfg.repository, commits)
        except BreakglassError as exc:
            ctx.log("leak time unknown: the first commit's date could not be read",
                    error=str(exc))
            return None
