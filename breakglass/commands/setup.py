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


@task(help={"dir": "sandbox directory (default ./demo-sandbox; rebuilt by every run)"})
@handle_errors
def demo(c: Context, dir: str = "demo-sandbox") -> None:
    """Try breakglass with nothing set up: an embedded PostgreSQL, backup.take, drill.restore.

    Starts a throw-away PostgreSQL as "production", seeds a small SaaS schema (~100k rows),
    takes a backup into a local store (backup.take), restores it into a disposable PostgreSQL
    and proves its rows (drill.restore), then shows a truncated backup being caught. Stops every
    server it started; the sandbox keeps the config, journals and reports."""
    from pathlib import Path

    from invoke.exceptions import Exit

    from breakglass.commands._common import App
    from breakglass.demo.run import run

    app = App()
    code = run(Path(dir).resolve(), app.console)
    if code:
        raise Exit(code=code)
