"""connectors/process.py: a child gets a minimal environment and dies with breakglass; and
connectors/files.py: a user's path is read only when it is a regular file of a sane size."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from breakglass.connectors import process
from breakglass.connectors.files import NotAFile, read_regular

CANARY = "canaryValue7Q"


def gone(pid: int, within: float = 30.0) -> bool:
    """Whether `pid` has exited (or is a zombie: dead, waiting to be reaped) within `within`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_a_child_sees_path_and_locale_but_not_breakglass_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{CANARY}@h/d")
    out = process.run(["env"], capture_output=True, text=True, check=True).stdout
    assert CANARY not in out
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert {"PATH", "LC_ALL", "LANG"} <= names


def test_a_child_gets_only_the_variables_its_tool_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("SENTRY_DSN", CANARY)
    env = process.child_env({"PGHOST": "/sock"}, inherit=(*process.HOME, *process.NETWORK))
    assert env["HOME"] == "/home/someone"
    assert env["PIP_INDEX_URL"] == "https://mirror.example/simple"
    assert env["PGHOST"] == "/sock"
    assert "SENTRY_DSN" not in env


def test_the_environment_cannot_be_passed_around_the_helper() -> None:
    with pytest.raises(TypeError):
        process.run(["true"], env=dict(os.environ))


def test_a_child_dies_when_breakglass_is_killed() -> None:
    parent = textwrap.dedent("""
        import time
        from breakglass.connectors import process
        child = process.popen(["sleep", "600"])
        print(child.pid, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    try:
        assert not gone(child, within=0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert gone(child), "the child outlived the SIGKILLed parent"
    finally:
        proc.kill()
        if not gone(child, within=0):
            os.kill(child, signal.SIGKILL)


def test_a_child_starts_in_its_own_session() -> None:
    sid = int(process.run([sys.executable, "-c", "import os; print(os.getsid(0))"],
                          capture_output=True, text=True, check=True).stdout)
    assert sid != os.getsid(0)


# -- files -----------------------------------------------------------------------------------
def test_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert read_regular(tmp_path / "f") == b"abc"


def test_a_fifo_nobody_writes_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotAFile, match="not a regular file"):
        read_regular(tmp_path / "fifo")


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom"])
def test_an_endless_device_is_refused(path: str) -> None:
    with pytest.raises(NotAFile, match="not a regular file"):
        read_regular(Path(path))


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotAFile, match="is a directory"):
        read_regular(tmp_path)


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 2049)
    with pytest.raises(NotAFile, match="larger than 2 KiB"):
        read_regular(tmp_path / "big", limit=2048)
