"""`breakglass init` and `breakglass demo`."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from breakglass.commands._common import handle_errors


@task(help={"path": "where to write the starter file (default ./breakglass.toml)",
            "force": "overwrite an existing file"})
@handle_errors
def init(c: Context, path: str = "breakglass.toml", force: bool = False) -> None:
    """Write a commented starter breakglass.toml (secret references only, never values)."""
    from breakglass.config.starter import write_starter

    written = write_starter(path, force=force)
    print(f"wrote {written}\nnext: edit it (secrets stay in env vars or files, referenced as "
          '"env:NAME" / "file:PATH"), then run `breakglass config.check`')


@task(help={"keep": "keep the sandbox directory afterwards (it is printed)"})
@handle_errors
def demo(c: Context, keep: bool = False) -> None:
    """Try breakglass with nothing set up: builds a local sandbox and verifies its backups."""
    raise NotImplementedError("demo: in progress")
