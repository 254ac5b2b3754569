"""`breakglass state.push` (docs/state.md)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import App, handle_errors
from breakglass.errors import UsageError


@task(help={"config": "path to breakglass.toml"})
@handle_errors
def push(c: Context, config: str | None = None) -> None:
    """Share what only this machine holds (--local-state runs, a local state_dir).

    Uploads runs journaled with --local-state while S3 was down, or a whole local state_dir when
    the team moves its state to S3. Each journal is verified first; nothing in the bucket is
    overwritten. Exit 0 all shared, 1 something refused."""
    from breakglass.state import open_state
    from breakglass.state.push import push as push_state
    from breakglass.state.s3 import S3State

    app = App(config)
    state = open_state(app.config)
    if not isinstance(state, S3State):
        raise UsageError("[project] state is not set: there is no shared state to push to; "
                         'set state = "s3://bucket/prefix/" first (docs/state.md)')
    result = push_state(state)
    say = app.console.print
    say(f"pushed to {state.label}: {len(result.pushed)} run(s), {result.records} record(s), "
        f"{result.reports} report file(s), {result.private} lockout snapshot(s) (sealed), "
        f"{result.incidents} incident record(s); "
        f"{len(result.already)} run(s) were there already")
    for line in result.refused:
        say(f"REFUSED {line}")
    if not result.ok:
        raise Exit(code=1)
