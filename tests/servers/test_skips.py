"""tests/skips.py: CI fails on a skip not on the allow-list; `needs` fails on a missing tool.
Each test runs pytest in a subprocess on a tiny test file, with only that plugin loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TESTS = '''
import pytest

def test_runs():
    pass

def test_skips_unlisted():
    pytest.skip("no frobnicator here")

def test_skips_listed():
    pytest.skip("cannot run in CI")

@pytest.mark.xfail(reason="known bug")
def test_expected_to_fail():
    assert False

@pytest.mark.needs(tools=("no-such-tool-bgtest",))
def test_needs_a_missing_tool():
    pass

@pytest.mark.needs(tools=("sh",))
def test_needs_a_present_tool():
    pass
'''


def pytest_run(tmp_path: Path, *args: str, allow: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_tiny.py").write_text(TESTS)
    (tmp_path / "allowed.txt").write_text(allow)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.skips", "-p", "no:cacheprovider",
         "-o", "addopts=", "-rA", "--skips-allowed", str(tmp_path / "allowed.txt"), *args,
         "test_tiny.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "COLUMNS": "400"})


def test_without_the_switch_skips_are_skips(tmp_path: Path) -> None:
    done = pytest_run(tmp_path)
    assert "2 passed, 2 skipped, 1 xfailed, 1 error in" in done.stdout  # error: missing tool


def test_an_unlisted_skip_fails_ci_in_one_line_naming_the_test_and_its_reason(
        tmp_path: Path) -> None:
    allow = "test_tiny.py::test_skips_listed  needs a frobnicator CI cannot have\n"
    done = pytest_run(tmp_path, "--fail-on-skip", allow=allow)
    assert done.returncode == 1
    line = ("test_tiny.py::test_skips_unlisted skipped (no frobnicator here) and is not in the "
            "skips allow-list: make it run here, or add it to tests/skips-allowed.txt with why")
    assert line in done.stdout
    assert "test_tiny.py:11: cannot run in CI" in done.stdout  # listed: still a skip
    assert "XFAIL test_tiny.py::test_expected_to_fail" in done.stdout  # xfail is not a skip
    assert "1 failed, 2 passed, 1 skipped, 1 xfailed, 1 error in" in done.stdout


def test_a_missing_tool_fails_the_test_with_its_name(tmp_path: Path) -> None:
    done = pytest_run(tmp_path)
    assert ("ERROR test_tiny.py::test_needs_a_missing_tool - Failed: needs no-such-tool-bgtest "
            "on PATH: run scripts/test once") in done.stdout


def test_an_allowed_skip_without_a_reason_is_refused(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, "--fail-on-skip", allow="test_tiny.py::test_skips_listed\n")
    assert done.returncode == 4  # pytest's usage error
    assert "allowed.txt:1: test_tiny.py::test_skips_listed has no reason" in done.stderr


def test_the_repository_allow_list_parses() -> None:
    from tests.skips import ALLOW_LIST, read_allow_list

    assert all(why for why in read_allow_list(ALLOW_LIST).values())
