"""Step `leftovers`: remove the environments and fetched files of drills that were killed.

A drill run is live while it holds its lock; a finished run, or one that was killed (its lock is
free), is not, and what it left behind may be removed. Environments are found by their mark (a
marker file, a database comment, an RDS tag) — local `bg-drill-*` folders also without it, by
the run id in their name (recovery/environments/local.py) — fetched files by their folder under
state_dir/drills/<run id>/, and libpq password folders of killed breakglass processes (any
runbook's: they hold a database password) by the dead pid in their name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from breakglass.connectors import postgres
from breakglass.drills import fetch as fetching
from breakglass.drills.steps.base import DrillStep
from breakglass.engine import journal
from breakglass.engine.findings import Finding, Severity
from breakglass.engine.runbook import Action, Plan, StepContext
from breakglass.engine.runs import summarize
from breakglass.state import open_state
from breakglass.state.base import State


def run_is_live(state: State, run_id: str) -> bool:
    """A run is live while it holds its lease. A finished run, or one that was killed (its
    lease is free or lapsed), is not: what it left behind may be removed."""
    path = journal.journal_path(state.local_dir, run_id)
    if not path.is_file():
        return False
    s = summarize(path, run_id)
    if s.is_finished:
        return False
    held = state.holder(s.runbook, s.target)
    return held is not None and held.run_id == run_id


class CleanLeftovers(DrillStep):
    name = "leftovers"
    title = "remove what killed drills left behind"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        from breakglass.recovery.environments import leftovers

        def is_live(run_id: str) -> bool:
            return run_id == ctx.run_id or run_is_live(open_state(ctx.config), run_id)

        envs = leftovers(ctx.config, ctx.secrets, ctx.state_dir, ctx.redactor, is_live)
        folders = []
        base = ctx.state_dir / "drills"
        for sub in sorted(base.iterdir()) if base.is_dir() else []:
            if (sub.is_dir() and any((sub / n).exists() for n in fetching.OWN_FILES)
                    and not is_live(sub.name)):
                folders.append(sub.name)
        return {"environments": [{"kind": e.kind, "run_id": e.run_id,
                                  "description": e.description, "handle": e.handle}
                                 for e in envs], "folders": folders,
                "password_folders": postgres.stale_libpq_dirs()}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        actions = [Action(f"remove {e['description']} (left by drill run {e['run_id']})",
                          target=e["description"], destructive=True)
                   for e in observed["environments"]]
        actions += [Action(f"delete the fetched backup files of drill run {r}",
                           target=f"drills/{r}/", destructive=True)
                    for r in observed["folders"]]
        actions += [Action(f"delete {p}: a database password left by a killed breakglass",
                           target=p, destructive=True) for p in observed["password_folders"]]
        return Plan.of(*actions) if actions else Plan.noop("no leftovers of earlier drills")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        from breakglass.recovery.environments import Leftover, remove_leftover

        observed = self.observe(ctx)
        removed = []
        for e in observed["environments"]:
            left = Leftover(e["kind"], e["run_id"], e["description"], dict(e["handle"]))
            if remove_leftover(left, ctx.config, ctx.secrets, ctx.state_dir, ctx.redactor):
                removed.append(e["description"])
        for run_id in observed["folders"]:
            fetching.remove_files(ctx.state_dir / "drills" / run_id)
            removed.append(f"drills/{run_id}/")
        removed += postgres.remove_stale_libpq_dirs()
        return {"removed": removed}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        left = [e["description"] for e in observed["environments"]] + \
            [f"drills/{r}/" for r in observed["folders"]] + observed["password_folders"]
        if not left:
            return []
        # Not a reason to skip this month's drill: a note the owners see in the report.
        return [Finding("LEFTOVER_REMAINS", f"could not remove: {', '.join(left)}",
                        "remove them by hand (see docs/drill-restore.md, 'Recovery')",
                        Severity.INFO, subject=self.name, evidence={"left": left})]

