"""driver.py plus a test runbook that declares a checklist item, for tests/engine/
test_overrides.py:

    python tests/engine/override_driver.py checked --config C --dir D [--gate FILE]
        [--override ITEM --because WHY] [--yes] [--dry-run]
    python tests/engine/override_driver.py runs.resume ID --yes --config C
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

import tests.engine.driver  # noqa: F401  (registers the markers/audit tasks and runbooks)
from breakglass.cli import namespace, program
from breakglass.commands._common import App, handle_errors
from breakglass.commands._runner import OVERRIDE_HELP, overrides, run_runbook
from breakglass.engine.registry import register
from tests.engine.markers import MarkerRunbook


@register
class CheckedMarkers(MarkerRunbook):
    """Create marker files, relying on a proven restore (engine tests)."""

    name = "test.checked-markers"
    checklist = ("backups.restore_tested",)


@task(iterable=["override"], help=OVERRIDE_HELP)
@handle_errors
def checked(c: Context, dir: str, config: str | None = None, gate: str = "",
            dry_run: bool = False, yes: bool = False, json_: bool = False,
            override: list[str] | None = None, because: str = "") -> None:
    params = {"dir": dir, "steps": 3, "gate": gate}
    code = run_runbook(App(config, json_), CheckedMarkers, params, dry_run=dry_run, yes=yes,
                       overrides=overrides(override, because))
    if code:
        raise Exit(code=code)


namespace.add_task(checked)

if __name__ == "__main__":
    program.run()
