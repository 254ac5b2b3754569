"""The points a run passes in each step, as one hook point a test can hold a run at.

    before_apply   the step's apply is journaled as started, nothing applied yet
    mid            the step's first progress report with done > 0 (its apply is under way)
    after_apply    the step's result is journaled, not yet verified
    after_verify   verified, `step_done` not yet journaled

Production code never reads a switch for this: the executor calls `Services.checkpoint` (by
default `STEP_BOUNDARIES`, which does nothing until a hook is installed). The crash tests install
a hook in the process they start (tests/crash_at.py) that SIGKILL-waits at one point, so that
resume and undo can be proven from every boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Point = Literal["before_apply", "mid", "after_apply", "after_verify"]
#: called with (step name, point) each time a run passes a point
Checkpoint = Callable[[str, Point], None]


class HookPoint:
    """The hooks installed in this process, called in order at every point."""

    def __init__(self) -> None:
        self._hooks: list[Checkpoint] = []

    def install(self, hook: Checkpoint) -> None:
        self._hooks.append(hook)

    def __call__(self, step: str, point: Point) -> None:
        for hook in self._hooks:
            hook(step, point)


#: the process's hook point; empty (a no-op) unless a test installed a hook
STEP_BOUNDARIES = HookPoint()
