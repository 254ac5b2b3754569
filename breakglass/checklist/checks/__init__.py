"""The automated checks, one module per area; each registers its functions with
`@check("item.id")` (breakglass/checklist/model.py). `load()` imports them all — lazily, so that
`breakglass --help` never pays for them; each imports its heavy libraries inside the function."""

from __future__ import annotations

import importlib

from breakglass.checklist.model import CHECKS, CheckFn

MODULES = (
    "breakglass.checklist.checks.tls",        # tls.*
    "breakglass.checklist.checks.headers",    # headers.csp/nosniff/referrer_policy/clickjacking
    "breakglass.checklist.checks.app",        # cookies.secure, headers.cors, app.debug_off
    "breakglass.checklist.checks.hosts",      # ssh.hardened, net.*
    "breakglass.checklist.checks.datastores", # db.least_privilege, redis.private
    "breakglass.checklist.checks.repo",       # secrets.not_committed, deps.audit
    "breakglass.checklist.checks.scenarios",  # the §14 items, from drill.scenarios' history
    "breakglass.checklist.checks.ops",        # backups.*, monitoring.sentry, ops.*
    "breakglass.checklist.checks.state",      # ops.state_bucket
)


def load() -> dict[str, CheckFn]:
    for module in MODULES:
        importlib.import_module(module)
    return CHECKS
