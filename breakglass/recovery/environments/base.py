"""The interface every disposable environment of the restore drill implements.

An environment is where a backup is restored to be proved: an embedded cluster on this machine
(`local`), a scratch database on a drill server (`server`), a new RDS instance restored from a
snapshot (`rds`). Each is created for one drill run and torn down after it, whatever happens.

Lifecycle, as the drill runbook uses it:

    env = environment_for(config, run_id, secrets, state_dir, redactor)
    env.describe_plan(major)   -> one line for the plan ("create an embedded PostgreSQL 16 …")
    env.find()                 -> the Target of THIS run if it exists (observe; resume)
    env.create(major)          -> Target (idempotent per run id: returns the existing one)
    env.destroy()              -> True when something was removed (idempotent)

Finding what a killed run left behind: every environment is named after its run id and carries
a mark (a marker file, a database comment, an RDS tag), and `create` records its intent in
`state_dir/drills/<run_id>/env.json` *before* it creates anything. `leftovers(...)` lists what
belongs to runs that are no longer live; `remove_leftover` destroys one.

Contract of a Target: `dsn` reaches an existing database named `dbname`. For `local` and
`server` it is empty and the dump is restored into it; for `rds` the snapshot *is* the restore,
so the database already holds the data (`handle["restored"] is True`).

Each environment is self-describing (docs/extending.md, "Adding a drill environment"): its class
declares its name (`kind`), a one-line summary and what it needs (the docs table), its settings
model (the key `settings_key` under [drills.restore], validated when the config loads) and the
behaviour the drill asks of it — whether it restores a snapshot rather than a dump
(SnapshotEnvironment), which secrets and clouds a scheduled drill must provide, and the blocking
findings of a target it refuses. Nothing outside its module names it.
"""

from __future__ import annotations

import contextlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from breakglass.connectors.files import write_private
from breakglass.engine.redaction import Redactor

if TYPE_CHECKING:
    from breakglass.config import Config, RestoreDrillConfig
    from breakglass.engine.findings import Finding
    from breakglass.engine.redaction import Redactor
    from breakglass.secrets import SecretResolver

RECORD = "env.json"


@dataclass(frozen=True)
class Target:
    kind: str  # the environment's name (Environment.kind)
    dsn: str  # libpq conninfo of the restored database; a password in it is registered
    dbname: str
    major: int  # the server's major version
    description: str  # for people, never a secret
    handle: dict[str, Any] = field(default_factory=dict)  # JSON-able; journaled

    def to_dict(self) -> dict[str, Any]:
        """For journals and reports: everything but the DSN (it may hold a password)."""
        return {"kind": self.kind, "dbname": self.dbname, "major": self.major,
                "description": self.description, "handle": dict(self.handle)}


@dataclass(frozen=True)
class Leftover:
    """Something a killed drill run created and nobody removed."""

    kind: str
    run_id: str
    description: str
    handle: dict[str, Any] = field(default_factory=dict)


def safe_run_id(run_id: str) -> str:
    """The run id as a lowercase identifier fragment: letters, digits and `_` (database names),
    so that `20251129T130512123456-ab12` gives `20251129t130512123456_ab12`."""
    return re.sub(r"[^a-z0-9]+", "_", run_id.lower()).strip("_")


class Environment(ABC):
    #: the name in `[drills.restore] environment`, `--env`, journals and intent records
    kind: ClassVar[str]
    #: what one drill creates, one line (docs table, `docs environments`)
    summary: ClassVar[str]
    #: what it needs to run, one line (docs table)
    needs: ClassVar[str]
    #: the key under [drills.restore] holding its settings, validated by `settings_model`
    #: (None: it has none)
    settings_key: ClassVar[str | None] = None
    settings_model: ClassVar[type[BaseModel] | None] = None
    #: what to write when `environment = "<kind>"` comes without its settings (one line)
    settings_hint: ClassVar[str] = ""
    #: scan for leftovers of killed runs even when its settings are absent (it costs nothing
    #: and needs no credentials); otherwise only a configured environment is scanned
    always_scanned: ClassVar[bool] = False
    #: the next action when the drill cannot connect to a target it created ("" : the
    #: connection error's own)
    unreachable_action: ClassVar[str] = ""
    #: the drill runs unattended with AWS credentials (drill.schedule prints what it needs)
    uses_aws: ClassVar[bool] = False

    @classmethod
    def settings_of(cls, restore: RestoreDrillConfig | None) -> BaseModel | None:
        """This environment's settings in a [drills.restore] table, None when absent."""
        if restore is None or cls.settings_key is None:
            return None
        found = getattr(restore, cls.settings_key, None)
        return found if isinstance(found, BaseModel) else None

    @classmethod
    def settings_in(cls, config: Config) -> BaseModel | None:
        return cls.settings_of(config.drills.restore)

    @classmethod
    def configured(cls, config: Config) -> bool:
        """Whether a drill can use it with this config (its settings are there)."""
        return cls.settings_key is None or cls.settings_in(config) is not None

    #: its target may be a production server: the drill checks `refusals` first, as a blocking
    #: precondition (drill.production_guard)
    guards_production: ClassVar[bool] = False

    @classmethod
    def refusals(cls, config: Config, secrets: SecretResolver) -> list[Finding]:
        """Blocking findings of a target this environment must not be created on (a production
        server); checked before anything is planned or applied when `guards_production`."""
        return []

    @classmethod
    def secret_refs(cls, config: Config) -> list[tuple[str, str]]:
        """(key path, secret ref) the environment resolves: a scheduled drill must provide
        them."""
        return []

    def __init__(self, config: Config, run_id: str, secrets: SecretResolver, state_dir: Path,
                 redactor: Redactor) -> None:
        self.config = config
        self.run_id = run_id
        self.secrets = secrets
        self.state_dir = Path(state_dir)
        self.redactor = redactor

    @abstractmethod
    def describe_plan(self, major: int) -> str:
        """One line for the plan: what will be created, where, and with which server version."""

    @abstractmethod
    def find(self) -> Target | None:
        """The environment of this run, if it exists (read-only)."""

    @abstractmethod
    def create(self, major: int) -> Target:
        """Create the environment for a dump of server major `major` (idempotent per run)."""

    @abstractmethod
    def destroy(self) -> bool:
        """Remove the environment of this run; True when something was removed (idempotent)."""

    @classmethod
    @abstractmethod
    def scan(cls, config: Config, secrets: SecretResolver, state_dir: Path,
             redactor: Redactor) -> list[Leftover]:
        """Every environment of this kind that carries our mark, whichever run made it."""

    @classmethod
    def remove(cls, leftover: Leftover, config: Config, secrets: SecretResolver,
               state_dir: Path, redactor: Redactor) -> bool:
        """Destroy a leftover: the environment of its run, found by run id like any other."""
        return cls(config, leftover.run_id, secrets, state_dir, redactor).destroy()

    # -- the intent record -------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        return record_dir(self.state_dir, self.run_id) / RECORD

    def write_record(self, handle: dict[str, Any]) -> None:
        """Written before anything is created: after a SIGKILL mid-create, the record says
        what may exist. 0700 dir, 0600 file like the rest of state_dir."""
        folder = self.record_path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.record_path, json.dumps(
            {"kind": self.kind, "run_id": self.run_id, "handle": handle},
            sort_keys=True).encode())

    def read_record(self) -> dict[str, Any] | None:
        record = read_record(self.record_path)
        return record if record and record.get("kind") == self.kind else None

    def drop_record(self) -> None:
        self.record_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: the drill keeps other files there
            self.record_path.parent.rmdir()


class SnapshotEnvironment(Environment):
    """An environment whose creation *is* the restore: it is made from a snapshot the cloud
    keeps (RDS), so the drill has no dump to fetch or pg_restore (drills/steps/snapshot.py), and
    only its creation, validation and teardown are timed."""

    #: what a snapshot and the environment are called in plans ("RDS snapshot", "RDS instance")
    snapshot_noun: ClassVar[str]
    instance_noun: ClassVar[str]
    #: finding codes: no snapshot to restore (the cloud answered: nothing there, exit 1); a
    #: snapshot without a creation time (its age, the RPO, is unknown)
    snapshot_missing: ClassVar[str]
    snapshot_undated: ClassVar[str]

    @abstractmethod
    def newest_snapshot(self) -> dict[str, Any]:
        """The snapshot a drill restores: `snapshot`, `engine_version`, `major`, `created` (an
        aware datetime or None), `instance`, `type`, `instance_class`. CouldNotVerify with code
        `snapshot_missing` when there is none."""

    @abstractmethod
    def describe_plan(self, major: int, *, snapshot: str | None = None) -> str:
        """As Environment.describe_plan, naming the snapshot the drill selected."""

    @abstractmethod
    def create(self, major: int, *, snapshot: str | None = None) -> Target:
        """As Environment.create, from `snapshot` (the one the drill's plan named)."""


def record_dir(state_dir: Path, run_id: str) -> Path:
    return Path(state_dir) / "drills" / run_id


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recorded(state_dir: Path) -> list[dict[str, Any]]:
    """Every intent record under state_dir/drills/ (runs whose environment may still exist)."""
    out = []
    for path in sorted((Path(state_dir) / "drills").glob(f"*/{RECORD}")):
        record = read_record(path)
        if record and isinstance(record.get("run_id"), str) and isinstance(record.get("kind"),
                                                                            str):
            out.append(record)
    return out


IsLive = Callable[[str], bool]
