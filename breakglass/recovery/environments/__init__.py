"""Disposable environments for the restore drill (DESIGN principle 6: never production).

    base.py     Target, Leftover, the Environment interface, the intent record
    local.py    `local`: an embedded PostgreSQL cluster matched to the dump's major
    server.py   `server`: CREATE DATABASE drill_<run id> on a drill server; the production guard
    rds.py      `rds`: a snapshot restored into a new, tagged RDS instance

Implementations are imported when first used: `rds` pulls boto3, `server` psycopg.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from breakglass.errors import UsageError
from breakglass.recovery.environments.base import (
    Environment,
    IsLive,
    Leftover,
    Target,
    safe_run_id,
)

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.findings import Finding
    from breakglass.engine.redaction import Redactor
    from breakglass.secrets import SecretResolver

__all__ = ["KINDS", "Environment", "Leftover", "Target", "environment_class", "environment_for",
           "leftovers", "production_guard", "remove_leftover", "safe_run_id"]

KINDS = {
    "local": ("breakglass.recovery.environments.local", "LocalEnvironment"),
    "server": ("breakglass.recovery.environments.server", "ServerEnvironment"),
    "rds": ("breakglass.recovery.environments.rds", "RdsEnvironment"),
}


def environment_class(kind: str) -> type[Environment]:
    if kind not in KINDS:
        raise UsageError(f"unknown drill environment {kind!r} (use one of: {', '.join(KINDS)})")
    module, name = KINDS[kind]
    cls: type[Environment] = getattr(importlib.import_module(module), name)
    return cls


def configured_kind(config: Config) -> str:
    restore = config.drills.restore
    return restore.environment if restore is not None else "local"


def environment_for(config: Config, run_id: str, secrets: SecretResolver, state_dir: Path,
                    redactor: Redactor, kind: str | None = None) -> Environment:
    """The environment of `kind` (default: [drills.restore] environment, else local)."""
    return environment_class(kind or configured_kind(config))(config, run_id, secrets,
                                                              Path(state_dir), redactor)


def _scanned_kinds(config: Config) -> list[str]:
    """local always (it costs a directory listing); server and rds only when configured, since
    scanning them needs their credentials and a reachable service."""
    kinds = ["local"]
    restore = config.drills.restore
    if restore is not None and restore.server is not None:
        kinds.append("server")
    if restore is not None and restore.rds is not None:
        kinds.append("rds")
    return kinds


def leftovers(config: Config, secrets: SecretResolver, state_dir: Path, redactor: Redactor,
              is_live: IsLive, kinds: list[str] | None = None) -> list[Leftover]:
    """Environments of drill runs that are not live (their run was killed). `is_live(run_id)`
    is supplied by the drill: a run whose lock is held. A service that cannot be reached raises
    CouldNotVerify (we cannot say there is nothing left)."""
    out: list[Leftover] = []
    for kind in kinds or _scanned_kinds(config):
        for item in environment_class(kind).scan(config, secrets, Path(state_dir), redactor):
            if not is_live(item.run_id):
                out.append(item)
    return out


def remove_leftover(leftover: Leftover, config: Config, secrets: SecretResolver,
                    state_dir: Path, redactor: Redactor) -> bool:
    """Destroy one leftover (its run's environment). True when something was removed."""
    cls = environment_class(leftover.kind)
    return cls.remove(leftover, config, secrets, Path(state_dir), redactor)


def production_guard(config: Config, secrets: SecretResolver) -> list[Finding]:
    """Blocking precondition of a `server` drill: findings DRILL_TARGET_IS_PRODUCTION (and
    DRILL_GUARD_UNVERIFIED when an address cannot be resolved). Empty for other kinds."""
    if configured_kind(config) != "server":
        return []
    from breakglass.recovery.environments.server import guard_findings

    return guard_findings(config, secrets)
