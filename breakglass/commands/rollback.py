"""`breakglass rollback [--to RELEASE]` (docs/rollback.md)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import STATE_HELP, App, handle_errors
from breakglass.commands._runner import OVERRIDE_HELP


@task(iterable=["override"], help={
    "local_state": STATE_HELP["local_state"],
    "to": "the release to go back to (default: the one before `current`)",
    "force": "roll back even when the migration-safety check says unsafe or cannot run",
    "dry_run": "read every host and print the plan; change nothing",
    "yes": "apply the plan without asking",
    "override": OVERRIDE_HELP["override"],
    "because": OVERRIDE_HELP["because"],
    "json_": "machine-readable output",
    "config": "path to breakglass.toml",
})
@handle_errors
def rollback(c: Context, to: str = "", force: bool = False, dry_run: bool = False,
             yes: bool = False, json_: bool = False, config: str | None = None,
             override: list[str] | None = None, because: str = "",
             local_state: bool = False) -> None:
    """Roll every [releases] host back to an earlier release, one host at a time.

    Reads every host at once, refuses when one is unreachable or lacks the target, then per
    host: swap `current` atomically, restart, check health. A host that fails puts it and every
    host already changed back. Exit 0 rolled back, 1 a finding (the fleet was put back), 2
    usage/config error, 3 could not verify (nothing changed)."""
    from breakglass.commands._runner import overrides, run_runbook
    from breakglass.runbooks.rollback.layout import check_release_id
    from breakglass.runbooks.rollback.runbook import Rollback

    release = check_release_id(to) if to.strip() else ""
    app = App(config, json_, local_state=local_state)
    code = run_runbook(app, Rollback, {"to": release, "force": force}, dry_run=dry_run,
                       yes=yes, overrides=overrides(override, because))
    if code:
        raise Exit(code=code)
