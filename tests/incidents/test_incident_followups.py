"""The postmortem's follow-ups and checklist items, from a run that went past a failing
checklist item with `--override` during the incident (the test runbook of
tests/engine/override_driver.py, which relies on backups.restore_tested: a restore drill is set
up and never ran, so the item fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.incidents.project import IncidentProject
from tests.servers.sinks import HttpSink

DRIVER = Path(__file__).resolve().parents[1] / "engine" / "override_driver.py"
ITEM = "backups.restore_tested"
WHY = "restore box rebuilt tonight; contain first"


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> IncidentProject:
    return IncidentProject(tmp_path / "p", sink=http_sink).write(
        '\n[backups.shop]\nstore = "file:///nonexistent/"\n\n[drills.restore]\nbackup = "shop"\n')


def test_an_override_during_the_incident_is_a_follow_up_and_a_touched_item(
        project: IncidentProject) -> None:
    inc = project.open()
    markers = project.root / "markers"
    markers.mkdir()
    r = subprocess.run([sys.executable, str(DRIVER), "checked", "--dir", str(markers), "--yes",
                        "--override", ITEM, "--because", WHY, "--config", str(project.config)],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    approval = [n for n in project.notices() if n["event"] == "approval"]
    assert approval and all(n["incident"] == inc for n in approval)

    rows = project.json("incident.timeline")["timeline"]
    assert {"what": f"overrode {ITEM}: {WHY}", "run_id": run_id}.items() <= next(
        r for r in rows if r["what"].startswith("overrode")).items()

    doc = project.json("incident.close", "--summary", "contained")["postmortem"]
    assert doc["checklist"] == [{"item": ITEM, "title": doc["checklist"][0]["title"],
                                 "result": "overridden"}]
    codes = {(f["code"], f["subject"]) for f in doc["followups"]}
    # still failing at close: the drill never ran
    assert codes == {("OVERRIDE_REVIEW", ITEM), ("ITEM_FAILING", ITEM)}
    md = (project.state / "incidents" / inc / "postmortem.md").read_text()
    assert f"**OVERRIDE_REVIEW** {ITEM} was failing and was overridden" in md


def test_a_run_left_half_done_is_a_run_unfinished_follow_up(project: IncidentProject) -> None:
    project.open()
    markers = project.root / "markers"
    markers.mkdir()
    # the test runbook (tests/engine/markers.py): s2's verify fails and s1's undo fails too
    r = subprocess.run([sys.executable, str(DRIVER.with_name("driver.py")), "markers", "--dir",
                        str(markers), "--yes", "--fail-verify", "s2", "--fail-undo", "s1",
                        "--config", str(project.config)],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    doc = project.json("incident.close", "--summary", "half done")["postmortem"]
    (follow,) = [f for f in doc["followups"] if f["code"] == "RUN_UNFINISHED"]
    assert follow["subject"] == run_id
    assert f"`breakglass runs.resume {run_id}`" in follow["action"]
    assert doc["containment"] is None
