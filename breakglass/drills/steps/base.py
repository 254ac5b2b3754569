"""What the steps of one restore drill share: its settings, and the selection seen while
planning (before `select` applies, later steps plan against the candidate it observed)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.connectors.files import write_private
from breakglass.drills import fetch as fetching
from breakglass.drills import pgrestore
from breakglass.engine.findings import Finding, Outcome, Severity
from breakglass.engine.runbook import Step, StepContext
from breakglass.recovery.manifest import Manifest
from breakglass.recovery.stores import BackupStore, open_store

if TYPE_CHECKING:
    from breakglass.config import BackupConfig, Config, RestoreDrillConfig
    from breakglass.recovery.environments import Environment


class Drill:
    """One drill's settings. `environment` is the class of its environment (`kind` its name);
    `key` the backup asked for with --archive; `jobs` pg_restore --jobs asked for with --jobs."""

    def __init__(self, config: Config, drill: RestoreDrillConfig, backup: BackupConfig,
                 environment: type[Environment], key: str | None, jobs: int | None) -> None:
        self.config, self.drill, self.backup = config, drill, backup
        self.environment, self.kind = environment, environment.kind
        self.key, self.jobs = key, jobs
        self.candidate: dict[str, Any] | None = None

    @property
    def from_snapshot(self) -> bool:
        """The backup is a snapshot, restored by creating the environment (RDS); there is no
        dump to fetch or pg_restore."""
        from breakglass.recovery.environments import SnapshotEnvironment

        return issubclass(self.environment, SnapshotEnvironment)

    def store(self) -> BackupStore:
        return open_store(self.backup.store, self.config.aws,
                          key_path=f"backups.{self.drill.backup}.store")

    def selection(self, ctx: StepContext) -> Mapping[str, Any] | None:
        return ctx.outputs.get("select") or self.candidate

    def folder(self, ctx: StepContext) -> Path:
        return fetching.drill_dir(ctx.state_dir, ctx.run_id)

    def env(self, ctx: StepContext) -> Environment:
        return self.environment(ctx.config, ctx.run_id, ctx.secrets, ctx.state_dir,
                                ctx.redactor)

    def major(self, ctx: StepContext) -> int | None:
        """The server major to restore into: a snapshot's engine version; for a dump the
        archive header (after fetch), else the manifest."""
        sel = self.selection(ctx) or {}
        if sel.get("major"):
            return int(sel["major"])
        fetched = ctx.outputs.get("fetch") or fetching.read_done(self.folder(ctx)) or {}
        if fetched.get("dump_major"):
            return int(fetched["dump_major"])
        manifest = sel.get("manifest") or {}
        if manifest.get("server_major"):
            return int(manifest["server_major"])
        return fetching.major_of(str(manifest.get("server_version", "")))

    def manifest(self, ctx: StepContext) -> Manifest | None:
        doc = (self.selection(ctx) or {}).get("manifest")
        return Manifest.model_validate(doc) if doc else None

    def effective_jobs(self) -> int:
        return self.jobs or self.drill.jobs or pgrestore.default_jobs()


class DrillStep(Step):
    def __init__(self, drill: Drill) -> None:
        self.d = drill

    def with_last_good(self, ctx: StepContext, found: list[Finding]) -> list[Finding]:
        """A backup that does not read back (fetch or the ladder): its findings name the
        newest earlier backup that still verifies (read whole, as backup.verify does), the one
        to restore from tonight, or say there is none."""
        from breakglass.errors import CouldNotVerify
        from breakglass.recovery.verify import VerifyBackupSet, damaged, with_last_good

        if self.d.from_snapshot or not damaged(found):
            return found
        key = (self.d.selection(ctx) or {}).get("key")
        now = datetime.now(UTC)
        try:
            store = self.d.store()
            objs = store.list_backups()
            at = next((i for i, o in enumerate(objs) if o.key == key), len(objs))
            good, tried = VerifyBackupSet(self.d.drill.backup, self.d.backup).newest_good(
                ctx, store, [o for o in objs[:at] if o.key != key], now)
        except CouldNotVerify:
            return found  # the store went away: the advice stays what it was
        return with_last_good(found, good, tried, now)


def finding_of(problem: Mapping[str, Any], subject: str) -> Finding:
    """A Finding from a problem dict (code, message, action, outcome, evidence) of fetch or
    pg_restore."""
    return Finding(str(problem["code"]), str(problem["message"]), str(problem["action"]),
                   Severity.ERROR, Outcome(problem.get("outcome", "failed")), subject,
                   dict(problem.get("evidence") or {}))


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically, durably and 0600, like everything under state_dir."""
    write_private(path, json.dumps(dict(data), sort_keys=True).encode())
