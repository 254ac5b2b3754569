"""Runs the real `breakglass` program with the test runbooks registered, so the engine tests drive
the CLI in a subprocess (SIGKILL and all) exactly as a user would, plus two tasks that start the
test runbooks:

    python tests/engine/driver.py markers --config C --dir D [--pause s2.mid --pause-file F]
                                  [--fail-verify s2] [--unreachable s2] [--steps 3] [--target T]
                                  [--dry-run] [--yes] [--local-state]
    python tests/engine/driver.py audit --config C --dir D [--unreachable s1]
    python tests/engine/driver.py runs.resume ID --yes --config C
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.cli import namespace, program
from breakglass.commands._common import App, handle_errors
from breakglass.commands._runner import run_runbook
from tests.engine.markers import MarkerAudit, MarkerRunbook


@task
@handle_errors
def markers(c: Context, dir: str, config: str | None = None, steps: int = 3, pause: str = "",
            pause_file: str = "", fail_verify: str = "", target: str = "markers",
            crash: str = "", fail_undo: str = "", secret: str = "", gate: str = "",
            monitor: str = "", unreachable: str = "", local_state: bool = False,
            one_way: bool = False, dry_run: bool = False, yes: bool = False,
            json_: bool = False) -> None:
    params = {"dir": dir, "steps": steps, "pause": pause, "pause_file": pause_file,
              "fail_verify": fail_verify, "target": target, "crash": crash,
              "fail_undo": fail_undo, "secret": secret,
              "gate": gate, "monitor": monitor, "unreachable": unreachable,
              "one_way": one_way}
    code = run_runbook(App(config, json_, local_state=local_state), MarkerRunbook, params,
                       dry_run=dry_run, yes=yes)
    if code:
        raise Exit(code=code)


@task
@handle_errors
def audit(c: Context, dir: str, config: str | None = None, steps: int = 3,
          unreachable: str = "", dry_run: bool = False, json_: bool = False) -> None:
    params = {"dir": dir, "steps": steps, "unreachable": unreachable}
    code = run_runbook(App(config, json_), MarkerAudit, params, dry_run=dry_run)
    if code:
        raise Exit(code=code)


namespace.add_task(markers)
namespace.add_task(audit)

if __name__ == "__main__":
    program.run()
