"""Runbook registry: name -> class, so that `runs.resume ID` can rebuild a runbook from the name
and params recorded in its journal.

The built-in runbooks are listed once, with typed loaders, in breakglass/catalog.py. That module
imports the runbooks, which import the engine: the engine reaches it by name, on first use, so
that no import goes from the engine up to a runbook (the layers in .importlinter). Tests and
plugins add theirs with `@register`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping

from breakglass.engine.runbook import Runbook
from breakglass.errors import UsageError

_REGISTRY: dict[str, type[Runbook]] = {}


@functools.cache
def builtin() -> Mapping[str, Callable[[], type[Runbook]]]:
    catalog: Mapping[str, Callable[[], type[Runbook]]] = importlib.import_module(
        "breakglass.catalog").RUNBOOKS
    return catalog


def register(cls: type[Runbook]) -> type[Runbook]:
    """Class decorator: make a runbook resumable by name."""
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Runbook]:
    if name not in _REGISTRY and name in builtin():
        _REGISTRY[name] = builtin()[name]()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown runbook {name!r}; known: {', '.join(sorted(names()))}") from None


def names() -> set[str]:
    return set(builtin()) | set(_REGISTRY)
