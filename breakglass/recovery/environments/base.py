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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from breakglass.engine.redaction import Redactor

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.secrets import SecretResolver

RECORD = "env.json"


@dataclass(frozen=True)
class Target:
    kind: str  # "local" | "server" | "rds"
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
    kind: ClassVar[str]

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
        tmp = folder / f".{RECORD}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"kind": self.kind, "run_id": self.run_id, "handle": handle}, fh,
                      sort_keys=True)
        tmp.replace(self.record_path)

    def read_record(self) -> dict[str, Any] | None:
        record = read_record(self.record_path)
        return record if record and record.get("kind") == self.kind else None

    def drop_record(self) -> None:
        self.record_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: the drill keeps other files there
            self.record_path.parent.rmdir()


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
