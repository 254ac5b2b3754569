"""`breakglass notify.test`."""

from __future__ import annotations

from invoke import Context, task

from breakglass.commands._common import handle_errors


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def test(c: Context, config: str | None = None, json_: bool = False) -> None:
    """Send a test notice to every owner and say which arrived."""
    raise NotImplementedError("notify.test: in progress")
