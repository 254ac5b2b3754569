"""The drill.scenarios runbook: one read-only step per selected scenario, then `history`.

Each scenario step's `observe` makes the scenario's requests (bounded by the run's Budget and
the scenario's max_requests) and `verify` judges: no finding but an INFO note when the app
refused what it must (the note carries the requests and evidence into the journal and the
reports), a finding with the checklist item's severity when it did not, "could not verify"
otherwise. The `history` step appends the run's verdicts to state_dir/drills/scenarios.jsonl.

Production guard (DESIGN principle 6) — the drill sends wrong passwords until a rate limit
bites, so it must not hit production by accident. base_url is production when
  * its host is the host of [app] base_url, or
  * [project] environment is "production" and its host (or an address it resolves to) is the
    address of one of [hosts.*];
then the run is refused (exit 2) unless `--allow-production` is given, which the journal
records with the run's parameters and as an INFO precondition note shown in the output and the
reports.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from breakglass.checklist.items import BY_ID
from breakglass.drills.scenarios import ITEMS, NAMES, history
from breakglass.drills.scenarios.access import admin_routes, private_file, tenant_isolation
from breakglass.drills.scenarios.auth import brute_force, reset_expired, session_revoked
from breakglass.drills.scenarios.base import Probe, Result, ScenarioFn
from breakglass.drills.scenarios.http import Budget, Http
from breakglass.drills.scenarios.webhook import webhook_signature
from breakglass.engine.findings import Finding, Outcome, Severity, unverified
from breakglass.engine.registry import register
from breakglass.engine.runbook import Plan, Precondition, Runbook, Step, StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.state import open_state

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.config.scenarios import ScenariosConfig

FUNCTIONS: dict[str, ScenarioFn] = {
    "session_revoked": session_revoked, "reset_expired": reset_expired,
    "private_file": private_file, "webhook_signature": webhook_signature,
    "tenant_isolation": tenant_isolation, "admin_routes": admin_routes,
    "brute_force": brute_force,
}


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower().rstrip(".")


def _addresses(host: str) -> set[str]:
    try:
        return {str(ipaddress.ip_address(host))}
    except ValueError:
        pass
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:  # unresolvable here: the literal comparison still applies
        return set()


def production_reason(config: Config, base_url: str) -> str | None:
    """Why `base_url` looks like production (see the module docstring), or None."""
    host = _host(base_url)
    if config.app is not None and _host(config.app.base_url) == host:
        return f"its host {host} is [app] base_url's"
    if config.project.environment.strip().lower() == "production" and config.hosts:
        mine = _addresses(host) | {host}
        for name, h in sorted(config.hosts.items()):
            if h.address.lower() in mine:
                return (f"its host {host} is [hosts.{name}] address {h.address} and [project] "
                        "environment is production")
    return None


class _Shared:
    """What the steps of one run share: the config, the request budget, the TLS context."""

    def __init__(self, config: Config, cfg: ScenariosConfig) -> None:
        self.cfg = cfg
        self.budget = Budget(cfg.max_total_requests, cfg.deadline.total_seconds())
        bundle = cfg.ca_bundle or config.checklist.web.ca_bundle
        # Verified TLS always (DESIGN principle 5); a staging CA is trusted only when named.
        self.ssl = ssl.create_default_context(cafile=str(bundle) if bundle else None)


class ScenarioStep(Step):
    def __init__(self, name: str, shared: _Shared) -> None:
        self.name = name
        self.title = f"{name}: {BY_ID[ITEMS[name]].title}"
        self.shared = shared

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        http = Http(self.shared.cfg, self.shared.budget, self.shared.ssl)
        try:
            result = FUNCTIONS[self.name](Probe(self.name, ctx, self.shared.cfg, http))
        except CouldNotVerify as exc:
            result = Result("could not verify", exc.code or "COULD_NOT_VERIFY", str(exc),
                            exc.action or "fix what prevented the scenario, then run it again")
        finally:
            http.close()
        return {"scenario": self.name, "item": ITEMS[self.name], "verdict": result.verdict,
                "code": result.code, "message": result.message, "action": result.action,
                "evidence": result.evidence, "requests": list(http.requests)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.noop(f"{observed['verdict']}: {observed['message']}")

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        evidence = {**observed["evidence"], "requests": observed["requests"],
                    "item": observed["item"]}
        code, message, action = observed["code"], observed["message"], observed["action"]
        if observed["verdict"] == "passed":
            return [Finding(code, message, "nothing to do", Severity.INFO, Outcome.FAILED,
                            self.name, evidence)]
        if observed["verdict"] == "failed":
            return [Finding(code, message, action, BY_ID[observed["item"]].severity,
                            Outcome.FAILED, self.name, evidence)]
        return [unverified(code, message, action, self.name, **evidence)]


class RecordHistory(Step):
    name = "history"
    title = f"record the verdicts in the state's {history.RECORDS}"

    def __init__(self, scenarios: Sequence[str], base_url: str) -> None:
        self.scenarios = tuple(scenarios)
        self.base_url = base_url

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        from breakglass.engine.runs import find_journal, summarize

        # From the journal, not from memory: a resumed run skips the scenarios already done.
        summary = summarize(find_journal(ctx.state_dir, ctx.run_id), ctx.run_id)
        # The same function judges the line later (history.problem): it must say the same.
        verdicts = history.verdicts(summary, self.scenarios)
        record = {"run_id": ctx.run_id, "time": datetime.now(UTC).isoformat(),
                  "base_url": self.base_url, "scenarios": verdicts}
        state = open_state(ctx.config)
        written = history.append(state, record)
        return {"path": state.record_label(history.RECORDS), "written": written,
                "scenarios": verdicts}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.noop(f"recorded in {observed['path']}")


@register
class ScenariosDrill(Runbook):
    """Failure-scenario drill: prove the seed's §14 scenarios against a staging app."""

    name = "drill.scenarios"
    responsibility = "release_signoff"
    mutating = False

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        cfg = config.drills.scenarios
        if cfg is None:
            raise UsageError("no [drills.scenarios] section in the configuration (see "
                             "docs/drill-scenarios.md)")
        only = [str(n) for n in self.params.get("only") or []]
        unknown = [n for n in only if n not in ITEMS]
        if unknown:
            raise UsageError(f"--only {','.join(unknown)}: no such scenario; the scenarios: "
                             f"{', '.join(NAMES)}")
        self.selected = [n for n in NAMES if not only or n in only]
        why = production_reason(config, cfg.base_url)
        if why is not None and not self.params.get("allow_production"):
            raise UsageError(f"refusing to drill {cfg.base_url}: it looks like production "
                             f"({why}); point [drills.scenarios] base_url at staging, or pass "
                             "--allow-production (journaled, owners told)")
        self.cfg = cfg
        self.production = why
        self.shared = _Shared(config, cfg)

    @property
    def target(self) -> str:
        return self.cfg.base_url.rstrip("/")

    def preconditions(self) -> Sequence[Precondition]:
        why = self.production
        if why is None:
            return ()

        def allowed(ctx: StepContext) -> Sequence[Finding]:
            # A note (never a failure: --allow-production was the explicit decision) that the
            # console, the journal and the report all carry next to the run's params.
            return [Finding("PRODUCTION_TARGET_ALLOWED", f"drilling {self.target}, which looks "
                            f"like production ({why}), because of --allow-production",
                            "make sure the owners expected it", Severity.INFO,
                            subject="drills.scenarios.base_url")]

        return [Precondition("drill.production_target", "base_url is not production, or "
                             "--allow-production says so", allowed, blocking=False)]

    def steps(self) -> Sequence[Step]:
        return [*(ScenarioStep(n, self.shared) for n in self.selected),
                RecordHistory(self.selected, self.target)]
