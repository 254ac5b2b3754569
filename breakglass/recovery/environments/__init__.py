"""Disposable environments for the restore drill: never production, gone after the drill.

    base.py     Target, Leftover, the Environment interface (and SnapshotEnvironment), the
                intent record
    local.py    `local`: an embedded PostgreSQL cluster matched to the dump's major
    server.py   `server`: CREATE DATABASE drill_<run id> on a drill server; the production guard
    rds.py      `rds`: a snapshot restored into a new, tagged RDS instance

ENVIRONMENTS is the one registry: the three above, imported for real, and any installed
distribution's through the entry-point group `breakglass.drill_environments`. Everything that
lists environments (the config's [drills.restore] model, `--env`, docs/environments.md's table,
leftover scans) reads it; docs/extending.md shows how to add one. The modules are light: psycopg
and boto3 are imported by the methods that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from breakglass.plugins import Registry
from breakglass.recovery.environments.base import (
    Environment,
    IsLive,
    Leftover,
    SnapshotEnvironment,
    Target,
    safe_run_id,
)
from breakglass.recovery.environments.local import LocalEnvironment
from breakglass.recovery.environments.rds import RdsEnvironment
from breakglass.recovery.environments.server import ServerEnvironment

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.redaction import Redactor
    from breakglass.secrets import SecretResolver

__all__ = ["DEFAULT", "ENVIRONMENTS", "GROUP", "Environment", "Leftover", "SnapshotEnvironment",
           "Target", "environment_for", "leftovers", "remove_leftover", "safe_run_id"]

GROUP = "breakglass.drill_environments"
DEFAULT = LocalEnvironment.kind


def _builtin() -> tuple[type[Environment], ...]:
    return (LocalEnvironment, ServerEnvironment, RdsEnvironment)


ENVIRONMENTS: Registry[Environment] = Registry("drill environment", GROUP, _builtin,
                                               lambda cls: cls.kind, Environment)


def _configured_kind(config: Config) -> str:
    restore = config.drills.restore
    return restore.environment if restore is not None else DEFAULT


def environment_for(config: Config, run_id: str, secrets: SecretResolver, state_dir: Path,
                    redactor: Redactor, kind: str | None = None) -> Environment:
    """The environment of `kind` (default: [drills.restore] environment, else local)."""
    return ENVIRONMENTS.get(kind or _configured_kind(config))(config, run_id, secrets,
                                                           Path(state_dir), redactor)


def _scanned(config: Config) -> list[type[Environment]]:
    """Those that cost nothing to scan always; the others only when configured, since scanning
    them needs their credentials and a reachable service."""
    return [cls for cls in ENVIRONMENTS.plugins.values()
            if cls.always_scanned or (cls.settings_key is not None and cls.configured(config))]


def leftovers(config: Config, secrets: SecretResolver, state_dir: Path, redactor: Redactor,
              is_live: IsLive, kinds: list[str] | None = None) -> list[Leftover]:
    """Environments of drill runs that are not live (their run was killed). `is_live(run_id)`
    is supplied by the drill: a run whose lock is held. A service that cannot be reached raises
    CouldNotVerify (we cannot say there is nothing left)."""
    out: list[Leftover] = []
    classes = [ENVIRONMENTS.get(k) for k in kinds] if kinds else _scanned(config)
    for cls in classes:
        for item in cls.scan(config, secrets, Path(state_dir), redactor):
            if not is_live(item.run_id):
                out.append(item)
    return out


def remove_leftover(leftover: Leftover, config: Config, secrets: SecretResolver,
                    state_dir: Path, redactor: Redactor) -> bool:
    """Destroy one leftover (its run's environment). True when something was removed."""
    cls = ENVIRONMENTS.get(leftover.kind)
    return cls.remove(leftover, config, secrets, Path(state_dir), redactor)
