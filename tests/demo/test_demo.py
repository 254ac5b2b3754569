"""`breakglass demo`, the README's first command, end to end: it takes a backup, proves it with
a restore drill, catches a truncated backup, stops every server it started, and runs again
cleanly in the same place."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A short TMPDIR of the demo's own (unix socket paths are limited to 107 bytes): every
    cluster it starts lives below it, so a leftover server is found by path without being
    confused with the clusters of tests running in parallel."""
    path = Path(tempfile.mkdtemp(prefix="bgdemo-", dir="/tmp"))
    # As root the cluster runs as an unprivileged user, which must traverse this directory.
    os.chmod(path, 0o711)  # noqa: S103
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postgres_processes_under(path: Path) -> list[str]:
    """Command lines of postgres server processes whose data directory is below `path`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(argv).decode(errors="replace")
        if argv and argv[0].endswith(b"postgres") and str(path) in text:
            found.append(text)
    return found


def _demo(cwd: Path, tmpdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "breakglass", "demo", "--dir", "sandbox"],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmpdir)})


def test_demo_runs_end_to_end_twice_and_leaves_no_server(tmp_path: Path,
                                                         private_tmp: Path) -> None:
    for attempt in (1, 2):
        r = _demo(tmp_path, private_tmp)
        assert r.returncode == 0, f"attempt {attempt}:\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr
        assert "act 1: backup.take succeeded" in r.stdout
        assert "act 2: drill.restore succeeded" in r.stdout
        assert "ARCHIVE_TRUNCATED caught" in r.stdout
        assert "RTO " in r.stdout and "RPO " in r.stdout
        assert _postgres_processes_under(private_tmp) == [], "the demo left a PostgreSQL"
        assert list(private_tmp.iterdir()) == [], "the demo left cluster directories"
    sandbox = tmp_path / "sandbox"
    reports = list((sandbox / "state" / "reports").glob("*.html"))
    assert (sandbox / "state" / "reports" / "drill-restore-trend.html") in reports
    # The second run rebuilt the sandbox: one backup taken, one truncated copy.
    assert len(list((sandbox / "store").glob("*.dump"))) == 2


def test_demo_refuses_a_directory_that_is_not_its_sandbox(tmp_path: Path,
                                                          private_tmp: Path) -> None:
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "precious.txt").write_text("not the demo's")
    r = _demo(tmp_path, private_tmp)
    assert r.returncode != 0
    assert "not a breakglass demo sandbox" in r.stderr
    assert (tmp_path / "sandbox" / "precious.txt").exists()
