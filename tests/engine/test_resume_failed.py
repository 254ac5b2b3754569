"""A failed run has a way forward: `runs.resume ID` re-plans it from the steps not done once the
cause is fixed, `runs.undo ID` reverses what an interrupted or failed run applied, and a failed
undo is finished by `runs.resume`. The end state is read from the marker directory itself, not
from breakglass's journal."""

from __future__ import annotations

import json

from tests.engine.conftest import Project

ALL_MARKERS = ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]


def _status(project: Project, run_id: str) -> tuple[str, int | None]:
    doc = json.loads(project.run("runs.show", run_id, "--json").stdout)
    return doc["status"], doc["exit_code"]


def test_a_rolled_back_run_is_finished_by_resume_once_the_cause_is_fixed(
        project: Project) -> None:
    assert project.markers_run("--yes", "--fail-verify", "s2").returncode == 1
    (run_id,) = project.run_ids()
    assert project.present() == []  # rolled back: s2 and s1 undone
    (project.markers / "fixed").touch()

    r = project.run("runs.resume", run_id, "--yes")

    assert r.returncode == 0, r.stdout + r.stderr
    assert project.present() == ALL_MARKERS
    assert project.run_ids() == [run_id]  # the same run, not a new one
    assert _status(project, run_id) == ("succeeded", 0)
    assert project.run("runs.verify", run_id).returncode == 0


def test_a_service_unreachable_mid_run_says_resume_this_run_and_resume_finishes_it(
        project: Project) -> None:
    r = project.markers_run("--yes", "--unreachable", "s2")
    (run_id,) = project.run_ids()
    assert r.returncode == 3, r.stdout + r.stderr  # could not verify
    doc = json.loads(project.run("runs.show", run_id, "--json").stdout)
    (found,) = [f for f in doc["findings"] if f["code"] == "MARKERS_UNREACHABLE"]
    # The step's own advice, then this run's resume — not "retry", which would start a new run.
    assert found["action"] == ("check the marker directory and retry; then finish this run: "
                               f"`breakglass runs.resume {run_id}`")
    (project.markers / "fixed").touch()

    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert project.present() == ALL_MARKERS
    assert project.run_ids() == [run_id]


def test_resume_of_a_failed_run_shows_the_new_plan_and_asks_again(project: Project) -> None:
    project.markers_run("--yes", "--fail-verify", "s2")
    (run_id,) = project.run_ids()
    (project.markers / "fixed").touch()

    r = project.run("runs.resume", run_id)  # no --yes, stdin not a terminal

    assert r.returncode == 2
    assert "create marker s1.a" in r.stdout  # the new plan was shown
    assert project.present() == []  # nothing applied without a confirmation
    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert project.present() == ALL_MARKERS


def test_resume_skips_the_steps_a_failed_run_had_done(project: Project) -> None:
    # s2's apply crashes (a bug): s1 is done and has an undo, but an internal error in s2 ...
    r = project.markers_run("--yes", "--crash", "s2")
    (run_id,) = project.run_ids()
    assert r.returncode == 3, r.stdout + r.stderr  # a bug is "could not verify", never exit 1
    doc = json.loads(project.run("runs.show", run_id, "--json").stdout)
    assert "INTERNAL_ERROR" in [f["code"] for f in doc["findings"]]
    (project.markers / "fixed").touch()

    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert project.present() == ALL_MARKERS


def test_a_resumed_run_that_fails_again_can_be_resumed_again(project: Project) -> None:
    project.markers_run("--yes", "--fail-verify", "s3")
    (run_id,) = project.run_ids()

    again = project.run("runs.resume", run_id, "--yes")  # the cause is not fixed yet

    assert again.returncode == 1
    assert _status(project, run_id) == ("rolled back", 1)
    assert project.present() == []
    (project.markers / "fixed").touch()
    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert project.present() == ALL_MARKERS


def test_a_failed_undo_is_finished_by_resume(project: Project) -> None:
    # s3 fails its verification; undoing s2 fails (the directory refuses): undo incomplete.
    r = project.markers_run("--yes", "--fail-verify", "s3", "--fail-undo", "s2")
    (run_id,) = project.run_ids()
    assert r.returncode == 1
    assert _status(project, run_id)[0] == "failed; undo incomplete"
    assert project.present() == ["s2.a", "s2.b"]  # s3 and s1 undone, s2 stuck
    (project.markers / "fixed").touch()

    r = project.run("runs.resume", run_id, "--yes")

    assert r.returncode == 1  # the run still failed its job; its undo is now complete
    assert project.present() == []
    assert project.undone() == ["s3", "s1", "s2"]  # nothing undone twice
    assert _status(project, run_id) == ("rolled back", 1)


def test_undo_reverses_an_interrupted_run_newest_first(project: Project) -> None:
    project.kill(project.start_paused("s3.before"))
    (run_id,) = project.run_ids()
    assert project.present() == ["s1.a", "s1.b", "s2.a", "s2.b"]

    r = project.run("runs.undo", run_id, "--yes")

    assert r.returncode == 0, r.stdout + r.stderr
    assert project.present() == []
    # s3 was killed after its apply started: it may have half-happened, so it is undone too
    assert project.undone() == ["s3", "s2", "s1"]
    assert _status(project, run_id) == ("undone", 1)  # the run itself did not do its job
    assert project.run("runs.resume", run_id, "--yes").returncode == 1  # nothing to resume
    assert project.present() == []


def test_undo_without_confirmation_changes_nothing(project: Project) -> None:
    project.kill(project.start_paused("s2.before"))
    (run_id,) = project.run_ids()
    before = project.journal(run_id).read_bytes()

    r = project.run("runs.undo", run_id)

    assert r.returncode == 2
    assert "[s1]" in r.stdout and f"runs.undo {run_id} --yes" in r.stderr
    assert project.present() == ["s1.a", "s1.b"]
    assert project.journal(run_id).read_bytes() == before


def test_undo_refuses_when_nothing_applied_has_an_undo(project: Project) -> None:
    project.kill(project.start_paused("s2.before", "--one-way"))
    (run_id,) = project.run_ids()
    before = project.journal(run_id).read_bytes()

    r = project.run("runs.undo", run_id, "--yes")

    # Ending "undone" would tell the owners a change was taken back when none was.
    assert r.returncode == 2
    assert "no step run" in r.stderr and f"runs.resume {run_id}" in r.stderr
    assert project.journal(run_id).read_bytes() == before
    assert project.present() == ["s1.a", "s1.b"]
    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert project.present() == ALL_MARKERS


def test_a_succeeded_run_cannot_be_undone(project: Project) -> None:
    project.markers_run("--yes")
    (run_id,) = project.run_ids()
    r = project.run("runs.undo", run_id, "--yes")
    assert r.returncode == 2
    assert "only a failed or interrupted run can be undone" in r.stderr
    assert project.present() == ALL_MARKERS
