"""Text for one line of output: a log line, a table cell, a journal field, a notice; and how
a measured time reads.

Every layer uses these (connectors included), so this module imports nothing of breakglass.
"""

from __future__ import annotations

from datetime import timedelta


def one_line(text: str, limit: int = 0) -> str:
    """`text` with every run of whitespace (newlines included) made one space; cut to `limit`
    characters with "…" when `limit` is set and the line is longer."""
    line = " ".join(text.split())
    return line if not limit or len(line) <= limit else line[: limit - 1] + "…"


def error_line(exc: BaseException, *, named: bool = True, limit: int = 0) -> str:
    """The first line of an exception's message (a vendor's multi-line dump says its point
    first), prefixed by the exception's type when `named`; the type alone for an empty one."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    first = one_line(lines[0], limit)
    return f"{type(exc).__name__}: {first}" if named else first


def human_duration(seconds: float | timedelta) -> str:
    """A measured time for people: '4.2s' (under two minutes, to a tenth), '4m 12s', '3h 5m',
    '2d 4h' — the two largest units, enough to compare with a target. Every elapsed time, age,
    RTO and RPO breakglass shows goes through here (a target or a config value: exact_duration)."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    s = max(0.0, seconds)
    if s < 120:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    if d:
        return f"{d}d {h}h"
    return f"{h}h {m}m" if h else f"{m}m {sec}s"


#: the units of breakglass.toml's durations (config/durations.py parses them), largest first
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def exact_duration(seconds: float | timedelta) -> str:
    """A duration as breakglass.toml writes it: the largest unit that divides it exactly
    ('26h', '30m', '90s'); how a target or a config value is shown."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    s = int(seconds)
    for unit, size in _UNITS:
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"
