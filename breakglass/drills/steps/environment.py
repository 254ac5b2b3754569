"""Steps `environment` and `teardown`: create the disposable environment, and destroy it.

Both observe the environment of *this* run (found by its run id, like a resume would), so a run
killed half-way neither creates a second one nor forgets to remove the first. Teardown also
trusts the environment's intent record (state_dir/drills/<run id>/env.json, written before
anything is created and dropped after it is destroyed): an environment that exists but is not
usable right now — an RDS instance `backing-up` or `modifying`, a cluster that crashed — is still
ours to destroy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from breakglass.drills import fetch as fetching
from breakglass.drills.steps.base import Drill, DrillStep
from breakglass.engine.findings import Finding
from breakglass.engine.runbook import Action, Plan, StepContext
from breakglass.errors import CouldNotVerify, UsageError

if TYPE_CHECKING:
    from breakglass.recovery.environments import Environment, Target


class CreateEnvironment(DrillStep):
    name = "environment"
    title = "create the disposable environment"

    # -- what differs per source (a dump here; an RDS snapshot in snapshot.CreateInstance) -----
    def describe(self, ctx: StepContext, env: Environment, major: int | None) -> str:
        if major is not None:
            return env.describe_plan(major)
        return (f"create a {self.d.kind} environment for the dump's PostgreSQL major (read "
                "from the archive header after the download)")

    def required_major(self, ctx: StepContext) -> int:
        major = self.d.major(ctx)
        if major is None:
            raise CouldNotVerify("the dump's PostgreSQL version is unknown (no manifest and no "
                                 "version in the archive header)", code="DUMP_VERSION_UNKNOWN",
                                 action="take backups with pg_dump -Fc (backup.take)")
        return major

    def create(self, ctx: StepContext, env: Environment, major: int) -> Target:
        return env.create(major)

    # -- the step ------------------------------------------------------------------------------
    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        if self.d.selection(ctx) is None:
            return {"needed": False}
        env = self.d.env(ctx)
        major = self.d.major(ctx)
        try:
            found = env.find()
            describe = self.describe(ctx, env, major)
        except UsageError as exc:
            # The environment refuses its target (a production server): show the refusal in
            # the plan; the blocking production-guard precondition then stops the run before
            # anything is applied, and create() would refuse again anyway.
            found, describe = None, f"REFUSED: {exc}"
        return {"needed": True, "exists": found.to_dict() if found else None, "major": major,
                "describe": describe}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if not observed["needed"]:
            return Plan.noop("no backup to restore")
        if observed["exists"]:
            return Plan.noop(f"{observed['exists']['description']} exists (this run)")
        return Plan.of(Action(observed["describe"], target=f"drill environment ({self.d.kind})"))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        major = self.required_major(ctx)
        t0 = time.monotonic()
        with ctx.activity(f"create the {self.d.kind} drill environment (PostgreSQL {major})"):
            target = self.create(ctx, self.d.env(ctx), major)
        return {"target": target.to_dict(), "dump_major": major,
                "seconds_environment": round(time.monotonic() - t0, 3)}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if not observed["needed"] or observed["exists"]:
            return []
        return [Finding("ENVIRONMENT_MISSING", "the drill environment was created but cannot be "
                        "found", "see the run's journal; remove what is left by hand",
                        subject=self.name)]

    def undo(self, ctx: StepContext) -> None:
        self.d.env(ctx).destroy()


class Teardown(DrillStep):
    name = "teardown"
    title = "destroy the environment and delete the fetched files"

    def __init__(self, drill: Drill) -> None:
        super().__init__(drill)
        if drill.from_snapshot:
            self.title = "destroy the environment"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        folder = self.d.folder(ctx)
        selected = self.d.selection(ctx) is not None
        env = self.d.env(ctx)
        found = env.find() if selected else None
        return {"pending": "environment" not in ctx.outputs and selected,
                "environment": found.description if found else None,
                "recorded": selected and env.read_record() is not None,
                "files": [n for n in fetching.OWN_FILES if (folder / n).exists()],
                "folder": str(folder)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        actions = []
        if observed["environment"] or observed["pending"] or observed.get("recorded"):
            what = observed["environment"] or f"the {self.d.kind} drill environment"
            actions.append(Action(f"destroy {what}", target=what, destructive=True))
        if observed["files"] or (observed["pending"] and not self.d.from_snapshot):
            actions.append(Action(f"delete the fetched files in {observed['folder']}/",
                                  target=observed["folder"], destructive=True))
        return Plan.of(*actions) if actions else Plan.noop("nothing to tear down")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        t0 = time.monotonic()
        with ctx.activity(f"destroy the {self.d.kind} drill environment, delete the files"):
            destroyed = self.d.env(ctx).destroy()
            removed = fetching.remove_files(self.d.folder(ctx))
        return {"destroyed": destroyed, "removed": removed,
                "seconds_teardown": round(time.monotonic() - t0, 3)}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        left = ([observed["environment"]] if observed["environment"] else []) + observed["files"]
        if not left:
            return []
        return [Finding("TEARDOWN_INCOMPLETE", f"still present after teardown: {', '.join(left)}",
                        "the next drill removes leftovers; or remove them by hand",
                        subject=self.name, evidence={"left": left})]
