"""What a test needs from the machine, and CI's rule that nothing skips unless it is allowed.

A test that needs a tool says so with `@pytest.mark.needs(tools=("nft", "sudo"))`: a missing tool
FAILS the test with the tool's name (scripts/test installs every tool the suite uses, so a missing
one is a broken set-up, never a reason to pass quietly). A test that needs root says
`needs(root="why")`: on a developer's non-root machine it skips with that reason, since no install
fixes it; CI runs as root.

`--fail-on-skip` (CI turns it on: .ci/run, scripts/test-lowest) fails every skipped test that is not
listed in the allow-list (`--skips-allowed`, default tests/skips-allowed.txt), with one line naming
the test and its reason. A line of the allow-list is a test id (fnmatch pattern) then why it may
skip in CI; `#` starts a comment.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Generator
from pathlib import Path

import pytest

ALLOW_LIST = Path(__file__).with_name("skips-allowed.txt")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("breakglass")
    group.addoption("--fail-on-skip", action="store_true",
                    help="fail every skipped test not listed in the skips allow-list (CI)")
    group.addoption("--skips-allowed", type=Path, default=ALLOW_LIST,
                    help=f"the skips allow-list (default {ALLOW_LIST.name} beside this plugin)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(tools=(), root=None): tools that must be on PATH (a missing one fails "
        "the test), and why the test needs root (skips when not root)")
    if config.getoption("--fail-on-skip"):
        config.stash[_ALLOWED] = read_allow_list(config.getoption("--skips-allowed"))


_ALLOWED = pytest.StashKey[dict[str, str]]()


def read_allow_list(path: Path) -> dict[str, str]:
    """Pattern -> why. A line without a reason is refused: an allowed skip must say why."""
    allowed: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, _, why = line.partition(" ")
        if not why.strip():
            raise pytest.UsageError(f"{path}:{number}: {pattern} has no reason; write why it "
                                    f"may skip in CI after the test id")
        allowed[pattern] = why.strip()
    return allowed


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        missing = [tool for tool in mark.kwargs.get("tools", ()) if shutil.which(tool) is None]
        if missing:
            pytest.fail(f"needs {', '.join(missing)} on PATH: run scripts/test once (it installs "
                        f"the Debian packages the tests use)", pytrace=False)
        why = mark.kwargs.get("root")
        if why and os.geteuid() != 0:
            pytest.skip(f"needs root: {why} (CI runs as root)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    allowed = item.config.stash.get(_ALLOWED, None)
    if allowed is None or not report.skipped or hasattr(report, "wasxfail"):
        return
    if any(fnmatch.fnmatchcase(item.nodeid, pattern) for pattern in allowed):
        return
    reason = _reason(report)
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} skipped ({reason}) and is not in the skips allow-list: "
                       f"make it run here, or add it to tests/skips-allowed.txt with why")


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")
