"""One run per (runbook, target): a second concurrent run is refused; a dead run's lock is taken
over and the takeover is journaled."""

from __future__ import annotations

from tests.engine.conftest import Project


def test_second_concurrent_run_is_refused_naming_the_holder(project: Project) -> None:
    first = project.start_paused("s1.before")
    (run_id,) = project.run_ids()

    r = project.markers_run("--yes")

    assert r.returncode == 2
    assert run_id in r.stderr
    assert f"pid {first.pid}" in r.stderr
    assert project.applied() == []
    project.kill(first)


def test_a_run_on_another_target_is_not_blocked(project: Project) -> None:
    first = project.start_paused("s1.before")
    other = project.root / "other"
    other.mkdir()
    r = project.run("markers", "--dir", str(other), "--yes", "--target", "elsewhere")
    assert r.returncode == 0, r.stderr
    project.kill(first)


def test_stale_lock_of_a_killed_run_is_taken_over_and_journaled(project: Project) -> None:
    first = project.start_paused("s1.after")
    (dead_id,) = project.run_ids()
    dead_pid = first.pid
    project.kill(first)

    r = project.markers_run("--yes")

    assert r.returncode == 0, r.stderr
    assert f"took over the lease of run {dead_id} (pid {dead_pid} on " in r.stdout
    (new_id,) = [i for i in project.run_ids() if i != dead_id]
    takeovers = [e["data"] for e in project.events(new_id) if e["type"] == "lock_takeover"]
    assert takeovers[0]["run_id"] == dead_id
    assert takeovers[0]["pid"] == dead_pid


def test_lock_is_released_after_a_run(project: Project) -> None:
    assert project.markers_run("--yes", "--steps", "1").returncode == 0
    r = project.markers_run("--yes", "--steps", "1")
    assert r.returncode == 0, r.stderr
    assert "took over" not in r.stdout
