"""`breakglass runs.list / runs.show / runs.resume / runs.verify` (docs/runs.md).

Everything shown is rebuilt from the journals under `state_dir/runs/`, which are redacted as they
are written. An unknown run id is a usage error (exit 2).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import App, handle_errors

_HELP = {"config": "path to breakglass.toml", "json_": "machine-readable output"}
_ID_HELP = {**_HELP, "run_id": "the run's id, as printed by the run and by runs.list"}


def _print_json(app: App, doc: Any) -> None:
    sys.stdout.write(json.dumps(app.redactor.redact_obj(doc), indent=2, default=str) + "\n")


def _state_dir(app: App) -> Any:
    from pathlib import Path

    return Path(app.config.project.state_dir)


@task(help=_HELP)
@handle_errors
def list_(c: Context, config: str | None = None, json_: bool = False) -> None:
    """List past and active runs: id, runbook, target, started, status (running, interrupted…)."""
    from breakglass.engine.runs import list_runs

    app = App(config, json_)
    state_dir = _state_dir(app)
    rows = [s.to_dict(state_dir) for s in list_runs(state_dir)]
    if json_:
        _print_json(app, {"runs": [{k: r[k] for k in ("run_id", "runbook", "target", "started",
                                                      "finished", "status", "exit_code")}
                                   for r in rows]})
        return
    if not rows:
        app.console.print(f"no runs yet in {state_dir / 'runs'}")
        return
    from breakglass.engine import render

    render.runs_table(app.console, rows)


@task(help=_ID_HELP)
@handle_errors
def show(c: Context, run_id: str, config: str | None = None, json_: bool = False) -> None:
    """Show one run: its plan, steps, findings, notices and report paths."""
    from breakglass.engine.runs import find_journal, report_paths, summarize

    app = App(config, json_)
    state_dir = _state_dir(app)
    summary = summarize(find_journal(state_dir, run_id), run_id)
    doc = summary.to_dict(state_dir)
    reports = {k: str(p) for k, p in report_paths(state_dir, run_id).items() if p.exists()}
    if json_:
        doc["reports"] = reports
        _print_json(app, doc)
        return
    from breakglass.engine import render

    render.run_detail(app.console, doc, reports.values())


@task(help={**_ID_HELP, "yes": "apply without asking"})
@handle_errors
def resume(c: Context, run_id: str, config: str | None = None, yes: bool = False,
           json_: bool = False) -> None:
    """Finish a run: an interrupted or unconfirmed one goes on; a failed one is planned again
    from the steps not done (fix the cause first) and applied once confirmed; an incomplete
    undo is finished. Steps re-observe, so nothing is applied twice."""
    from breakglass.commands._runner import resume_run

    code = resume_run(App(config, json_), run_id, yes=yes)
    if code:
        raise Exit(code=code)


@task(help={**_ID_HELP, "yes": "undo without asking"})
@handle_errors
def undo(c: Context, run_id: str, config: str | None = None, yes: bool = False,
         json_: bool = False) -> None:
    """Undo what an interrupted or failed run applied, newest step first; names the steps that
    have no undo. Exit 0 when everything applied was undone."""
    from breakglass.commands._runner import undo_run

    code = undo_run(App(config, json_), run_id, yes=yes)
    if code:
        raise Exit(code=code)


@task(help=_ID_HELP)
@handle_errors
def verify(c: Context, run_id: str, config: str | None = None, json_: bool = False) -> None:
    """Check a run's journal hash chain: any edited, removed or reordered event fails (exit 1)."""
    from breakglass.engine import journal
    from breakglass.engine.runs import find_journal

    app = App(config, json_)
    path = find_journal(_state_dir(app), run_id)
    problems = journal.verify(path)
    if json_:
        _print_json(app, {"run_id": run_id, "journal": str(path), "intact": not problems,
                          "problems": problems})
    elif problems:
        for p in problems:
            sys.stdout.write(f"{run_id}: {p}\n")
    else:
        sys.stdout.write(f"{run_id}: journal intact ({path})\n")
    if problems:
        raise Exit(code=1)
