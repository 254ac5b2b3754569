"""SIGKILL at every step boundary and in the middle of every step, then `runs.resume ID --yes`:
every action is applied exactly once, nothing is skipped, and the journal still verifies.

The kill points are deterministic: the test runbook pauses at a named point and the test kills it
there (tests/engine/markers.py). `sN.before` and `sN.after` are the boundaries around a step's
apply, `sN.verified` the boundary after its verification (before `step_done` is journaled), and
`sN.mid` the middle of a step (one of its two markers made, the other not).
"""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import Project

ALL_MARKERS = ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]
POINTS = [f"s{i}.{p}" for i in (1, 2, 3) for p in ("before", "mid", "after", "verified")]


@pytest.mark.parametrize("point", POINTS)
def test_killed_run_is_finished_by_resume_with_every_action_applied_once(
        project: Project, point: str) -> None:
    project.kill(project.start_paused(point))
    (run_id,) = project.run_ids()

    r = project.run("runs.resume", run_id, "--yes")

    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(project.applied()) == ALL_MARKERS  # each exactly once: none twice, none missing
    assert project.present() == ALL_MARKERS
    assert project.run("runs.verify", run_id).returncode == 0


def test_a_killed_run_is_listed_as_interrupted(project: Project) -> None:
    project.kill(project.start_paused("s2.mid"))
    (run_id,) = project.run_ids()
    doc = json.loads(project.run("runs.list", "--json").stdout)
    assert [(r["run_id"], r["status"]) for r in doc["runs"]] == [(run_id, "interrupted")]


def test_a_paused_run_is_listed_as_running(project: Project) -> None:
    proc = project.start_paused("s1.before")
    (run_id,) = project.run_ids()
    doc = json.loads(project.run("runs.list", "--json").stdout)
    assert [(r["run_id"], r["status"]) for r in doc["runs"]] == [(run_id, "running")]
    project.kill(proc)


def test_resume_appends_to_the_same_journal(project: Project) -> None:
    project.kill(project.start_paused("s2.after"))
    (run_id,) = project.run_ids()
    before = len(project.events(run_id))
    project.run("runs.resume", run_id, "--yes")
    events = project.events(run_id)
    assert project.run_ids() == [run_id]
    assert events[before]["type"] in ("run_resumed", "lock_takeover")
    (end,) = [e for e in events if e["type"] == "run_finished"]
    assert end["data"]["status"] == "succeeded"


def test_a_run_killed_during_undo_finishes_the_undo_on_resume(project: Project) -> None:
    # s3's verify fails -> undo s3, s2, s1; killed as s2's undo starts (s3 already undone).
    project.kill(project.start_paused("s2.undo", "--fail-verify", "s3"))
    assert project.undone() == ["s3"]
    (run_id,) = project.run_ids()
    r = project.run("runs.resume", run_id, "--yes")
    assert r.returncode == 1
    assert project.undone() == ["s3", "s2", "s1"]  # s3 not undone twice
    assert project.present() == []
    assert "s3.a" in project.applied()


def test_a_run_killed_before_its_undo_verifies_again_and_undoes_on_resume(
        project: Project) -> None:
    # Killed inside s3's (failing) verification: resume re-observes s3, fails again, undoes all.
    project.kill(project.start_paused("s3.verified", "--fail-verify", "s3"))
    (run_id,) = project.run_ids()
    r = project.run("runs.resume", run_id, "--yes")
    assert r.returncode == 1
    assert project.undone() == ["s3", "s2", "s1"]
    assert project.present() == []


def test_resume_of_a_tampered_journal_is_refused(project: Project) -> None:
    project.kill(project.start_paused("s2.mid"))
    (run_id,) = project.run_ids()
    path = project.journal(run_id)
    path.write_text(path.read_text().replace('"s1"', '"s9"', 1))
    r = project.run("runs.resume", run_id, "--yes")
    assert r.returncode == 1
    assert "refusing to resume" in r.stderr
    assert "s2.b" not in project.applied()
