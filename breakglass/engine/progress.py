"""Progress of long work inside a step, as people see it.

Steps report through `StepContext.progress` (a count of items or bytes) and
`StepContext.activity` (a phase with nothing to count: starting a server, decrypting, reading a
table of contents). The executor stamps each `ProgressEvent` with the running step and hands it
to a `ProgressView`:

- on a terminal: one transient line per label — a spinner (so a count that waits on a long index
  build is visibly alive), the label, then a bar and "12/40" for items, "1.2 MiB of 40.0 MiB,
  5.1 MiB/s" for bytes, nothing more for a phase. The lines go when the step's status line is
  printed; a phase's line goes as soon as the phase ends.
- in a log (cron, CI, a pipe; also with NO_COLOR or TERM=dumb: `animated`): no redrawn bar, no
  carriage return; one heartbeat line every `heartbeat` seconds while a step works (0: one per
  event, for tests), e.g.

      drill.restore: restore 12/40 data items, 3/18 indexes and constraints, 1m20s
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from breakglass.text import human_duration

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

Unit = Literal["items", "bytes", "phase"]

#: seconds between heartbeat lines in a log: often enough that a cron log shows the drill is
#: alive, rarely enough that a 20-minute restore is a screenful (the issue asked for 10-30 s)
DEFAULT_HEARTBEAT = 20.0


@dataclass(frozen=True)
class ProgressEvent:
    """One report. `ended`: the phase (or count) is over; its line is removed."""

    label: str
    done: float = 0
    total: float | None = None
    unit: Unit = "items"
    ended: bool = False
    step: str = ""  # set by the executor

    def stamped(self, step: str) -> ProgressEvent:
        return replace(self, step=step)


def animated(console: Console) -> bool:
    """May `console` redraw a line (a bar, a spinner)? Only on a terminal that takes escape
    codes: not in a pipe or a log, not with TERM=dumb, not with NO_COLOR (its console has no
    colour system: commands/_common.py `make_console`) — there, progress is heartbeat lines."""
    return (console.is_terminal and not console.is_dumb_terminal
            and console.color_system is not None)


def human_bytes(n: float) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n:.0f} B"


def _num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def amount(unit: Unit, done: float, total: float | None, rate: float | None) -> str:
    """The count part of a line: "12/40"; "1.2 MB of 40.0 MB, 5.1 MB/s"; "" for a phase."""
    if unit == "phase":
        return ""
    if unit == "bytes":
        text = human_bytes(done) + (f" of {human_bytes(total)}" if total else "")
        return text + (f", {human_bytes(rate)}/s" if rate else "")
    return f"{_num(done)}/{_num(total)}" if total is not None else _num(done)


@dataclass
class _Live:
    """What a label shows now."""

    event: ProgressEvent
    since: float = field(default_factory=time.monotonic)
    updated: float = field(default_factory=time.monotonic)

    def part(self) -> str:
        e = self.event
        if e.unit == "phase":
            return e.label
        took = self.updated - self.since  # a finished count's rate stays its own
        count = amount(e.unit, e.done, e.total, e.done / took if took >= 1 else None)
        return f"{count} {e.label}" if e.unit == "items" else f"{e.label} {count}"


def _bars(console: Console) -> Progress:
    """The terminal's progress lines. rich.progress is imported here, not at the top: every
    runbook imports this module (engine/runbook.py), and a check that never shows a bar should
    not pay for it (bench/check_observatory.py)."""
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Bar(BarColumn):
        """No bar for a phase: its spinner and name say all there is."""

        def render(self, task: Task) -> Text:  # type: ignore[override]
            if task.fields.get("unit") == "phase":
                return Text("")
            return super().render(task)  # type: ignore[return-value]

    class Amount(ProgressColumn):
        def render(self, task: Task) -> Text:
            unit: Unit = task.fields.get("unit", "items")
            return Text(amount(unit, task.completed, task.total, task.speed), style="cyan")

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), Bar(), Amount(),
                    TimeElapsedColumn(), console=console, transient=True)


class ProgressView:
    """Shows ProgressEvents on `console` (see the module docstring). `stop()` ends the step's
    display; the next event starts a new one."""

    def __init__(self, console: Console, runbook: str,
                 heartbeat: float = DEFAULT_HEARTBEAT) -> None:
        self.console, self.runbook, self.heartbeat = console, runbook, heartbeat
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}
        self._step, self._since = "", 0.0
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._stopping = threading.Event()
        self._beater: threading.Thread | None = None

    def update(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.step != self._step or not self._since:  # a step's first report
                self._step, self._since = event.step, time.monotonic()
            if event.ended:
                self._live.pop(event.label, None)
            elif event.label in self._live:
                live = self._live[event.label]
                live.event, live.updated = event, time.monotonic()
            else:
                self._live[event.label] = _Live(event)
            if animated(self.console):
                self._draw(event)
            elif self.heartbeat <= 0:
                self._beat()
            elif self._beater is None:
                self._stopping.clear()
                self._beater = threading.Thread(target=self._beat_every, daemon=True,
                                                name="breakglass-heartbeat")
                self._beater.start()

    def stop(self) -> None:
        if self._beater is not None:
            self._stopping.set()
            self._beater.join()
            self._beater = None
        with self._lock:
            if self._bars is not None:
                self._bars.stop()
            self._bars, self._tasks, self._live = None, {}, {}
            self._step, self._since = "", 0.0

    # -- a terminal ---------------------------------------------------------------------------
    def _draw(self, event: ProgressEvent) -> None:
        from rich.markup import escape

        if self._bars is None:
            self._bars = _bars(self.console)
            self._bars.start()
        task = self._tasks.get(event.label)
        if event.ended:
            if task is not None:
                self._bars.remove_task(task)
                del self._tasks[event.label]
            return
        if task is None:
            task = self._tasks[event.label] = self._bars.add_task(
                escape(event.label), total=event.total, unit=event.unit)
        self._bars.update(task, completed=event.done, total=event.total)

    # -- a log ----------------------------------------------------------------------------------
    def _beat_every(self) -> None:
        while not self._stopping.wait(self.heartbeat):
            with self._lock:
                self._beat()

    def _beat(self) -> None:
        """One line: the runbook, the step, what each live label has reached, the time since the
        step's first report. Called with the lock held."""
        if not self._live:
            return
        now = time.monotonic()
        parts = [live.part() for live in self._live.values()]
        line = (f"{self.runbook}: {self._step} {', '.join(parts)}, "
                f"{human_duration(now - self._since)}")
        from rich.text import Text

        self.console.print(Text(line), soft_wrap=True, highlight=False)
