"""Preconditions: a failing blocking one stops a mutating run before anything is applied (the
plan is still shown); the engine's own owner check is a finding for read-only runbooks and only
a note for mutating ones, which must never wait for paperwork during an incident."""

from __future__ import annotations

import json

from tests.engine.conftest import Project
from tests.servers.sinks import HttpSink


def test_failing_blocking_precondition_stops_apply_and_changes_nothing(
        project: Project) -> None:
    gate = project.root / "gate"
    r = project.markers_run("--yes", "--gate", str(gate))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "precondition test.gate" in r.stdout
    assert "create marker" in r.stdout  # the plan is still shown
    assert project.applied() == []
    (run_id,) = project.run_ids()
    doc = json.loads(project.run("runs.show", run_id, "--json").stdout)
    assert doc["status"] == "blocked by precondition test.gate"
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [
        ("NO_OWNER", "info"), ("GATE_CLOSED", "error")]


def test_a_precondition_that_could_not_be_checked_says_resume_this_run(
        project: Project) -> None:
    gate = project.root / "gate"
    gate.mkdir()  # the check cannot run
    r = project.markers_run("--yes", "--gate", str(gate))
    assert r.returncode == 3, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    doc = json.loads(project.run("runs.show", run_id, "--json").stdout)
    (found,) = [f for f in doc["findings"] if f["code"] == "GATE_UNREACHABLE"]
    assert found["action"] == f"make it a file; then finish this run: `breakglass runs.resume " \
        f"{run_id}`"
    gate.rmdir()
    gate.write_text("open")
    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert len(project.applied()) == 6


def test_dry_run_with_a_failing_precondition_exits_1(project: Project) -> None:
    r = project.markers_run("--dry-run", "--gate", str(project.root / "gate"))
    assert r.returncode == 1
    assert project.applied() == []


def test_passing_precondition_lets_the_run_apply(project: Project) -> None:
    gate = project.root / "gate"
    gate.write_text("open")
    r = project.markers_run("--yes", "--gate", str(gate))
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(project.applied()) == 6


def test_missing_owner_is_a_note_for_a_mutating_run(project: Project) -> None:
    r = project.markers_run("--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    doc = json.loads(project.run("runs.show", run_id, "--json").stdout)
    (note,) = doc["findings"]
    assert (note["code"], note["severity"]) == ("NO_OWNER", "info")


def test_missing_owner_is_a_finding_for_a_read_only_run(
        project: Project, http_sink: HttpSink) -> None:
    project.markers_run("--yes")
    r = project.run("audit", "--dir", str(project.markers), "--json")
    assert r.returncode == 1
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["NO_OWNER"]
    project.add_owner(http_sink.apprise_url)
    assert project.run("audit", "--dir", str(project.markers)).returncode == 0
