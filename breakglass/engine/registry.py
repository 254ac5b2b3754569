"""Runbook registry: name -> class, so that `runs.resume ID` can rebuild a runbook from the name
and params recorded in its journal. Built-in runbooks are imported lazily (keeps --help fast)."""

from __future__ import annotations

import importlib

from breakglass.engine.runbook import Runbook
from breakglass.errors import UsageError

_REGISTRY: dict[str, type[Runbook]] = {}

# module that defines each built-in runbook; imported only when that runbook is needed
_BUILTIN: dict[str, str] = {
    "backup.verify": "breakglass.recovery.verify",
    "rotate": "breakglass.runbooks.rotate.runbook",
    "drill.restore": "breakglass.drills.restore",
    "drill.scenarios": "breakglass.drills.scenarios.runbook",
    "backup.take": "breakglass.recovery.take",
    "lockout": "breakglass.runbooks.lockout.runbook",
    "unlock": "breakglass.runbooks.lockout.runbook",
    "rollback": "breakglass.runbooks.rollback.runbook",
    "check": "breakglass.checklist.runbook",
    "attest": "breakglass.checklist.attest",
}


def register(cls: type[Runbook]) -> type[Runbook]:
    """Class decorator: make a runbook resumable by name."""
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Runbook]:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown runbook {name!r}; known: {', '.join(sorted(names()))}") from None


def names() -> set[str]:
    return set(_BUILTIN) | set(_REGISTRY)
