"""The engine's crash-test hook point (engine/checkpoints.py; the tests install the hook with
tests/crash_at.py): any runbook can be SIGKILLed at a step boundary or in the middle of a step
(its first progress report), and `runs.resume` then finishes with every action applied exactly
once. Later runbooks' crash tests (restore drill, rotation) rely on it."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.crash_at import crash_argv
from tests.engine.conftest import Project

ALL = sorted(f"s{i}.{p}" for i in (1, 2, 3) for p in ("a", "b"))


@pytest.mark.parametrize("point", ["s2.before_apply", "s2.mid", "s2.after_apply",
                                   "s2.after_verify", "s3.mid"])
def test_kill_at_an_engine_pause_point_then_resume_applies_each_action_once(
        project: Project, point: str) -> None:
    argv = project.argv("markers", "--dir", str(project.markers), "--yes")
    proc = subprocess.Popen(crash_argv(point, project.pause_file, argv),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    project.started.append(proc)
    deadline = time.monotonic() + 60
    while not project.pause_file.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"never paused at {point}"
        time.sleep(0.02)
    project.kill(proc)
    if point.endswith(".mid"):  # killed between the step's two markers
        step = point.split(".")[0]
        assert f"{step}.a" in project.applied() and f"{step}.b" not in project.applied()
    (run_id,) = project.run_ids()
    # Held at the same point again, the resumed run is not paused: the pause file exists.
    r = subprocess.run(crash_argv(point, project.pause_file,
                                  project.argv("runs.resume", run_id, "--yes")), text=True,
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(project.applied()) == ALL
