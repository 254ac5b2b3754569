"""Checklist preconditions and `--override ITEM --because WHY`, through the real CLI with a test
runbook (tests/engine/override_driver.py) that relies on backups.restore_tested:

- a failing checklist item blocks apply; a NOT_CONFIGURED one is a note and does not;
- an override lets it through, journals `precondition_overridden`, shows in the report and tells
  the owners of the runbook's responsibility and of the item's;
- it covers runbook-specific preconditions too; misuse is exit 2 in one line;
- `runs.resume` keeps the overrides of the original run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.checklist import histories
from tests.engine.conftest import Project
from tests.servers.sinks import HttpSink

DRIVER = Path(__file__).with_name("override_driver.py")
ITEM = "backups.restore_tested"
WHY = "restore drill box is being rebuilt; INC-42"
DRILLS = ('\n[backups.shop]\nstore = "file:///nonexistent/"\n\n'
          '[drills.restore]\nbackup = "shop"\n')


def run(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(DRIVER), *args, "--config", str(project.config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "300"})


def checked(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, "checked", "--dir", str(project.markers), *args)


def with_drills(project: Project, sink: HttpSink | None = None) -> None:
    """[backups.shop] + [drills.restore] and no drill history: RESTORE_NEVER_TESTED. With a
    sink, alice owns the runbook's responsibility and bob the item's (backup_restore)."""
    text = project.config.read_text() + DRILLS
    if sink is not None:
        text += ('\n[owners]\nincident_response = ["alice"]\nbackup_restore = ["bob"]\n'
                 f'\n[people.alice]\nnotify = ["{sink.apprise_url}alice"]\n'
                 f'\n[people.bob]\nnotify = ["{sink.apprise_url}bob"]\n')
    project.config.write_text(text)


def show(project: Project, run_id: str) -> dict[str, Any]:
    return dict(json.loads(run(project, "runs.show", run_id, "--json").stdout))


def test_failing_checklist_item_blocks_apply(project: Project) -> None:
    with_drills(project)
    r = checked(project, "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert project.applied() == []
    (run_id,) = project.run_ids()
    doc = show(project, run_id)
    assert doc["status"] == f"blocked by precondition {ITEM}"
    assert "RESTORE_NEVER_TESTED" in [f["code"] for f in doc["findings"]]


def test_passing_checklist_item_lets_the_run_apply(project: Project) -> None:
    with_drills(project)
    histories.drill(project.state, "passed", datetime.now(UTC) - timedelta(days=1))
    r = checked(project, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(project.applied()) == 6


def test_not_configured_item_is_a_note_that_does_not_block(project: Project) -> None:
    r = checked(project, "--yes")  # no [backups.*], no [drills.restore]
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(project.applied()) == 6
    (run_id,) = project.run_ids()
    notes = [(f["code"], f["severity"]) for f in show(project, run_id)["findings"]
             if f["subject"] == ITEM]
    assert notes == [("NOT_CONFIGURED", "info")]


def test_override_applies_journals_reports_and_tells_both_owners(
        project: Project, http_sink: HttpSink) -> None:
    with_drills(project, http_sink)
    http_sink.clear()
    r = checked(project, "--yes", "--override", ITEM, "--because", WHY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(project.applied()) == 6
    assert f"precondition {ITEM}" in r.stdout and "overridden" in r.stdout
    (run_id,) = project.run_ids()
    (event,) = [e["data"] for e in project.events(run_id)
                if e["type"] == "precondition_overridden"]
    assert event["item"] == ITEM and event["because"] == WHY
    assert [f["code"] for f in event["findings"]] == ["RESTORE_NEVER_TESTED"]
    # the run's verdict is not the failing item's: its findings are notes now, headed by who
    # let it through and why; the Markdown report says so
    doc = show(project, run_id)
    assert doc["exit_code"] == 0
    head = next(f for f in doc["findings"] if f["code"] == "PRECONDITION_OVERRIDDEN")
    assert head["evidence"]["because"] == WHY and head["severity"] == "info"
    assert WHY in (project.state / "reports" / f"{run_id}.md").read_text()
    # both owners were told, as an "approval" notice (apprise type warning)
    def approval(q: Any) -> bool:
        return q.path in ("/alice", "/bob") and json.loads(q.body)["event"] == "approval"

    told = {q.path: json.loads(q.body) for q in http_sink.wait_for(
        lambda reqs: {"/alice", "/bob"} <= {q.path for q in reqs if approval(q)})
        if approval(q)}
    assert set(told) == {"/alice", "/bob"}
    assert all(m["type"] == "warning" and WHY in m["detail"] for m in told.values())
    approvals = {d["person"] for d in doc["deliveries"] if d["event"] == "approval"}
    assert approvals == {"alice", "bob"}


def test_override_covers_runbook_specific_preconditions(project: Project) -> None:
    r = checked(project, "--yes", "--gate", str(project.root / "closed"),
                "--override", "test.gate", "--because", WHY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(project.applied()) == 6


def test_override_of_an_item_this_run_does_not_check_is_exit_2_listing_them(
        project: Project) -> None:
    r = checked(project, "--yes", "--override", "tls.hsts", "--because", WHY)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert "tls.hsts" in line and f"its preconditions: {ITEM}" in line
    assert project.run_ids() == [] and project.applied() == []


def test_override_without_because_is_exit_2(project: Project) -> None:
    with_drills(project)
    r = checked(project, "--yes", "--override", ITEM)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert "--because" in line
    assert project.run_ids() == []


def test_resume_keeps_the_overrides_of_the_original_run(project: Project) -> None:
    with_drills(project)
    first = checked(project, "--override", ITEM, "--because", WHY)  # no --yes: not confirmed
    assert first.returncode != 0 and project.applied() == []
    (run_id,) = project.run_ids()
    r = run(project, "runs.resume", run_id, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(project.applied()) == 6
    overridden = [e["data"]["because"] for e in project.events(run_id)
                  if e["type"] == "precondition_overridden"]
    assert overridden == [WHY, WHY]  # at the start and again at the resume


def test_a_run_left_unconfirmed_still_journals_the_notice_it_sent(
        project: Project, http_sink: HttpSink) -> None:
    # The approval notice leaves in the background; the run then stops at the confirmation
    # (no --yes, no TTY). Before the process exits, the notice is journaled as delivered.
    with_drills(project, http_sink)
    r = checked(project, "--override", ITEM, "--because", WHY)
    assert r.returncode == 2, r.stdout + r.stderr
    assert project.applied() == []
    (run_id,) = project.run_ids()
    told = [(e["data"]["event"], e["data"]["person"], e["data"]["ok"])
            for e in project.events(run_id) if e["type"] == "delivery"]
    assert sorted(told) == [("approval", "alice", True), ("approval", "bob", True)]
