"""`breakglass config.check`."""

from __future__ import annotations

from invoke import Context, task

from breakglass.commands._common import handle_errors


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def check(c: Context, config: str | None = None, json_: bool = False) -> None:
    """Validate breakglass.toml and print the resolved configuration with secrets masked."""
    raise NotImplementedError("config.check: in progress")
