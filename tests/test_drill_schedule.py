"""`breakglass drill.schedule --print cron|systemd|github`: each output parses, and cron
expressions that OnCalendar cannot express are refused with exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from breakglass.drills.schedule import on_calendar
from breakglass.errors import UsageError


def write_config(tmp_path: Path, schedule: str = "0 3 1 * *") -> Path:
    path = tmp_path / "breakglass.toml"
    path.write_text(
        '[project]\nname = "acme"\nenvironment = "test"\n\n'
        '[databases.main]\ndsn = "env:DATABASE_URL"\n\n'
        '[backups.main]\nstore = "s3://acme-backups/pg/"\ndatabase = "main"\n'
        'encryption = "age"\nidentity = "env:BACKUP_AGE_IDENTITY"\n\n'
        f'[drills.restore]\nbackup = "main"\nschedule = "{schedule}"\n')
    return path


def schedule(config: Path, kind: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "breakglass", "drill.schedule", "--print", kind,
                           "--config", str(config)], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"})


def test_cron_line_runs_the_drill_with_yes_and_the_config(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = schedule(cfg, "cron")
    assert out.returncode == 0, out.stderr
    (line,) = [ln for ln in out.stdout.splitlines() if ln and not ln.startswith("#")]
    fields = line.split()
    assert fields[:5] == ["0", "3", "1", "*", "*"]
    assert fields[5] == sys.executable
    assert "drill.restore" in fields and "--yes" in fields and str(cfg) in fields
    assert "BACKUP_AGE_IDENTITY" in out.stdout and "DATABASE_URL" in out.stdout


def test_systemd_pair_has_a_oneshot_service_and_a_timer(tmp_path: Path) -> None:
    out = schedule(write_config(tmp_path, "30 2 * * 1-5"), "systemd")
    assert out.returncode == 0, out.stderr
    service, timer = out.stdout.split("# /etc/systemd/system/breakglass-drill-restore.timer")
    assert "[Service]" in service and "Type=oneshot" in service and "ExecStart=" in service
    assert "OnCalendar=Mon..Fri *-*-* 02:30:00" in timer and "[Install]" in timer


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
@pytest.mark.parametrize("expr", ["0 3 1 * *", "30 2 * * 1-5", "*/15 * * * *", "0 0,12 * * *",
                                  "5 4 * 1,7 0", "0 6 1-7 */2 *"])
def test_on_calendar_is_accepted_by_systemd_analyze(expr: str) -> None:
    done = subprocess.run(["systemd-analyze", "calendar", on_calendar(expr)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("expr", "want"), [
    ("0 3 1 * *", "*-*-01 03:00:00"),
    ("*/15 * * * *", "*-*-* *:00/15:00"),
    ("5 4 * * 0", "Sun *-*-* 04:05:00"),
    ("5 4 * * 7", "Sun *-*-* 04:05:00"),
])
def test_on_calendar_conversion(expr: str, want: str) -> None:
    assert on_calendar(expr) == want


@pytest.mark.parametrize("expr", ["0 3 1 * 1", "0 3 * JAN *", "0 3 * * MON", "0 25 * * *",
                                  "0 3 1-10/2 * *"])
def test_unconvertible_cron_is_a_clear_usage_error(expr: str) -> None:
    with pytest.raises(UsageError, match=r"drills\.restore\.schedule"):
        on_calendar(expr)


def test_unconvertible_cron_exits_2_with_one_line(tmp_path: Path) -> None:
    out = schedule(write_config(tmp_path, "0 3 1 * 1"), "systemd")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_github_workflow_is_valid_yaml_with_secrets(tmp_path: Path) -> None:
    out = schedule(write_config(tmp_path), "github")
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    # PyYAML reads the key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    triggers = doc.get("on", doc.get(True))
    assert triggers["schedule"] == [{"cron": "0 3 1 * *"}]
    steps = doc["jobs"]["restore-drill"]["steps"]
    drill = next(s for s in steps if "drill.restore" in s.get("run", ""))
    assert "--yes" in drill["run"]
    assert drill["env"] == {"BACKUP_AGE_IDENTITY": "${{ secrets.BACKUP_AGE_IDENTITY }}",
                            "DATABASE_URL": "${{ secrets.DATABASE_URL }}"}


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    out = schedule(write_config(tmp_path), "launchd")
    assert out.returncode == 2 and "--print must be one of" in out.stderr
