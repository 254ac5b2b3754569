"""`breakglass backup.verify`."""

from __future__ import annotations

from invoke import Context, task

from breakglass.commands._common import handle_errors


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def verify(c: Context, config: str | None = None, json_: bool = False) -> None:
    """Verify every [backups.*]: freshness (RPO), encryption, retention, checksums, archive."""
    raise NotImplementedError("backup.verify: in progress")
