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

With `environment = "rds"` the backup is an RDS snapshot and restoring it is creating the
environment: leftovers, select (the snapshot), environment (the instance), validate, teardown,
report — no fetch, no pg_restore (drills/steps/snapshot.py).

This module is the runbook: its parameters, its preconditions and which steps run for which
environment. The steps are in drills/steps/, RTO/RPO in drills/timing.py.
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
from breakglass.drills.timing import STAGES, human_seconds
from breakglass.engine.hooks import Figure
from breakglass.engine.registry import register
from breakglass.engine.runbook import Precondition, Runbook, Step, StepContext
from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.findings import Finding
    from breakglass.engine.runs import RunSummary

__all__ = ["STAGES", "SUPPORTED_ENVIRONMENTS", "RestoreDrill", "human_seconds", "monitor_slug"]

SUPPORTED_ENVIRONMENTS = ("local", "server", "rds")


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
        kind = str(self.params.get("env") or drill.environment)
        if kind not in SUPPORTED_ENVIRONMENTS:
            raise UsageError(f"--env {kind!r}: use one of {', '.join(SUPPORTED_ENVIRONMENTS)}")
        if kind == "server" and drill.server is None:
            raise UsageError('--env server needs drills.restore.server = "env:DRILL_SERVER_DSN"')
        if kind == "rds" and drill.rds is None:
            raise UsageError("--env rds needs a [drills.restore.rds] table (source_instance or "
                             "snapshot; see docs/drill-restore.md)")
        if kind == "rds" and self.params.get("backup"):
            raise UsageError("--archive names a dump in the store; an rds drill restores "
                             "[drills.restore.rds] snapshot (or the newest of source_instance)")
        jobs = self.params.get("jobs")
        self.drill = Drill(config, drill, config.backups[drill.backup], kind,
                           self.params.get("backup") or None, int(jobs) if jobs else None)

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
    def measured(cls, summary: RunSummary) -> Sequence[Mapping[str, Any]]:
        """RTO and RPO against their targets, the backup's bytes and the rows proven (null for
        what the drill did not reach)."""
        def result(step: str) -> Mapping[str, Any]:
            rec = summary.steps.get(step)
            return (rec.result if rec is not None else None) or {}

        sel, rep = result("select"), result("report")
        if not sel and not rep:
            return []
        rows = next((f.evidence.get("rows") for f in summary.findings
                     if f.code == "ROW_COUNTS_OK"), None)
        return [{"subject": summary.target, "key": sel.get("key") or rep.get("backup_key"),
                 "rto_seconds": rep.get("rto_seconds"),
                 "rto_target_seconds": rep.get("rto_target_seconds"),
                 "rpo_seconds": rep.get("rpo_seconds", sel.get("rpo_seconds")),
                 "rpo_target_seconds": rep.get("rpo_target_seconds"),
                 "wall_seconds": rep.get("wall_seconds"), "bytes": sel.get("size"),
                 "rows": rows}]

    def preconditions(self) -> Sequence[Precondition]:
        if self.drill.kind != "server":
            return ()

        def guard(ctx: StepContext) -> Sequence[Finding]:
            from breakglass.recovery.environments.server import guard_findings

            return guard_findings(ctx.config, ctx.secrets)

        return [Precondition("drill.production_guard", "the drill server is not a production "
                             "database of this config", guard, blocking=True)]

    def headline(self, summary: RunSummary) -> Sequence[Figure]:
        """RTO and RPO against their targets and the backup restored, from the select and
        report steps' results; a drill that stopped before `report` has no RTO yet."""
        from breakglass.config.durations import format_duration

        def result(step: str) -> Mapping[str, Any]:
            rec = summary.steps.get(step)
            return (rec.result or {}) if rec is not None else {}

        picked, judged = result(SelectBackup.name), result(Report.name)
        rto, max_age = self.drill.drill.rto, self.drill.backup.max_age
        figures = []
        if "rto_seconds" in judged:
            figures.append(Figure("RTO", f"{human_seconds(judged['rto_seconds'])} (target "
                                  f"{format_duration(rto)})",
                                  {"rto_seconds": judged["rto_seconds"],
                                   "rto_target_seconds": rto.total_seconds()}))
        rpo = judged.get("rpo_seconds", picked.get("rpo_seconds"))
        if rpo is not None:
            figures.append(Figure("RPO", f"{human_seconds(rpo)} (target "
                                  f"{format_duration(max_age)})",
                                  {"rpo_seconds": rpo,
                                   "rpo_target_seconds": max_age.total_seconds()}))
        key = picked.get("key") or picked.get("snapshot")
        if key:
            figures.append(Figure("backup", f"{key}, {human_seconds(float(rpo or 0))} old",
                                  {"backup": key}))
        return figures

    def measures(self, summary: RunSummary) -> Mapping[str, float]:
        """RTO and RPO as the report step measured them (none when the drill did not get
        that far: a missing gauge, not a zero, is what an alert should see)."""
        got = self.measured(summary)
        if not got or got[0].get("rto_seconds") is None:  # the report step did not run
            return {}
        return {f"drill_{k}": float(got[0][k]) for k in
                ("rto_seconds", "rto_target_seconds", "rpo_seconds", "rpo_target_seconds")
                if isinstance(got[0].get(k), int | float)}

    def steps(self) -> Sequence[Step]:
        d = self.drill
        if d.from_snapshot:
            return [CleanLeftovers(d), SelectSnapshot(d), CreateInstance(d), Validate(d),
                    Teardown(d), Report(d)]
        return [CleanLeftovers(d), SelectBackup(d), Fetch(d), CreateEnvironment(d), Restore(d),
                Validate(d), Teardown(d), Report(d)]
