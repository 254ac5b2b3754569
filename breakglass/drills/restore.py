"""`drill.restore`: restore the newest backup into a disposable environment and prove it.

Steps (each observes first, so `runs.resume` after a SIGKILL neither repeats nor skips work):

    leftovers     remove environments and fetched files of drills that were killed
    select        pick the newest backup (or --archive KEY) and its manifest; RPO = its age now
    fetch         download into state_dir/drills/<run_id>/ (0700), sha256 vs the manifest,
                  decrypt age, read the TOC                           undo: delete the files
    environment   create the environment for the dump's major         undo: destroy it
    restore       pg_restore -j N into it (a partial restore of a killed attempt: recreate first)
    validate      the ladder (drills/validate.py): structure, row counts, sequences, expect
    teardown      destroy the environment, delete the files
    report        RTO/RPO against rto/max_age, history + trend HTML; the verdict

With an environment restored from a snapshot (`rds`) the backup is the snapshot and restoring it
is creating the environment: leftovers, select (the snapshot), environment (the instance),
validate, teardown, report — no fetch, no pg_restore (drills/steps/snapshot.py).

This module is the runbook: its parameters, its preconditions and which steps run. What differs
per environment is declared by the environment (breakglass/recovery/environments/): nothing here
names one. The steps are in drills/steps/, RTO/RPO in drills/timing.py.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from breakglass.drills.steps.base import Drill
from breakglass.drills.steps.dump import Fetch, Restore
from breakglass.drills.steps.environment import CreateEnvironment, Teardown
from breakglass.drills.steps.leftovers import CleanLeftovers
from breakglass.drills.steps.report import Report
from breakglass.drills.steps.select import SelectBackup
from breakglass.drills.steps.snapshot import CreateInstance, SelectSnapshot
from breakglass.drills.steps.validate import Validate
from breakglass.drills.timing import STAGES
from breakglass.engine.measures import Measured, Quantity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Precondition, Runbook, Step, StepContext
from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.findings import Finding
    from breakglass.engine.runs import RunSummary

__all__ = ["STAGES", "RestoreDrill", "monitor_slug"]


def monitor_slug(project: str, backup: str) -> str:
    """Sentry monitor slugs are lowercase letters, digits, `-` and `_`, at most 50 characters
    (https://docs.sentry.io/product/crons/getting-started/): a long name keeps a hash suffix so
    two projects never share a monitor."""
    raw = f"breakglass-drill-restore-{project}-{backup}".lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", raw).strip("-")
    if len(slug) <= 50:
        return slug
    return f"{slug[:41].rstrip('-')}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


@register
class RestoreDrill(Runbook):
    """Restore drill: restore the newest backup into a disposable environment and prove it."""

    name = "drill.restore"
    responsibility = "backup_restore"
    mutating = True

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        drill = config.drills.restore
        if drill is None:
            raise UsageError("no [drills.restore] section in the configuration (see "
                             "docs/drill-restore.md)")
        if drill.backup not in config.backups:
            raise UsageError(f"drills.restore.backup: no [backups.{drill.backup}]")
        from breakglass.recovery.environments import ENVIRONMENTS

        asked = self.params.get("env")
        if asked and str(asked) not in ENVIRONMENTS.plugins:
            raise UsageError(f"--env: {ENVIRONMENTS.unknown(str(asked))}")
        environment = ENVIRONMENTS.get(str(asked or drill.environment))
        if not environment.configured(config):
            raise UsageError(f"--env {environment.kind}: {environment.settings_hint}")
        jobs = self.params.get("jobs")
        self.drill = Drill(config, drill, config.backups[drill.backup], environment,
                           self.params.get("backup") or None, int(jobs) if jobs else None)
        if self.drill.from_snapshot and self.drill.key:
            raise UsageError(f"--archive names a dump in the store; a {environment.kind} drill "
                             "restores a snapshot (docs/environments.md)")

    @property
    def target(self) -> str:
        return f"backups.{self.drill.drill.backup}"

    @property
    def monitor_slug(self) -> str | None:
        return monitor_slug(self.config.project.name, self.drill.drill.backup)

    @property
    def monitor_config(self) -> Mapping[str, Any] | None:
        # The monitor is created/updated with the first check-in: Sentry alerts when a drill
        # misses its schedule by an hour or runs longer than twice its RTO.
        return {"schedule": {"type": "crontab", "value": self.drill.drill.schedule},
                "checkin_margin": 60,
                "max_runtime": max(1, int(self.drill.drill.rto.total_seconds() * 2 // 60))}

    @classmethod
    def measured(cls, summary: RunSummary) -> Sequence[Measured]:
        """RTO and RPO against their targets, the wall time, the backup's bytes and the rows
        proven. Gauges only once the report step judged them: a drill that stopped earlier
        leaves the gauges missing, not zero, which is what an alert should see."""
        def result(step: str) -> Mapping[str, Any]:
            rec = summary.steps.get(step)
            return (rec.result if rec is not None else None) or {}

        sel, rep = result("select"), result("report")
        if not sel and not rep:
            return []
        rows = next((f.evidence.get("rows") for f in summary.findings
                     if f.code == "ROW_COUNTS_OK"), None)
        judged = bool(rep)
        return [Measured(summary.target, (
            Quantity("rto_seconds", rep.get("rto_seconds"), "seconds",
                     rep.get("rto_target_seconds"), label="RTO", gauge=judged),
            Quantity("rpo_seconds", rep.get("rpo_seconds", sel.get("rpo_seconds")), "seconds",
                     rep.get("rpo_target_seconds", sel.get("rpo_target_seconds")), label="RPO",
                     gauge=judged),
            Quantity("wall_seconds", rep.get("wall_seconds"), "seconds"),
            Quantity("bytes", sel.get("size"), "bytes"),
            Quantity("rows", rows, "count")),
            key=sel.get("key") or sel.get("snapshot") or rep.get("backup_key"), metric="drill")]

    def preconditions(self) -> Sequence[Precondition]:
        environment = self.drill.environment
        if not environment.guards_production:
            return ()

        def guard(ctx: StepContext) -> Sequence[Finding]:
            return environment.refusals(ctx.config, ctx.secrets)

        return [Precondition("drill.production_guard", "the drill server is not a "
                             "production database of this config", guard,
                             blocking=True)]

    def steps(self) -> Sequence[Step]:
        from breakglass.recovery.environments import SnapshotEnvironment

        d = self.drill
        if issubclass(d.environment, SnapshotEnvironment):
            return [CleanLeftovers(d), SelectSnapshot(d, d.environment),
                    CreateInstance(d, d.environment), Validate(d), Teardown(d), Report(d)]
        return [CleanLeftovers(d), SelectBackup(d), Fetch(d), CreateEnvironment(d), Restore(d),
                Validate(d), Teardown(d), Report(d)]
