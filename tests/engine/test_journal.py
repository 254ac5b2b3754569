"""The journal's hash chain and head: any edited byte, removed, inserted or reordered event fails
`runs.verify`. Library-level for the exhaustive byte loop (thousands of edits), CLI for the rest."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from breakglass.engine import journal
from breakglass.engine.redaction import MASK, Redactor
from tests.engine.conftest import Project


def _small_journal(tmp_path: Path, events: int = 4) -> Path:
    j = journal.Journal.create(tmp_path, "20261129T130501-7f3a", Redactor())
    for i in range(events):
        j.append("log", {"i": i, "text": "ü<ok>"})
    return j.path


def test_an_intact_journal_verifies(tmp_path: Path) -> None:
    assert journal.verify(_small_journal(tmp_path)) == []


def test_editing_any_single_byte_fails_verification(tmp_path: Path) -> None:
    path = _small_journal(tmp_path)
    original = path.read_bytes()
    missed = []
    for pos in range(len(original)):
        for flip in (0x01, 0x20):
            edited = bytearray(original)
            edited[pos] ^= flip
            path.write_bytes(bytes(edited))
            if not journal.verify(path):
                missed.append((pos, flip))
    path.write_bytes(original)
    assert missed == []


def test_removing_the_last_event_fails(tmp_path: Path) -> None:
    path = _small_journal(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))
    assert any("trailing events removed" in p for p in journal.verify(path))


def test_head_one_event_behind_after_a_crash_is_accepted(tmp_path: Path) -> None:
    path = _small_journal(tmp_path)
    head = journal.head_path(path)
    saved = head.read_bytes()
    j = journal.Journal.reopen(path, Redactor())
    j.append("log", {"i": 99})
    head.write_bytes(saved)  # the crash window: event appended, head not yet replaced
    assert journal.verify(path) == []


def test_events_are_redacted_before_they_are_written(tmp_path: Path) -> None:
    red = Redactor()
    red.register("hunter2-canary-value")
    j = journal.Journal.create(tmp_path, "20261129T130501-7f3a", red)
    j.append("log", {"message": "password is hunter2-canary-value"})
    text = j.path.read_text()
    assert "hunter2-canary-value" not in text
    assert MASK in json.loads(text)["data"]["message"]
    assert journal.verify(j.path) == []


def test_journal_and_head_are_private_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        path = _small_journal(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.head_path(path).stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.fixture
def finished_run(project: Project) -> tuple[Project, str]:
    assert project.markers_run("--yes", "--steps", "2").returncode == 0
    (run_id,) = project.run_ids()
    return project, run_id


def test_runs_verify_passes_an_intact_journal(finished_run: tuple[Project, str]) -> None:
    project, run_id = finished_run
    r = project.run("runs.verify", run_id)
    assert r.returncode == 0
    assert "intact" in r.stdout


@pytest.mark.parametrize("edit", ["byte", "remove_last", "remove_middle", "swap", "insert"])
def test_runs_verify_fails_an_edited_journal(finished_run: tuple[Project, str], edit: str) -> None:
    project, run_id = finished_run
    path = project.journal(run_id)
    lines = path.read_bytes().splitlines(keepends=True)
    mid = len(lines) // 2
    if edit == "byte":
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0x01
        path.write_bytes(bytes(data))
    elif edit == "remove_last":
        path.write_bytes(b"".join(lines[:-1]))
    elif edit == "remove_middle":
        path.write_bytes(b"".join(lines[:mid] + lines[mid + 1:]))
    elif edit == "swap":
        lines[mid], lines[mid + 1] = lines[mid + 1], lines[mid]
        path.write_bytes(b"".join(lines))
    else:
        path.write_bytes(b"".join([*lines[:mid], lines[mid], *lines[mid:]]))

    r = project.run("runs.verify", run_id)

    assert r.returncode == 1
    assert r.stdout.strip()
    assert all(line.startswith(f"{run_id}: ") for line in r.stdout.splitlines())


def test_runs_verify_json(finished_run: tuple[Project, str]) -> None:
    project, run_id = finished_run
    doc = json.loads(project.run("runs.verify", run_id, "--json").stdout)
    assert doc == {"schema": "breakglass.result/1", "kind": "journal", "run_id": run_id,
                   "journal": str(project.journal(run_id)), "intact": True, "problems": [],
                   "unconfirmed_events": 0, "anchors_sent": [], "exit_code": 0}


@pytest.mark.parametrize("task", ["runs.show", "runs.verify", "runs.resume"])
def test_an_unknown_run_id_is_a_usage_error(project: Project, task: str) -> None:
    r = project.run(task, "20261129T130501-dead")
    assert r.returncode == 2
    assert "no run 20261129T130501-dead" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_malformed_run_id_is_a_usage_error(project: Project) -> None:
    r = project.run("runs.show", "../../etc/passwd")
    assert r.returncode == 2
    assert "is not a run id" in r.stderr


def test_a_run_finished_past_the_head_is_unconfirmed_not_the_runs_status(tmp_path: Path) -> None:
    from breakglass.engine.runs import summarize

    j = journal.Journal.create(tmp_path, "20261129T130501-7f3a", Redactor())
    j.append("run_started", {"runbook": "rotate", "target": "db"})
    head = journal.head_path(j.path)
    saved = head.read_bytes()
    j.append("run_finished", {"status": "succeeded", "exit_code": 0})
    head.write_bytes(saved)  # the head one event behind: the end is unconfirmed
    assert journal.verify(j.path) == []
    s = summarize(j.path)
    assert (s.status, s.exit_code, s.unconfirmed_end, s.is_finished) == (
        None, None, "succeeded", False)


def test_an_event_type_or_end_status_missing_from_the_engine_list_is_refused(
        tmp_path: Path) -> None:
    # docs/runs.md's tables are generated from breakglass/engine/events.py: a type or status
    # written without being listed there would be missing from them.
    j = journal.Journal.create(tmp_path, "20261129T130501-7f3a", Redactor())
    with pytest.raises(ValueError, match="'step_teleported' is not in"):
        j.append("step_teleported", {})
    with pytest.raises(ValueError, match="'half done' is not in"):
        j.append("run_finished", {"status": "half done", "exit_code": 1})
    j.append("run_finished", {"status": "blocked by precondition backups.fresh", "exit_code": 1})
    assert j.seq == 1


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every fsync the journal and its head make from now on (the real call still runs)."""
    import os

    from breakglass.connectors import files

    calls: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(journal.os, "fsync", spy)
    monkeypatch.setattr(files.os, "fsync", spy)
    return calls


@pytest.mark.parametrize("mutating", [True, False])
def test_a_read_only_run_is_made_durable_at_its_end_a_mutating_one_at_every_event(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mutating: bool) -> None:
    j = journal.Journal.create(tmp_path, "20261207T130501-7f3a", Redactor())
    calls = _fsyncs(monkeypatch)
    j.append("run_started", {"runbook": "check", "mutating": mutating})
    for i in range(5):
        j.append("step_done", {"step": f"s{i}"})
    during = len(calls)
    j.append("run_finished", {"status": "passed", "exit_code": 0})
    # journal + head file + its folder, per durable event
    assert during == (3 * 6 if mutating else 0)
    assert len(calls) - during == 3
    assert journal.verify(j.path) == []
    reopened = journal.Journal.reopen(j.path, Redactor())
    assert reopened.durable is mutating
