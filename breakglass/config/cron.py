"""The one cron parser: `[drills.restore] schedule` is checked by it when the config loads
(config.check, exit 2) and every schedule printer (cron, systemd, github, kubernetes) converts
what it returns, so a schedule the config accepts is one every printer can run as written.

Accepted: numbers, `*`, lists (`1,15`), ranges (`1-5`) and steps (`*/15`) in minute, hour, day
of month, month and day of week (0 and 7 are Sunday). Refused: names (`JAN`, `MON`) and
extensions (`L`, `W`, `#`, `?`), a step over a range, a step in the day of week, and a day of
month *and* a day of week both restricted — cron runs when *either* matches (crontab(5)),
systemd's OnCalendar only when *both* do (systemd.time(7)), so no single OnCalendar line means
the same.
"""

from __future__ import annotations

from dataclasses import dataclass

# field name, low, high
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))
HINT = 'use numbers, *, lists, ranges and */N (e.g. "0 3 1 * *")'


class CronError(ValueError):
    """What is wrong with the expression (without the key path: the caller names it)."""


#: one item of a field: `*`, `*/N` (step N), or a range lo..hi (lo == hi for one number)
@dataclass(frozen=True)
class Item:
    lo: int | None = None
    hi: int | None = None
    step: int | None = None

    @property
    def every(self) -> bool:
        return self.lo is None


@dataclass(frozen=True)
class Cron:
    """A parsed 5-field expression: per field, its items (a lone `*` is `(Item(),)`)."""

    text: str
    fields: tuple[tuple[Item, ...], ...]

    def unrestricted(self, index: int) -> bool:
        items = self.fields[index]
        return len(items) == 1 and items[0].every and items[0].step is None


def _number(text: str, name: str, lo: int, hi: int) -> int:
    if not text.isdigit():
        raise CronError(f"{name} {text!r} is not a number; {HINT}")
    n = int(text)
    if not lo <= n <= hi:
        raise CronError(f"{name} {n} is outside {lo}-{hi}; {HINT}")
    return n


def _field(text: str, index: int) -> tuple[Item, ...]:
    name, lo, hi = FIELDS[index]
    if text == "*":
        return (Item(),)
    if text.startswith("*/"):
        if index == 4:
            raise CronError(f"a step in the day of week ({text!r}) cannot be converted to "
                            f"systemd; {HINT}")
        return (Item(step=_number(text[2:], f"{name} step", 1, hi)),)
    items = []
    for part in text.split(","):
        if "/" in part:
            raise CronError(f"{name} {part!r}: a step over a range cannot be converted to "
                            f"systemd; {HINT}")
        ends = part.split("-")
        if len(ends) > 2:
            raise CronError(f"{name} {part!r} is not a range; {HINT}")
        nums = [_number(e, name, lo, hi) for e in ends]
        if nums[0] > nums[-1]:
            raise CronError(f"{name} range {part!r} runs backwards; {HINT}")
        items.append(Item(nums[0], nums[-1]))
    return tuple(items)


def parse(text: str) -> Cron:
    """`0 3 1 * *` -> Cron; CronError naming the first problem."""
    parts = text.split()
    if len(parts) != 5:
        raise CronError("expected a 5-field cron expression (minute hour day-of-month month "
                        'day-of-week), e.g. "0 3 1 * *" (03:00 on the 1st of each month)')
    cron = Cron(text, tuple(_field(p, i) for i, p in enumerate(parts)))
    if not cron.unrestricted(2) and not cron.unrestricted(4):
        raise CronError("both day of month and day of week are set: cron runs on either, "
                        "systemd only on both; set one of them to *")
    return cron


_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _calendar_field(items: tuple[Item, ...], index: int) -> str:
    low = FIELDS[index][1]
    out = []
    for item in items:
        if item.every:
            out.append("*" if item.step is None
                       else f"{low:02d}/{item.step}" if index < 2 else f"{low}/{item.step}")
        else:
            assert item.lo is not None and item.hi is not None
            ends = (item.lo,) if item.lo == item.hi else (item.lo, item.hi)
            out.append("..".join(_DAYS[n] if index == 4 else f"{n:02d}" for n in ends))
    return ",".join(out)


def on_calendar(cron: Cron) -> str:
    """`0 3 1 * *` -> `*-*-01 03:00:00` (systemd.time(7) calendar events)."""
    minute, hour, dom, month, dow = (_calendar_field(f, i) for i, f in enumerate(cron.fields))
    when = f"*-{month}-{dom} {hour}:{minute}:00"
    return when if dow == "*" else f"{dow} {when}"
