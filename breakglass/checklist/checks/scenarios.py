"""The §14 items, judged from `breakglass drill.scenarios`' history (docs/drill-scenarios.md):
auth.rate_limit, auth.reset_expiry, auth.session_revocation, uploads.private,
webhooks.signatures, authz.tenant_isolation, admin.routes.

An item passes when the newest drill.scenarios run against the configured base_url that ran its
scenario did so within [checklist.ops] drill_max_age and passed it. The checks send no request
themselves: provoking a rate limit or logging a test user out is the drill's job, done on
purpose, bounded and journaled — not a side effect of `breakglass check`.

    the scenario failed there        FAILED, the drill's own code (NO_RATE_LIMIT…), the run id
    it could not verify there        UNVERIFIED  SCENARIO_UNVERIFIED
    the newest pass is too old       UNVERIFIED  SCENARIO_STALE
    never run                        UNVERIFIED  SCENARIO_NEVER_RUN
    no [drills.scenarios]            UNVERIFIED  NOT_CONFIGURED
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult, check, not_configured
from breakglass.drills.scenarios import ITEMS
from breakglass.engine.findings import Finding, Outcome, unverified


def _when(ts: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(ts))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def judge(ctx: CheckContext, scenario: str) -> CheckResult:
    from breakglass.drills.scenarios import history
    from breakglass.state import open_state

    item = ITEMS[scenario]
    rerun = f"`breakglass drill.scenarios --only {scenario}`"
    cfg = ctx.config.drills.scenarios
    if cfg is None:
        return not_configured(item, "no [drills.scenarios] (a staging app to drill)",
                              f"add [drills.scenarios] base_url and its {scenario} table "
                              f"(docs/drill-scenarios.md), then run {rerun}")
    base_url = cfg.base_url.rstrip("/")
    max_age = ctx.config.checklist.ops.drill_max_age
    state = open_state(ctx.config)
    path = state.record_label(history.RECORDS)
    # Read once per check run, shared by the seven items it judges.
    records = ctx.fact("scenarios history", lambda: history.load(state))
    runs = sorted(((when, r) for r in records
                   if str(r.get("base_url", "")).rstrip("/") == base_url
                   and scenario in r["scenarios"]
                   and (when := _when(r.get("time"))) is not None),
                  key=lambda pair: pair[0])
    evidence: dict[str, Any] = {"history": path, "base_url": base_url,
                                "scenario": scenario,
                                "max_age_days": max_age.total_seconds() / 86400}
    if not runs:
        return CheckResult([unverified(
            "SCENARIO_NEVER_RUN", f"no drill.scenarios run against {base_url} ever ran "
            f"{scenario} (history: {path})", f"run {rerun}", item, **evidence)], evidence)
    when, newest = runs[-1]
    got = newest["scenarios"][scenario] if isinstance(newest["scenarios"][scenario], dict) \
        else {}
    run_id, verdict, code = newest.get("run_id"), got.get("verdict"), str(got.get("code") or "")
    evidence.update(run_id=run_id, time=when.isoformat(), verdict=verdict, found=code)
    age = ctx.now - when
    if verdict == "failed":
        # The newest run decides, however old: a known failure stays a failure until a drill
        # proves it fixed.
        return CheckResult([Finding(
            code or "SCENARIO_FAILED", f"{scenario} failed in drill.scenarios run {run_id} "
            f"({when:%Y-%m-%d}): {code}", f"{BY_ID[item].action}; see `breakglass runs.show "
            f"{run_id}`", BY_ID[item].severity, Outcome.FAILED, item, evidence)], evidence)
    if age > max_age:
        return CheckResult([unverified(
            "SCENARIO_STALE", f"the newest {scenario} drill (run {run_id}) is {age.days} days "
            f"old; the limit is {max_age.days} days", f"run {rerun}", item, **evidence)],
            evidence)
    if verdict != "passed":
        return CheckResult([unverified(
            "SCENARIO_UNVERIFIED", f"{scenario} could not be verified in drill.scenarios run "
            f"{run_id} ({code or 'no code'})", f"see `breakglass runs.show {run_id}`, fix what "
            f"stopped it, then run {rerun}", item, **evidence)], evidence)
    return CheckResult([], evidence)


@check("auth.rate_limit")
def rate_limit(ctx: CheckContext) -> CheckResult:
    return judge(ctx, "brute_force")


@check("auth.reset_expiry")
def reset_expiry(ctx: CheckContext) -> CheckResult:
    return judge(ctx, "reset_expired")


@check("auth.session_revocation")
def session_revocation(ctx: CheckContext) -> CheckResult:
    return judge(ctx, "session_revoked")


@check("uploads.private")
def uploads_private(ctx: CheckContext) -> CheckResult:
    return judge(ctx, "private_file")


@check("webhooks.signatures")
def webhooks_signatures(ctx: CheckContext) -> CheckResult:
    return judge(ctx, "webhook_signature")


@check("authz.tenant_isolation")
def tenant_isolation(ctx: CheckContext) -> CheckResult:
    return judge(ctx, "tenant_isolation")


@check("admin.routes")
def admin_routes(ctx: CheckContext) -> CheckResult:
    return judge(ctx, "admin_routes")
