"""Step `select` of a dump drill: pick the newest backup in the store (or --archive KEY) and its
manifest. RPO is the backup's age when it was selected, on the clock backup.verify uses too
(recovery/manifest.backup_time: a plausible manifest's start time, else the object's
modification time), judged against the backup set's max_age by `report`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from breakglass.drills.steps.base import DrillStep
from breakglass.engine.findings import Finding
from breakglass.engine.progress import human_bytes
from breakglass.engine.runbook import Action, Plan, StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.recovery.manifest import ManifestInvalid, backup_time
from breakglass.text import human_duration


class SelectBackup(DrillStep):
    name = "select"
    title = "select the backup to restore"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        if "select" in ctx.outputs:
            return {"selected": dict(ctx.outputs["select"])}
        store = self.d.store()
        objs = store.list_backups()  # CouldNotVerify(STORE_UNREACHABLE): exit 3
        if self.d.key is not None:
            chosen = [o for o in objs if o.key == self.d.key]
            if not chosen:
                newest = objs[-1].key if objs else "none"
                raise UsageError(f"--archive {self.d.key!r}: no such backup in {store.url} "
                                 f"(newest: {newest})")
        else:
            chosen = objs[-1:]
        if not chosen:
            self.d.candidate = None
            return {"candidate": None, "store": store.url}
        obj = chosen[0]
        problem = None
        manifest = None
        try:
            manifest = store.read_manifest(obj.key)
        except ManifestInvalid as exc:
            problem = str(exc)
        made, clock = backup_time(manifest, obj.modified, datetime.now(UTC))
        self.d.candidate = {
            "key": obj.key, "size": obj.size, "modified": obj.modified.isoformat(),
            "made": made.astimezone(UTC).isoformat(), "clock": clock, "store": store.url,
            "manifest": manifest.model_dump(mode="json", by_alias=True) if manifest else None,
            "manifest_problem": problem,
        }
        return {"candidate": self.d.candidate, "store": store.url}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if "selected" in observed:
            sel = observed["selected"]
            return Plan.noop(f"backup {sel['key']} already selected")
        cand = observed["candidate"]
        if cand is None:
            return Plan.noop(f"no backups in {observed['store']}")
        age = datetime.now(UTC) - datetime.fromisoformat(cand["made"])
        man = "with manifest" if cand["manifest"] else "no manifest"
        return Plan.of(Action(
            f"restore {cand['key']} ({human_bytes(cand['size'])}, {man}), made "
            f"{cand['made'][:19].replace('T', ' ')} UTC: RPO {human_duration(age.total_seconds())}",
            target=cand["key"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        cand = self.d.candidate
        if cand is None:  # observe just ran; a backup vanished in between
            raise CouldNotVerify("the selected backup disappeared from the store",
                                 code="STORE_UNREACHABLE", action="run the drill again")
        now = datetime.now(UTC)
        rpo = (now - datetime.fromisoformat(cand["made"])).total_seconds()
        # The target in force rides with the RPO: the journal alone tells what it was held to.
        return {**cand, "selected_at": now.isoformat(), "rpo_seconds": round(rpo, 3),
                "rpo_target_seconds": self.d.backup.max_age.total_seconds()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed.get("selected") or observed.get("candidate"):
            return []
        return [Finding("NO_BACKUPS", f"no backups in {observed.get('store')}", "check that "
                        "backups are being taken (backup.take) and written to this store",
                        subject=self.name)]

