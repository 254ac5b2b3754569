"""Glue between a task and the engine: build Services from the App, run, print, return the exit
code. Every runbook task (and `runs.resume`) goes through here, so they all confirm, journal,
notify and report the same way.

Heavy modules (the engine's rich output, apprise, sentry_sdk) are imported inside the functions:
`breakglass --help` imports this module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from breakglass.commands._common import App, write_json
from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.engine.executor import RunOptions, RunResult, Services
    from breakglass.engine.runbook import Runbook


def build_services(app: App, json_output: bool) -> Services:
    from breakglass.runner import services

    def confirm(prompt: str) -> bool:
        try:
            answer = app.console.input(prompt)
        except EOFError:
            return False
        return answer.strip().lower() == "yes"

    return services(app.config, app.secrets, app.redactor,
                    console=None if json_output else app.console,
                    progress_console=app.err_console if json_output else None, confirm=confirm)


#: the help text of the two options every mutating runbook task takes (docs/preconditions.md)
OVERRIDE_HELP = {
    "override": "let this failing precondition (a checklist item, e.g. backups.restore_tested) "
                "through; repeatable; needs --because",
    "because": "why the override is acceptable (journaled, in the report, sent to the owners)",
}


def overrides(items: Sequence[str] | None, because: str) -> dict[str, str]:
    """`--override ITEM … --because WHY` as {item: why}; a usage error (exit 2) when one comes
    without the other. Whether ITEM is a precondition of the run is checked by the engine,
    which knows the run's preconditions."""
    items = [i.strip() for i in items or () if i.strip()]
    if items and not because.strip():
        raise UsageError(f"--override {' '.join(items)} needs --because \"why\" (journaled "
                         "and sent to the owners)")
    if because.strip() and not items:
        raise UsageError("--because explains an --override ITEM; give the item too")
    return dict.fromkeys(items, because.strip())


def options(app: App, *, dry_run: bool, yes: bool,
            overrides: Mapping[str, str] | None = None, take_over: bool = False) -> RunOptions:
    from breakglass.engine.executor import RunOptions

    return RunOptions(dry_run=dry_run, yes=yes, interactive=sys.stdin.isatty(),
                      json_output=app.json_output,
                      overrides=dict(overrides or {}), take_over=take_over,
                      heartbeat=_heartbeat(), incident=_open_incident(app))


def _open_incident(app: App) -> str | None:
    """The id of the open incident, which the run is tagged with (docs/incidents.md)."""
    from breakglass.errors import CouldNotVerify
    from breakglass.incidents.record import tag_for
    from breakglass.state import open_state

    try:
        return tag_for(open_state(app.config))
    except CouldNotVerify as exc:
        # The state the run's lease needs did not answer: the run stops here as the lease
        # would (exit 3), and the way on (--local-state) is in the message.
        raise type(exc)(f"{exc}; nothing was changed. {exc.action}", code=exc.code,
                        action=exc.action) from exc


def _heartbeat() -> float:
    """Seconds between progress lines in a log: $BREAKGLASS_HEARTBEAT (docs/runs.md,
    "Progress"), else the engine's default."""
    from breakglass.engine.progress import DEFAULT_HEARTBEAT

    raw = os.environ.get("BREAKGLASS_HEARTBEAT", "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise UsageError(f"BREAKGLASS_HEARTBEAT={raw!r}: give the seconds between progress "
                         "lines in a log, 0 to 3600 (unset: 20)")
    return value


def print_json(app: App, result: RunResult, **extra: Any) -> None:
    """The run as a breakglass.result/1 document, plus a command's own `extra` keys (check: its
    items)."""
    from breakglass.engine.results import run_document

    write_json(app, run_document({**result.to_dict(), **extra}, result.summary))


def run_runbook(app: App, runbook_cls: type[Runbook], params: Mapping[str, Any], *,
                dry_run: bool = False, yes: bool = False,
                overrides: Mapping[str, str] | None = None) -> int:
    """Run `runbook_cls(config, params)` through the engine; returns the exit code."""
    from breakglass.engine.executor import execute

    runbook = runbook_cls(app.config, params)
    result = execute(runbook, options(app, dry_run=dry_run, yes=yes, overrides=overrides),
                     build_services(app, app.json_output))
    if app.json_output:
        print_json(app, result)
    return result.exit_code


def resume_run(app: App, run_id: str, *, yes: bool = False, take_over: bool = False) -> int:
    from breakglass.engine.executor import resume

    result = resume(run_id, app.config, options(app, dry_run=False, yes=yes, take_over=take_over),
                    build_services(app, app.json_output))
    if app.json_output:
        print_json(app, result)
    return result.exit_code


def undo_run(app: App, run_id: str, *, yes: bool = False, take_over: bool = False) -> int:
    """`runs.undo`: 0 when every applied step was undone (the run itself stays a failure in its
    record: it did not do its job), else the run's exit code."""
    from breakglass.engine.executor import undo

    result = undo(run_id, app.config, options(app, dry_run=False, yes=yes, take_over=take_over),
                  build_services(app, app.json_output))
    if app.json_output:
        print_json(app, result)
    return 0 if result.status == "undone" else result.exit_code
