"""Step `report`: judge RTO and RPO, record the drill in the history, write the trend, and
surface the ladder's findings (restore errors, validation, a manifest that did not parse).

A drill that reached this step is recorded whatever its verdict; a resumed drill is recorded
once (observe looks for its run id in the history). The wall-clock span from the first start is
recorded beside RTO (`wall_seconds`, `resumed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from breakglass.config.durations import format_duration
from breakglass.drills import history, timing
from breakglass.drills.steps.base import DrillStep, finding_of
from breakglass.engine import journal
from breakglass.engine.findings import Finding, exit_code, verdict
from breakglass.engine.runbook import Action, Plan, StepContext
from breakglass.engine.runs import summarize
from breakglass.state import open_state


class Report(DrillStep):
    name = "report"
    title = "judge RTO/RPO, record the drill, write the trend"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        recorded = any(r.get("run_id") == ctx.run_id
                       for r in history.load(open_state(ctx.config)))
        return {"needed": self.d.selection(ctx) is not None, "recorded": recorded}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if not observed["needed"]:
            return Plan.noop("no backup to restore")
        if observed["recorded"]:
            return Plan.noop("already in the drill history")
        what = "snapshot" if self.d.from_snapshot else "backup"
        return Plan.of(Action(
            f"time each stage against rto = {format_duration(self.d.drill.rto)} and the {what}'s "
            f"age against max_age = {format_duration(self.d.backup.max_age)}; append to "
            f"{history.RECORDS}; write {history.TREND}",
            target="state_dir"))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        sel = dict(self.d.selection(ctx) or {})
        stages = timing.stage_seconds(ctx.outputs, self.d.from_snapshot)
        rto = sum(stages.values())
        rpo = float(sel.get("rpo_seconds") or 0.0)
        judged = [timing.rto_finding(stages, self.d.drill.rto),
                  timing.rpo_finding(rpo, self.d.backup.max_age,
                                     "snapshot" if self.d.from_snapshot else "backup",
                                     sel.get("key"))]
        timed = [f for f in judged if f is not None]
        found = [*self._carried(ctx), *timed]
        first = summarize(journal.journal_path(ctx.state_dir, ctx.run_id), ctx.run_id).started
        now = datetime.now(UTC)
        wall = (now - datetime.fromisoformat(first)).total_seconds() if first else rto
        resumed = "run_resumed" in {e.get("type") for e in journal.read_events(
            journal.journal_path(ctx.state_dir, ctx.run_id))}
        record = {
            "run_id": ctx.run_id, "project": ctx.config.project.name,
            "finished": now.isoformat(), "backup_set": self.d.drill.backup,
            "backup_key": sel.get("key"), "environment": self.d.kind,
            "stages": {k: round(v, 3) for k, v in stages.items()},
            "rto_seconds": round(rto, 3), "rto_target_seconds": self.d.drill.rto.total_seconds(),
            "rpo_seconds": round(rpo, 3),
            "rpo_target_seconds": self.d.backup.max_age.total_seconds(),
            "wall_seconds": round(wall, 3), "resumed": resumed,
            "verdict": verdict(found), "exit_code": exit_code(found),
            "codes": sorted({f.code for f in found if f.counts}),
        }
        state = open_state(ctx.config)
        history.append(state, record)
        trend = history.write_trend(state)
        return {**record, "timing": [f.to_dict() for f in timed], "trend": str(trend),
                "history": state.record_label(history.RECORDS)}

    def _carried(self, ctx: StepContext) -> list[Finding]:
        """The ladder: restore errors, then validation, then a manifest that did not parse."""
        o = ctx.outputs
        found = [finding_of(p, "restore") for p in (o.get("restore") or {}).get("problems", [])]
        found += [Finding.from_dict(f) for f in (o.get("validate") or {}).get("findings", [])]
        problem = (self.d.selection(ctx) or {}).get("manifest_problem")
        if problem:
            found.append(Finding("MANIFEST_INVALID", str(problem), "rewrite the manifest "
                                 "(backup.take writes it); structure and row counts were not "
                                 "checked", subject="select"))
        return found

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if not observed["needed"]:
            return []
        timed = [Finding.from_dict(f) for f in (ctx.outputs.get("report") or {}).get("timing",
                                                                                   [])]
        return [*self.with_last_good(ctx, self._carried(ctx)), *timed]
