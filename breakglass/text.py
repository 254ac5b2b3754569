"""Text for one line of output: a log line, a table cell, a journal field, a notice.

Every layer uses these (connectors included), so this module imports nothing of breakglass.
"""

from __future__ import annotations


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
