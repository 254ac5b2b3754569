"""`breakglass drill.scenarios`: the seed's §14 failure scenarios against a staging app
(docs/drill-scenarios.md).

    http.py       bounded, TLS-verified requests, recorded without secrets; the login
    base.py       Probe (what a scenario uses) and Result (its verdict)
    auth.py       brute_force, reset_expired, session_revoked
    access.py     private_file, tenant_isolation, admin_routes
    webhook.py    webhook_signature
    history.py    state_dir/drills/scenarios.jsonl, read by the checklist items
    runbook.py    the runbook: one read-only step per scenario, then the history line

This module stays import-light: the checklist and the CLI read the names below.
"""

from __future__ import annotations

#: scenario -> the checklist item it proves (breakglass/checklist/items.py), in run order.
#: brute_force runs last: the limit it provokes may refuse this machine's logins for a while.
ITEMS: dict[str, str] = {
    "session_revoked": "auth.session_revocation",
    "reset_expired": "auth.reset_expiry",
    "private_file": "uploads.private",
    "webhook_signature": "webhooks.signatures",
    "tenant_isolation": "authz.tenant_isolation",
    "admin_routes": "admin.routes",
    "brute_force": "auth.rate_limit",
}
NAMES: tuple[str, ...] = tuple(ITEMS)
