"""connectors/files.py `write_private`: the one way breakglass writes a file whole — a temp file in
the same folder, fsync, rename, fsync of the folder, 0600."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from breakglass.connectors import files
from breakglass.connectors.files import write_private


def _kill_self(*_args: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _crash_in_child(path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch, where: str,
                    fake: Callable[..., None] = _kill_self) -> int:
    """Run write_private in a forked child whose `os.<where>` is `fake` (by default: SIGKILL
    itself there); returns the signal that ended the child."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            monkeypatch.setattr(files.os, where, fake)
            write_private(path, data)
        finally:
            os._exit(0)  # not reached when the kill came
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


def test_the_file_is_0600_whatever_the_umask_and_whatever_mode_it_had(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    target.chmod(0o644)
    old = os.umask(0)
    try:
        write_private(target, b'{"new": true}')
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b'{"new": true}'


def test_a_large_content_is_written_complete(tmp_path: Path) -> None:
    data = os.urandom(8 << 20)
    write_private(tmp_path / "big", data)
    assert (tmp_path / "big").read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["big"]  # no temp file left


def test_the_file_is_fsynced_before_the_rename_and_the_folder_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    target = tmp_path / "head.json"
    write_private(target, b"{}")
    kinds = [k for k, _ in calls]
    assert kinds == ["fsync", "rename", "fsync"]
    assert Path(calls[0][1]).parent == tmp_path and calls[0][1] != str(target)  # the temp file
    assert calls[2][1] == str(tmp_path)  # the folder, so the rename itself is on disk


def test_killed_before_the_rename_the_old_content_stays_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "record.json"
    write_private(target, b"old content")
    assert _crash_in_child(target, b"new content", monkeypatch, "replace") == signal.SIGKILL
    assert target.read_bytes() == b"old content"
    write_private(target, b"newer content")  # a later write goes through despite the leftover
    assert target.read_bytes() == b"newer content"


def test_killed_after_the_rename_the_new_content_is_there_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "record.json"
    write_private(target, b"old content")
    # fsync is called twice: the temp file's passes, the folder's (after the rename) kills
    calls: list[int] = []
    real_fsync = os.fsync

    def fsync_then_die(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            _kill_self()
        real_fsync(fd)

    assert _crash_in_child(target, b"new content", monkeypatch, "fsync",
                           fsync_then_die) == signal.SIGKILL
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
