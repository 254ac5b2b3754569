"""pydantic's errors, translated into one line per problem naming the full key path:

    backups.main.retention_days: expected an integer, got "thirty"
    people.alice.notfy: unknown key (did you mean "notify"?)

pydantic's own text is multi-line and names Python types; the user wrote TOML, so the lines speak
TOML (table, array, integer). Values are echoed only where they cannot be a secret.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

# Keys whose values may be secrets: never echoed back, whatever is wrong with them.
SECRET_KEYS = frozenset({"dsn", "key", "identity", "notify", "value", "password", "token"})

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
    "float_type": "a number", "list_type": "an array", "dict_type": "a table",
    "model_type": "a table", "model_attributes_type": "a table", "path_type": "a path string",
}


def key_path(loc: Sequence[str | int]) -> str:
    """('people', 'a b', 'notify', 0) -> 'people."a b".notify[0]' (TOML's own spelling)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out += f".{name}" if out else name
    return out or "(top level)"


def describe_value(value: Any, secret: bool = False) -> str:
    """A short TOML-ish rendering of a value for "got ..." (never the value of a secret)."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if secret:
        return "a value (not shown)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, int | float):
        text = str(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}"  # dates and times: TOML has them, we never expect them


def translate(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    return [line for err in exc.errors() if (line := _line(err, root))]


def _line(err: Any, root: type[BaseModel]) -> str:
    loc: tuple[str | int, ...] = tuple(p for p in err["loc"] if isinstance(p, str | int))
    kind: str = err["type"]
    value = err.get("input")
    secret = any(isinstance(p, str) and p in SECRET_KEYS for p in loc)
    path = key_path(loc)
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "extra_forbidden":
        known = _fields_at(root, loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f' (did you mean "{guess[0]}"?)' if guess else (
            f" (known: {', '.join(known)})" if known else "")
        return f"{path}: unknown key{hint}"
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        expected = expected.replace("'", '"')
        return f"{path}: expected one of {expected}, got {describe_value(value, secret)}"
    if kind in _TYPE_WORDS:
        return f"{path}: expected {_TYPE_WORDS[kind]}, got {describe_value(value, secret)}"
    if kind in ("duration_type", "path_type", "duration_range"):
        return f"{path}: {err['msg']}, got {describe_value(value, secret)}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        ctx = err.get("ctx") or {}
        bound = next(iter(ctx.values()), "")
        word = {"greater_than_equal": "at least", "less_than_equal": "at most",
                "greater_than": "more than", "less_than": "less than"}[kind]
        rule = _range_at(root, loc) or f"{word} {bound}"
        return f"{path}: must be {rule}, got {describe_value(value, secret)}"
    if kind == "value_error":
        return f"{path}: {err['msg'].removeprefix('Value error, ')}"
    # Our own PydanticCustomErrors carry a message written for people.
    return f"{path}: {err['msg']}"


def _range_at(root: type[BaseModel], loc: Sequence[str | int]) -> str:
    """"between 1 and 3650" for a field declared with ge=1, le=3650 (empty unless both)."""
    parent = _unwrap(_type_at(root, loc[:-1]))
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return ""
    field = parent.model_fields.get(str(loc[-1]))
    low = high = None
    for item in field.metadata if field else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return f"between {low} and {high}" if low is not None and high is not None else ""


def _fields_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names of the model found by walking `loc` from `root` (for "did you mean")."""
    current = _unwrap(_type_at(root, loc))
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [name for name in current.model_fields if name != "path"]
    return []


def _type_at(root: type[BaseModel], loc: Sequence[str | int]) -> Any:
    """The declared type found by walking `loc` from `root` (None when the walk fails)."""
    current: Any = root
    i = 0
    while i < len(loc):
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(loc[i]))
            if field is None:
                return None
            current = field.annotation
            i += 1
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin is dict and len(args) == 2:
            current = args[1]
        elif origin is list and args:
            current = args[0]
        else:
            return None
        i += 1
    return current


def _unwrap(tp: Any) -> Any:
    """`X | None` -> X; Annotated[X, ...] -> X; a model completed by plugins (its
    `complete_model()`, e.g. [drills.restore] with each drill environment's key) -> that one."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    complete = getattr(tp, "complete_model", None)
    return complete() if isinstance(tp, type) and callable(complete) else tp


def dedupe(lines: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(lines))
