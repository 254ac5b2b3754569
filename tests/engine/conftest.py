"""Fixtures for the engine tests: a project folder with a minimal breakglass.toml and a helper
that runs the real CLI (through driver.py, which registers the test runbooks) in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from tests.cli_project import CliProject

DRIVER = Path(__file__).with_name("driver.py")


@dataclass
class Project(CliProject):
    """The engine's test runbooks, run by tests/engine/driver.py (not the breakglass CLI)."""

    #: umask 0 proves the 0600/0700 modes do not come from the caller's umask
    umask: ClassVar[int | None] = 0

    @property
    def markers(self) -> Path:
        return self.root / "markers"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, str(DRIVER), *args, "--config", str(self.config)]

    def run(self, *args: str, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # stdin is not a TTY: a mutating run without --yes must refuse, never hang on a prompt.
        # `env` adds to the test's environment here.
        return super().run(*args, env=self.env(**(env or {})), timeout=timeout)

    def markers_run(self, *args: str,
                    env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("markers", "--dir", str(self.markers), *args, env=env)

    def start_paused(self, pause: str, *args: str) -> subprocess.Popen[str]:
        """Start a `markers --yes` run that stops at `pause` and wait until it is there."""
        self.pause_file.unlink(missing_ok=True)
        proc = subprocess.Popen(
            self.argv("markers", "--dir", str(self.markers), "--yes", "--pause", pause,
                      "--pause-file", str(self.pause_file), *args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.started.append(proc)
        deadline = time.monotonic() + 60
        while not self.pause_file.exists():
            if proc.poll() is not None:
                raise AssertionError(f"run ended before pausing at {pause}: {proc.returncode}\n"
                                     f"{proc.stdout.read() if proc.stdout else ''}"
                                     f"{proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise AssertionError(f"run never reached {pause}")
            time.sleep(0.02)
        return proc

    def applied(self) -> list[str]:
        log = self.markers / "applied.log"
        return log.read_text().split() if log.exists() else []

    def undone(self) -> list[str]:
        log = self.markers / "undo.log"
        return log.read_text().split() if log.exists() else []

    def add_owner(self, url: str) -> None:
        """alice owns incident_response (the test runbooks' responsibility), told at `url`.
        Without an owner the engine's owner check is a finding of every read-only run."""
        self.config.write_text(self.config.read_text() + (
            '\n[owners]\nincident_response = ["alice"]\n\n'
            f'[people.alice]\nnotify = ["{url}"]\n'))

    def present(self) -> list[str]:
        return sorted(p.name for p in self.markers.glob("s*.*"))


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = Project(tmp_path)
    proj.markers.mkdir()
    proj.config.write_text('[project]\nname = "acme"\nenvironment = "test"\n'
                           'state_dir = "state"\n')
    yield proj
    for proc in proj.started:  # only what this test started
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
