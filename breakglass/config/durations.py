"""Durations in breakglass.toml: `90s`, `30m`, `26h`, `7d`, `2w`.

One integer and one unit, nothing else: "1h30m" or "1.5h" would each need a rule a reader of the
config has to remember, and an RPO/RTO is never that precise. Parsing is strict so that a typo
("26x", "26 h", "-1d") is a configuration error rather than a silently different duration.

Every duration of the file is bounded (`Duration`: up to ten years; `Timeout`: 1 s to a day):
"999999999w" is a configuration error naming the allowed range, never an OverflowError when a
run later adds it to a date.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import partial
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from breakglass.text import exact_duration

UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"([0-9]{1,9})([smhdw])")
HINT = "use e.g. 90s, 30m, 26h, 7d"
#: the longest duration anywhere in the file (ten years: retention, certificate margins)
LONGEST = timedelta(days=3650)


def _shown(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    # json.dumps: quoted, and a newline in the value cannot break the one-line message.
    return json.dumps(shown, ensure_ascii=False)


def parse_duration(text: str) -> timedelta:
    """`"26h"` -> `timedelta(hours=26)`; raises ValueError with a message for people."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{_shown(text)} is not a duration ({HINT})")
    number, unit = match.groups()
    seconds = int(number) * int(UNITS[unit].total_seconds())
    # Compared as plain ints: 999999999w is beyond what a timedelta can hold (OverflowError).
    if seconds > timedelta.max.total_seconds():
        raise ValueError(f"{_shown(text)} is too long")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration for display (text.py, shared with the engine)."""
    return exact_duration(value)


def _validate(value: Any, shortest: timedelta, longest: timedelta) -> timedelta:
    if isinstance(value, timedelta):  # built in Python (tests, defaults)
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = parse_duration(value)
        except ValueError as exc:
            if "too long" not in str(exc):
                raise PydanticCustomError("duration", str(exc)) from None
            parsed = timedelta.max
    else:
        # The loader appends ", got <value>" to *_type errors.
        raise PydanticCustomError("duration_type", f"expected a duration string ({HINT})")
    if not shortest <= parsed <= longest:
        raise PydanticCustomError(
            "duration_range", f"must be between {format_duration(shortest)} and "
                              f"{format_duration(longest)}")
    return parsed


def _bounded(shortest: timedelta, longest: timedelta) -> BeforeValidator:
    return BeforeValidator(partial(_validate, shortest=shortest, longest=longest))


_AS_TEXT = PlainSerializer(format_duration, return_type=str, when_used="json")
#: A pydantic field type: a duration string in TOML, a timedelta in Python, the string in JSON;
#: from 0s (none) up to ten years.
Duration = Annotated[timedelta, _bounded(timedelta(0), LONGEST), _AS_TEXT]
#: how long to wait for something: a zero wait never succeeds, and more than a day is a typo
Timeout = Annotated[timedelta, _bounded(timedelta(seconds=1), timedelta(days=1)), _AS_TEXT]
