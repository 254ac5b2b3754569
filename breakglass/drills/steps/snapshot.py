"""Steps of a drill whose environment is restored from a snapshot (SnapshotEnvironment: `rds`)
that differ from a dump's: the snapshot IS the backup.

    select        the configured snapshot, or the newest available one of the source;
                  RPO = its creation time's age, judged against the backup set's max_age
    environment   restore exactly that snapshot into the environment of this run (for rds the
                  tagged instance bg-drill-<run id>), and wait until it is available

There is no fetch and no pg_restore: creating the environment is the restore, and its time is
the `environment` stage of RTO. A snapshot that does not exist (or none available) is a finding,
the environment's `snapshot_missing` code (RDS_SNAPSHOT_MISSING, exit 1), like NO_BACKUPS for a
store: the cloud answered, and there is nothing to restore. A cloud API that cannot be reached
is CouldNotVerify (exit 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from breakglass.drills.steps.base import Drill, DrillStep
from breakglass.drills.steps.environment import CreateEnvironment
from breakglass.engine.findings import Finding
from breakglass.engine.runbook import Action, Plan, StepContext
from breakglass.errors import CouldNotVerify
from breakglass.text import human_duration

if TYPE_CHECKING:
    from breakglass.recovery.environments import Environment, SnapshotEnvironment, Target


def _snapshots(env: Environment) -> SnapshotEnvironment:
    from breakglass.recovery.environments import SnapshotEnvironment

    if not isinstance(env, SnapshotEnvironment):  # the runbook builds these steps only for one
        raise TypeError(f"a snapshot drill step got a {env.kind} environment")
    return env


class SelectSnapshot(DrillStep):
    name = "select"

    def __init__(self, drill: Drill, environment: type[SnapshotEnvironment]) -> None:
        super().__init__(drill)
        self.noun = environment.snapshot_noun
        self.title = f"select the {self.noun} to restore"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        if "select" in ctx.outputs:
            return {"selected": dict(ctx.outputs["select"])}
        env = _snapshots(self.d.env(ctx))
        try:
            snap = env.newest_snapshot()
        except CouldNotVerify as exc:
            if exc.code != env.snapshot_missing:
                raise  # unreachable: exit 3, we cannot say whether a snapshot exists
            self.d.candidate = None
            return {"candidate": None, "missing": str(exc), "action": exc.action,
                    "code": exc.code}
        if snap["created"] is None:
            raise CouldNotVerify(f"{self.noun} {snap['snapshot']} has no creation time: its "
                                 "age (RPO) is unknown", code=env.snapshot_undated,
                                 action="restore a snapshot with a SnapshotCreateTime")
        made: datetime = snap["created"]
        self.d.candidate = {
            "key": snap["snapshot"], "snapshot": snap["snapshot"],
            "engine_version": snap["engine_version"], "major": snap["major"],
            "source_instance": snap["instance"], "snapshot_type": snap["type"],
            "instance_class": snap["instance_class"],
            "made": made.astimezone(UTC).isoformat(), "manifest": None,
        }
        return {"candidate": self.d.candidate}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if "selected" in observed:
            return Plan.noop(f"{self.noun} {observed['selected']['key']} already selected")
        cand = observed["candidate"]
        if cand is None:
            return Plan.noop(str(observed["missing"]))
        age = datetime.now(UTC) - datetime.fromisoformat(cand["made"])
        of = f" of {cand['source_instance']}" if cand.get("source_instance") else ""
        return Plan.of(Action(
            f"restore {self.noun} {cand['key']}{of} (PostgreSQL {cand['engine_version']}), "
            f"made {cand['made'][:19].replace('T', ' ')} UTC: RPO "
            f"{human_duration(age.total_seconds())}", target=cand["key"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        cand = self.d.candidate
        if cand is None:  # observe just ran; the snapshot vanished in between
            raise CouldNotVerify("the selected snapshot disappeared",
                                 code=_snapshots(self.d.env(ctx)).snapshot_missing,
                                 action="run the drill again")
        now = datetime.now(UTC)
        rpo = (now - datetime.fromisoformat(cand["made"])).total_seconds()
        # The target in force rides with the RPO (as in select.py).
        return {**cand, "selected_at": now.isoformat(), "rpo_seconds": round(rpo, 3),
                "rpo_target_seconds": self.d.backup.max_age.total_seconds()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed.get("selected") or observed.get("candidate"):
            return []
        return [Finding(str(observed.get("code")), str(observed.get("missing")),
                        str(observed.get("action") or "take a snapshot of the instance"),
                        subject=self.name)]


class CreateInstance(CreateEnvironment):
    """The environment step of a snapshot drill: restore the snapshot `select` chose."""

    def __init__(self, drill: Drill, environment: type[SnapshotEnvironment]) -> None:
        super().__init__(drill)
        self.title = f"restore the snapshot into a new {environment.instance_noun}"

    def _snapshot(self, ctx: StepContext) -> str | None:
        sel = self.d.selection(ctx)
        return str(sel["key"]) if sel else None

    def describe(self, ctx: StepContext, env: Environment, major: int | None) -> str:
        return _snapshots(env).describe_plan(major or 0, snapshot=self._snapshot(ctx))

    def required_major(self, ctx: StepContext) -> int:
        # The snapshot decides the engine; its major is only recorded.
        return self.d.major(ctx) or 0

    def create(self, ctx: StepContext, env: Environment, major: int) -> Target:
        return _snapshots(env).create(major, snapshot=self._snapshot(ctx))
