"""Durations in breakglass.toml: `90s`, `30m`, `26h`, `7d`, `2w`.

One integer and one unit, nothing else: "1h30m" or "1.5h" would each need a rule a reader of the
config has to remember, and an RPO/RTO is never that precise. Parsing is strict so that a typo
("26x", "26 h", "-1d") is a configuration error rather than a silently different duration.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"([0-9]{1,9})([smhdw])")
HINT = "use e.g. 90s, 30m, 26h, 7d"


def parse_duration(text: str) -> timedelta:
    """`"26h"` -> `timedelta(hours=26)`; raises ValueError with a message for people."""
    match = _DURATION.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 40 else text[:37] + "..."
        # json.dumps: quoted, and a newline in the value cannot break the one-line message.
        raise ValueError(f"{json.dumps(shown, ensure_ascii=False)} is not a duration ({HINT})")
    number, unit = match.groups()
    return int(number) * UNITS[unit]


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration for display: the largest unit that divides exactly."""
    seconds = int(value.total_seconds())
    for unit, size in sorted(UNITS.items(), key=lambda kv: kv[1], reverse=True):
        step = int(size.total_seconds())
        if seconds and seconds % step == 0:
            return f"{seconds // step}{unit}"
    return f"{seconds}s"


def _validate(value: Any) -> timedelta:
    if isinstance(value, timedelta):  # built in Python (tests, defaults)
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise PydanticCustomError("duration", str(exc)) from None
    # The loader appends ", got <value>" to *_type errors.
    raise PydanticCustomError("duration_type", f"expected a duration string ({HINT})")


#: A pydantic field type: a duration string in TOML, a timedelta in Python, the string in JSON.
Duration = Annotated[timedelta, BeforeValidator(_validate),
                     PlainSerializer(format_duration, return_type=str, when_used="json")]
