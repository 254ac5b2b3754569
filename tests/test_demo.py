"""`breakglass demo`, the README's first command, end to end: it takes a backup, proves it with
a restore drill, catches a truncated backup, stops every server it started, and runs again
cleanly in the same place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _postgres_processes() -> set[str]:
    """Command lines of every postgres server process on this machine."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres"):
            found.add(b" ".join(argv).decode(errors="replace"))
    return found


def _demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "breakglass", "demo", "--dir", "sandbox"],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_demo_runs_end_to_end_twice_and_leaves_no_server(tmp_path: Path) -> None:
    before = _postgres_processes()
    for attempt in (1, 2):
        r = _demo(tmp_path)
        assert r.returncode == 0, f"attempt {attempt}:\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr
        assert "act 1: backup.take succeeded" in r.stdout
        assert "act 2: drill.restore succeeded" in r.stdout
        assert "ARCHIVE_TRUNCATED caught" in r.stdout
        assert "RTO " in r.stdout and "RPO " in r.stdout
        assert _postgres_processes() <= before, "the demo left a PostgreSQL running"
    sandbox = tmp_path / "sandbox"
    reports = list((sandbox / "state" / "reports").glob("*.html"))
    assert (sandbox / "state" / "reports" / "drill-restore-trend.html") in reports
    # The second run rebuilt the sandbox: one backup taken, one truncated copy.
    assert len(list((sandbox / "store").glob("*.dump"))) == 2


def test_demo_refuses_a_directory_that_is_not_its_sandbox(tmp_path: Path) -> None:
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "precious.txt").write_text("not the demo's")
    r = _demo(tmp_path)
    assert r.returncode != 0
    assert "not a breakglass demo sandbox" in r.stderr
    assert (tmp_path / "sandbox" / "precious.txt").exists()
