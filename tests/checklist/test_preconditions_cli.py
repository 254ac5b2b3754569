"""`breakglass rollback` relies on backups.restore_tested: over a real sshd host, a drill history
whose last pass is 40 days old blocks the rollback (nothing changes); `--override
backups.restore_tested --because …` lets it through, and the run's report says who and why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breakglass.engine.runs import summarize
from tests.checklist import histories
from tests.rollback.fleet import RollbackProject, install
from tests.servers.sshd import SshdFactory, SshdServer

ITEM = "backups.restore_tested"
WHY = "drill host down since Monday; restore tested by hand on 2026-11-30"


@pytest.fixture(scope="module")
def server(sshd_factory: SshdFactory) -> SshdServer:
    (one,) = sshd_factory.start(1)
    return one


@pytest.fixture
def project(server: SshdServer, tmp_path: Path) -> Iterator[RollbackProject]:
    host = install(server, "web1", {"r1": "ok", "r2": "ok", "r3": "ok"}, current="r3")
    proj = RollbackProject(tmp_path, [host])
    proj.write()
    proj.config.write_text(proj.config.read_text() + (
        '\n[backups.shop]\nstore = "file:///nonexistent/"\n\n'
        '[drills.restore]\nbackup = "shop"\n'))
    histories.drill(proj.state, "passed", datetime.now(UTC) - timedelta(days=40))
    try:
        yield proj
    finally:
        proj.stop_started()
        host.clean()


def rollback_runs(project: RollbackProject) -> list[str]:
    """The rollback runs (the state also holds the journal of the drill the history records)."""
    return [i for i in project.run_ids()
            if summarize(project.state / "runs" / f"{i}.jsonl").runbook == "rollback"]


def test_stale_restore_drill_blocks_rollback_until_overridden(
        project: RollbackProject) -> None:
    blocked = project.run("rollback", "--yes")
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert project.currents() == ["r3"]
    (first,) = rollback_runs(project)
    doc = json.loads((project.state / "reports" / f"{first}.json").read_text())
    assert doc["status"] == f"blocked by precondition {ITEM}"
    assert "RESTORE_TEST_STALE" in [f["code"] for f in doc["findings"]]

    r = project.run("rollback", "--yes", "--override", ITEM, "--because", WHY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.currents() == ["r2"]
    run_id = project.run_ids()[-1]
    report = json.loads((project.state / "reports" / f"{run_id}.json").read_text())
    (head,) = [f for f in report["findings"] if f["code"] == "PRECONDITION_OVERRIDDEN"]
    assert head["evidence"]["because"] == WHY
    assert "RESTORE_TEST_STALE" in head["evidence"]["codes"]


def test_override_of_something_rollback_does_not_check_is_exit_2(
        project: RollbackProject) -> None:
    r = project.run("rollback", "--yes", "--override", "tls.hsts", "--because", WHY)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert f"its preconditions: releases.target, releases.migrations, {ITEM}" in line
    assert project.currents() == ["r3"] and rollback_runs(project) == []
