"""Every key of breakglass.toml, read from the pydantic models themselves (docs/configuration.md's
key table is generated from this: `python -m breakglass.docsgen`).

The walk is generic: nested sections, `dict[str, Model]` tables (`hosts.NAME`), arrays of tables
(`drills.restore.expect[]`) and unions of models, discriminated or not (a `[secrets.NAME]` whose
`kind` picks its model: the keys every arm shares come once, the others name their arm). A key's
meaning is its `Field(description=…)`, else the `#:` comment above it in the model's source;
a section's is its model's docstring.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
import types
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from breakglass.config import base, durations


@dataclass(frozen=True)
class Key:
    path: str
    type: str
    default: str  # "required", a TOML value, or "" (unset)
    meaning: str


#: Named field types, told apart by the validator objects their Annotated alias carries (most
#: specific first: an ExistingFile is also a ConfigPath).
_ALIASES: tuple[tuple[Any, str], ...] = (
    (base.ExistingFile, "path to a file"),
    (base.ConfigPath, "path"),
    (base.SecretRef, "reference"),
    (base.NonEmpty, "string"),
    (durations.Timeout, "duration, 1s–1d"),
    (durations.Duration, "duration"),
)
_VALIDATORS = {base.http_url: "http(s) URL"}


def keys(model: type[BaseModel], prefix: str = "") -> list[Key]:
    """The keys of `model` and of every section under it, in the models' order."""
    out: list[Key] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        out += _rows(f"{prefix}{name}", field.annotation, list(field.metadata),
                     _meaning(model, name, field), field)
    return out


def _rows(path: str, ann: Any, meta: list[Any], meaning: str,
          field: FieldInfo | None) -> list[Key]:
    ann, meta = _unwrap(ann, meta)
    arms = [a for a in _union(ann) if a is not type(None)]
    models = [a for a in arms if _is_model(a)]
    if models and len(models) == len(arms):
        return _section(path, models, meaning)
    origin = get_origin(ann)
    if origin is dict:
        value = _unwrap(get_args(ann)[1], [])[0]
        if all(_is_model(a) for a in _union(value) if a is not type(None)):
            return _rows(f"{path}.NAME", value, [], meaning, None)
    if origin is list:
        item = _unwrap(get_args(ann)[0], [])[0]
        if _is_model(item):
            return _section(f"{path}[]", [item], meaning)
    return [Key(path, type_text(ann, meta), _default(field), meaning)]


def _section(path: str, models: list[type[BaseModel]], meaning: str) -> list[Key]:
    """A section (one model) or a table whose model is one of several (a union)."""
    doc = (meaning or _docstring(models[0])) if len(models) == 1 else meaning
    head = [Key(path, "table", "", doc)] if doc else []
    if len(models) == 1:
        return head + keys(models[0], f"{path}.")
    shared = set.intersection(*(set(m.model_fields) for m in models))
    tag = _discriminator(models, shared)
    if tag:
        values = ", ".join(_literal(m, tag) for m in models)
        head.append(Key(f"{path}.{tag}", values, "required", "picks which keys below apply"))
    out: list[Key] = []
    for model in models:
        when = f" (kind {_literal(model, tag)})" if tag else f" ({model.__name__})"
        for key in keys(model, f"{path}."):
            name = key.path.removeprefix(f"{path}.").split(".", 1)[0].removesuffix("[]")
            if name == tag or (name in shared and key in out):
                continue
            if name not in shared:
                key = Key(key.path, key.type, key.default, f"{key.meaning}{when}".strip())
            out.append(key)
    return head + out


def _discriminator(models: list[type[BaseModel]], shared: set[str]) -> str | None:
    """The shared field whose type is a Literal in every arm (`kind`), if any."""
    for name in sorted(shared):
        if all(get_origin(_tag_type(m, name)) is Literal for m in models):
            return name
    return None


def _tag_type(model: type[BaseModel], name: str) -> Any:
    return _unwrap(model.model_fields[name].annotation, [])[0]


def _literal(model: type[BaseModel], tag: str | None) -> str:
    return ", ".join(f"`{v}`" for v in get_args(_tag_type(model, tag))) if tag else ""


def type_text(ann: Any, meta: list[Any] | None = None) -> str:
    """How a value of this type is written in the file, for a person."""
    ann, meta = _unwrap(ann, list(meta or []))
    for alias, text in _ALIASES:
        if all(any(m is a for m in meta) for a in alias.__metadata__):
            return text
    for m in meta:
        if isinstance(m, AfterValidator) and m.func in _VALIDATORS:
            return _VALIDATORS[m.func]
    if get_origin(ann) in (Union, types.UnionType):
        arms = [a for a in get_args(ann) if a is not type(None)]
        if len(arms) == 1:  # `X | None`: unset is the default, not a value to write
            return type_text(arms[0], meta)
        return " or ".join(type_text(a) for a in arms)
    origin = get_origin(ann)
    if origin is Literal:
        return ", ".join(f"`{v}`" for v in get_args(ann))
    if origin is list:
        return f"array of {type_text(get_args(ann)[0])}"
    if origin is dict:
        return f"table: NAME = {type_text(get_args(ann)[1])}"
    simple = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path",
              timedelta: "duration", Any: "string, number or boolean"}.get(
                  ann, getattr(ann, "__name__", str(ann)))
    return simple + _bounds(meta)


def _bounds(meta: list[Any]) -> str:
    low = next((m.ge for m in meta if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in meta if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        return f" {low}–{high}"
    if low is not None:
        return f" ≥ {low}"
    return f" ≤ {high}" if high is not None else ""


def _default(field: FieldInfo | None) -> str:
    if field is None:
        return ""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined or isinstance(value, BaseModel | dict):
        return ""
    return f"`{_toml(value)}`"


def _toml(value: Any) -> str:
    if isinstance(value, timedelta):
        return durations.format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(_toml(v)) if isinstance(v, str) else _toml(v)
                               for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _unwrap(ann: Any, meta: list[Any]) -> tuple[Any, list[Any]]:
    while get_origin(ann) is Annotated:
        args = get_args(ann)
        ann, meta = args[0], [*meta, *args[1:]]
    for m in list(meta):
        if isinstance(m, FieldInfo):  # Annotated[X, Field(ge=…)]: its constraints
            meta += m.metadata
    return ann, meta


def _union(ann: Any) -> tuple[Any, ...]:
    if get_origin(ann) in (Union, types.UnionType):
        return tuple(_unwrap(a, [])[0] for a in get_args(ann))
    return (ann,)


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _meaning(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    if field.description:
        return " ".join(field.description.split())
    for cls in model.__mro__:
        if name in _comments(cls):
            return _comments(cls)[name]
    return ""


def _docstring(model: type[BaseModel]) -> str:
    doc = model.__dict__.get("__doc__") or ""
    return " ".join(inspect.cleandoc(doc).split("\n\n", 1)[0].split())


@cache
def _comments(cls: type) -> dict[str, str]:
    """field -> the `#:` comment lines right above it in the class's source (Sphinx's form)."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    tree = ast.parse(textwrap.dedent("".join(lines)))
    found: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            row = node.lineno - 2
            while row >= 0 and lines[row].strip().startswith("#:"):
                above.insert(0, lines[row].strip().removeprefix("#:").strip())
                row -= 1
            if above:
                found[node.target.id] = " ".join(above)
    return found
