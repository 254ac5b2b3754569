"""`breakglass runs.list / runs.show / runs.resume / runs.verify`."""

from __future__ import annotations

from invoke import Context, task

from breakglass.commands._common import handle_errors


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def list_(c: Context, config: str | None = None, json_: bool = False) -> None:
    """List past and active runs."""
    raise NotImplementedError


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def show(c: Context, run_id: str, config: str | None = None, json_: bool = False) -> None:
    """Show one run: its plan, steps, findings and report paths."""
    raise NotImplementedError


@task(help={"config": "path to breakglass.toml", "yes": "apply without asking"})
@handle_errors
def resume(c: Context, run_id: str, config: str | None = None, yes: bool = False) -> None:
    """Finish a run that was interrupted: steps re-observe, nothing is applied twice."""
    raise NotImplementedError


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def verify(c: Context, run_id: str, config: str | None = None, json_: bool = False) -> None:
    """Check a run's journal hash chain: any edited, removed or reordered event fails."""
    raise NotImplementedError
