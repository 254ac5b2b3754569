"""`breakglass rotate NAME` (docs/rotate.md)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import FORMAT_HELP, STATE_HELP, App, handle_errors
from breakglass.commands._runner import OVERRIDE_HELP


@task(iterable=["override"], help={
    "local_state": STATE_HELP["local_state"],
    "name": "the [secrets.NAME] to rotate",
    "leaked": "the value leaked: revoke right after deploying, no grace, search git history, "
              "tell incident_response owners too",
    "since": "with --leaked: when the value leaked (ISO date/time, UTC unless it says), the "
             "start of the window searched for its use (default: its first commit)",
    "revoke_first": "revoke the old value before creating the new one (downtime accepted)",
    "dry_run": "observe and print the plan; change nothing",
    "yes": "apply the plan without asking",
    "override": OVERRIDE_HELP["override"],
    "because": OVERRIDE_HELP["because"],
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
    "config": "path to breakglass.toml",
})
@handle_errors
def rotate(c: Context, name: str, leaked: bool = False, revoke_first: bool = False,
           dry_run: bool = False, yes: bool = False, json_: bool = False, format_: str = "",
           config: str | None = None, override: list[str] | None = None,
           because: str = "", local_state: bool = False, since: str = "") -> None:
    """Rotate a secret and prove the old value is dead.

    Creates the new value, puts it where consumers read it, restarts them, proves it works,
    revokes the old one and proves it is refused. Exit 0 rotated, 1 a finding (nothing revoked
    when a consumer failed), 2 usage/config error, 3 could not verify."""
    from breakglass.commands._runner import overrides, run_runbook
    from breakglass.runbooks.rotate.runbook import Rotate

    if not name.strip():
        raise Exit("breakglass: rotate needs the name of a [secrets.NAME], e.g. "
                   "`breakglass rotate CI_DEPLOY_KEY --dry-run`", code=2)
    app = App(config, json_, fmt=format_, local_state=local_state)
    code = run_runbook(app, Rotate, {"secret": name, "leaked": leaked,
                                     "revoke_first": revoke_first, "since": since},
                       dry_run=dry_run, yes=yes,
                       overrides=overrides(override, because))
    if code:
        raise Exit(code=code)
