"""A project folder driven through the real `breakglass` CLI in a subprocess — what the runbook
tests share: the config path, every output seen (for canary searches), and SIGKILL at an engine
pause point (tests/crash_at.py, see tests/engine/test_pause_hook.py) followed by
`runs.resume`. Subclasses add their servers, `write()` their config, and may extend `env()`
(`environ` holds what a test adds to every command's environment: a DSN, a notify URL)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tests.crash_at import crash_argv
from tests.result_schema import check_output


@dataclass
class CliProject:
    root: Path
    #: every stdout+stderr seen, by command (canary tests search them all)
    outputs: dict[str, str] = field(default_factory=dict, kw_only=True)
    #: processes this test started (killed at teardown if still running)
    started: list[subprocess.Popen[str]] = field(default_factory=list, kw_only=True)
    #: added to every command's environment (env())
    environ: dict[str, str] = field(default_factory=dict, kw_only=True, repr=False)
    #: the task `start_paused` and `kill_at` run (empty: the caller names it)
    command: ClassVar[tuple[str, ...]] = ()
    #: the umask commands run with (None: the test's own)
    umask: ClassVar[int | None] = None

    @property
    def config(self) -> Path:
        return self.root / "breakglass.toml"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def pause_file(self) -> Path:
        return self.root / "paused"

    def env(self, **more: str) -> dict[str, str]:
        return {**os.environ, **self.environ, **more}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "breakglass", *args, "--config", str(self.config)]

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        umask = self.umask
        r = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env=env or self.env(),
                           preexec_fn=None if umask is None else lambda: os.umask(umask))
        self.outputs[f"{' '.join(args)} #{len(self.outputs)}"] = r.stdout + r.stderr
        check_output(args, r.returncode, r.stdout)
        return r

    def start_paused(self, point: str, *args: str) -> subprocess.Popen[str]:
        """Start `COMMAND ARGS --yes` and wait until the engine pauses at `point`."""
        self.pause_file.unlink(missing_ok=True)
        proc = subprocess.Popen(crash_argv(point, self.pause_file,
                                           self.argv(*self.command, *args, "--yes")),
                                env=self.env(), text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.started.append(proc)
        deadline = time.monotonic() + 120
        while not self.pause_file.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"run ended ({proc.returncode}) before {point}:\n{out}{err}")
            assert time.monotonic() < deadline, f"never paused at {point}"
            time.sleep(0.05)
        return proc

    def kill(self, proc: subprocess.Popen[str], point: str = "a pause point") -> None:
        """SIGKILL a run (paused by start_paused), keeping what it printed."""
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        self.outputs[f"killed at {point} #{len(self.outputs)}"] = (out or "") + (err or "")

    def kill_at(self, point: str, *args: str) -> None:
        """Run `COMMAND ARGS --yes` until the engine pauses at `point`, then SIGKILL it."""
        self.kill(self.start_paused(point, *args), point)

    def run_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.state / "runs").glob("*.jsonl"))

    def journal(self, run_id: str) -> Path:
        return self.state / "runs" / f"{run_id}.jsonl"

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.journal(run_id).read_text().splitlines()]

    def resume(self, run_id: str) -> subprocess.CompletedProcess[str]:
        return self.run("runs.resume", run_id, "--yes")

    def stop_started(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)


def recovery_plan(output: str, code: str) -> list[str]:
    """The numbered commands printed under "Recovery plan (CODE, …):" (engine/render.py), as a
    person would copy them."""
    lines = output.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith(f"Recovery plan ({code}")),
              None)
    plan: list[str] = []
    for line in lines[at + 1:] if at is not None else []:
        m = re.match(r"\s+\d+\. (.*)$", line)
        if m is None:
            break
        plan.append(m.group(1))
    return plan
