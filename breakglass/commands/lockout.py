"""`breakglass lockout USER` and `breakglass unlock USER` (docs/lockout.md)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import STATE_HELP, App, handle_errors
from breakglass.commands._runner import OVERRIDE_HELP

_REF_PREFIXES = ("env:", "file:", "aws-sm:", "ssm:")


def _ref(option: str, value: str) -> str:
    # A session cookie or token on the command line would sit in `ps` and shell history: only a
    # reference to it is accepted (DESIGN principle 5). The value itself is never echoed.
    if value and not value.startswith(_REF_PREFIXES):
        raise Exit(f"breakglass: {option} takes a reference (env:NAME or file:PATH), not the "
                   "value itself: a session on the command line is visible in `ps`", code=2)
    return value


@task(iterable=["override"], help={
    "local_state": STATE_HELP["local_state"],
    "user": "the account: an email, a username or an id",
    "reason": "why (required; recorded in the journal, the report and the notices)",
    "probe_cookie": "a session cookie value known to work, as env:NAME or file:PATH; it must be "
                    "refused after the lockout",
    "probe_token": "an API token known to work (env:NAME or file:PATH); sent as "
                   "'Authorization: Token VALUE' (a value with a space is the whole header)",
    "force": "lock out the last active admin too",
    "dry_run": "observe and print the plan; change nothing",
    "yes": "apply the plan without asking",
    "override": OVERRIDE_HELP["override"],
    "because": OVERRIDE_HELP["because"],
    "json_": "machine-readable output",
    "config": "path to breakglass.toml",
})
@handle_errors
def lockout(c: Context, user: str, reason: str = "", probe_cookie: str = "",
            probe_token: str = "", force: bool = False, dry_run: bool = False,
            yes: bool = False, json_: bool = False, config: str | None = None,
            override: list[str] | None = None, because: str = "",
            local_state: bool = False) -> None:
    """Lock out a compromised account and prove its sessions are refused.

    Disables the user first, then revokes API tokens, sets an unusable password and revokes
    every session (database and Redis), tells incident_response owners, and replays the
    sessions and tokens that worked before to prove the app refuses each kind. Exit 0 locked
    out and proven, 1 a finding (SESSION_STILL_ACCEPTED; SESSIONS_NOT_REVOKED: Redis down, the
    account is disabled, resume the run when it is back), 2 usage/config error (unknown user,
    last admin, no --reason), 3 could not verify."""
    from breakglass.commands._runner import overrides, run_runbook
    from breakglass.runbooks.lockout.runbook import Lockout

    if not user.strip():
        raise Exit("breakglass: lockout needs a user, e.g. `breakglass lockout "
                   "alice@example.com --reason 'phished' --dry-run`", code=2)
    if not reason.strip():
        # The reason is the first line of the incident's record (journal, report, notices):
        # an account locked for no stated reason is the question nobody can answer later.
        raise Exit("breakglass: lockout needs --reason, e.g. --reason 'phished, INC-142' "
                   "(recorded in the journal, the report and the owners' notice)", code=2)
    params = {"user": user.strip(), "reason": reason.strip(), "force": force,
              "probe_cookie": _ref("--probe-cookie", probe_cookie),
              "probe_token": _ref("--probe-token", probe_token)}
    app = App(config, json_, local_state=local_state)
    code = run_runbook(app, Lockout, params, dry_run=dry_run, yes=yes,
                       overrides=overrides(override, because))
    if code:
        raise Exit(code=code)


@task(iterable=["override"], help={
    "local_state": STATE_HELP["local_state"],
    "user": "the account: an email, a username or an id",
    "dry_run": "observe and print the plan; change nothing",
    "yes": "apply the plan without asking",
    "override": OVERRIDE_HELP["override"],
    "because": OVERRIDE_HELP["because"],
    "json_": "machine-readable output",
    "config": "path to breakglass.toml",
})
@handle_errors
def unlock(c: Context, user: str, dry_run: bool = False, yes: bool = False,
           json_: bool = False, config: str | None = None, override: list[str] | None = None,
           because: str = "", local_state: bool = False) -> None:
    """Restore an account as it was before its lockout.

    Puts back what the lockout recorded (active flag, password hash); sessions and tokens stay
    revoked. Exit 0 restored, 2 no lockout recorded for the user, 3 could not verify."""
    from breakglass.commands._runner import overrides, run_runbook
    from breakglass.runbooks.lockout.runbook import Unlock

    if not user.strip():
        raise Exit("breakglass: unlock needs a user (an email, a username or an id)", code=2)
    app = App(config, json_, local_state=local_state)
    code = run_runbook(app, Unlock, {"user": user.strip()}, dry_run=dry_run, yes=yes,
                       overrides=overrides(override, because))
    if code:
        raise Exit(code=code)
