"""Services carry what the engine does not import (engine/executor.py Services.checklist): a
runbook that declares checklist items, run with Services built without the checklist, stops
before it starts — never a run whose blocking preconditions were silently skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakglass.config import validate
from breakglass.engine.executor import RunOptions, Services, execute
from breakglass.engine.redaction import Redactor
from breakglass.secrets import Secrets
from tests.engine.markers import MarkerRunbook


class CheckedMarkers(MarkerRunbook):
    """Create marker files, relying on a proven restore."""

    name = "test.services-checked-markers"
    checklist = ("backups.restore_tested",)


def test_checklist_items_with_services_without_the_checklist_stop_before_the_run(
        tmp_path: Path) -> None:
    config = validate({"project": {"name": "acme", "environment": "test",
                                   "state_dir": str(tmp_path / "state")}})
    redactor = Redactor()
    runbook = CheckedMarkers(config, {"dir": str(tmp_path / "markers"), "steps": 1})
    with pytest.raises(RuntimeError, match=r"no checklist to check backups\.restore_tested"):
        execute(runbook, RunOptions(yes=True), Services(redactor, Secrets(config, redactor)))
    assert not (tmp_path / "state").exists()  # no journal, no lease: nothing started
    assert not (tmp_path / "markers").exists()
