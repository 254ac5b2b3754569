"""Run a command as `python` would, with the engine's crash-test hook installed: when the run
passes STEP.POINT (breakglass/engine/checkpoints.py) the process writes PAUSE_FILE (its pid) and
waits there to be SIGKILLed, once: an existing PAUSE_FILE disarms it, so a resumed run goes on.

    python tests/crash_at.py STEP.POINT PAUSE_FILE -m breakglass ARGS...
    python tests/crash_at.py STEP.POINT PAUSE_FILE tests/engine/driver.py ARGS...

The hook lives here, in the tests: breakglass itself only offers the hook point. `crash_argv`
turns a test's `[python, ...]` command into this one.
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breakglass.engine.checkpoints import Checkpoint, Point


def crash_argv(at: str, pause_file: Path, argv: Sequence[str]) -> list[str]:
    """`argv` (a `[python, ...]` command) run through this module, held at `at`."""
    return [argv[0], __file__, at, str(pause_file), *argv[1:]]


def hold_at(at: str, pause_file: Path) -> Checkpoint:
    def hook(step: str, point: Point) -> None:
        if f"{step}.{point}" != at or pause_file.exists():
            return
        pause_file.write_text(str(os.getpid()))
        while True:  # the test SIGKILLs us here
            time.sleep(3600)

    return hook


def main(args: Sequence[str]) -> None:
    # Imported here: run as a script, breakglass comes from the project root set below.
    from breakglass.engine.checkpoints import STEP_BOUNDARIES

    at, pause_file, *command = args
    STEP_BOUNDARIES.install(hold_at(at, Path(pause_file)))
    if command[0] == "-m":
        sys.argv = [command[1], *command[2:]]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(command)
        runpy.run_path(command[0], run_name="__main__")


if __name__ == "__main__":
    # Run as a script, sys.path[0] is tests/: the project root instead, as `python -m` has it.
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    main(sys.argv[1:])
