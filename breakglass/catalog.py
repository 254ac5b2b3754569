"""The built-in runbooks, by name: what `runs.resume ID` rebuilds from the name in a journal.

Each loader imports its class for real (mypy checks the name and that it is a Runbook), only when
that runbook is needed: a runbook module pulls in its steps and their connectors, which
`breakglass --help` must not pay for. This module sits above every runbook package (the layers in
.importlinter); the engine, below them, reaches it by name (engine/registry.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breakglass.engine.runbook import Runbook


def _backup_verify() -> type[Runbook]:
    from breakglass.recovery.verify import BackupVerify
    return BackupVerify


def _backup_take() -> type[Runbook]:
    from breakglass.recovery.take import BackupTake
    return BackupTake


def _rotate() -> type[Runbook]:
    from breakglass.runbooks.rotate.runbook import Rotate
    return Rotate


def _drill_restore() -> type[Runbook]:
    from breakglass.drills.restore import RestoreDrill
    return RestoreDrill


def _drill_scenarios() -> type[Runbook]:
    from breakglass.drills.scenarios.runbook import ScenariosDrill
    return ScenariosDrill


def _lockout() -> type[Runbook]:
    from breakglass.runbooks.lockout.runbook import Lockout
    return Lockout


def _unlock() -> type[Runbook]:
    from breakglass.runbooks.lockout.runbook import Unlock
    return Unlock


def _rollback() -> type[Runbook]:
    from breakglass.runbooks.rollback.runbook import Rollback
    return Rollback


def _check() -> type[Runbook]:
    from breakglass.checklist.runbook import Check
    return Check


def _attest() -> type[Runbook]:
    from breakglass.checklist.attest import Attest
    return Attest


def _leak_purge() -> type[Runbook]:
    from breakglass.runbooks.rotate.purge import LeakPurge
    return LeakPurge


#: name -> loader of the built-in runbook of that name (a test checks each loads its own name)
RUNBOOKS: dict[str, Callable[[], type[Runbook]]] = {
    "backup.verify": _backup_verify, "backup.take": _backup_take, "rotate": _rotate,
    "drill.restore": _drill_restore, "drill.scenarios": _drill_scenarios,
    "lockout": _lockout, "unlock": _unlock, "rollback": _rollback, "check": _check,
    "attest": _attest, "leak.purge": _leak_purge,
}
