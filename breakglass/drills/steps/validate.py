"""Step `validate`: run the validation ladder (drills/validate.py) against the restored database.

Why the ladder's findings are this step's *result* and not its verify: a failing step stops the
run and undoes it, and a drill that failed validation must still be torn down, timed and recorded
in the history (a failed drill is the most important line of the trend). `report` surfaces them.

The archive rung (recovery/shape.py) reads the fetched archive's table of contents again and
holds it against the configured database and the backup's own manifest: a dump of another
database, or one with a table's rows left out, restores with exit code 0.

The same holds for a database that cannot be reached (an RDS instance this machine has no route
to, a refused password): that is an UNVERIFIED finding of the ladder — exit 3, never a pass — and
the environment is still torn down and the drill recorded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from breakglass.drills import fetch as fetching
from breakglass.drills import validate
from breakglass.drills.steps.base import DrillStep
from breakglass.engine.findings import Finding, unverified
from breakglass.engine.runbook import Action, Plan, StepContext
from breakglass.errors import CouldNotVerify
from breakglass.recovery import archive, shape

if TYPE_CHECKING:
    from breakglass.recovery.environments import Target
    from breakglass.recovery.manifest import Manifest


class Validate(DrillStep):
    name = "validate"
    title = "validate the restored database"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {"needed": self.d.selection(ctx) is not None,
                "validated": "validate" in ctx.outputs}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if not observed["needed"]:
            return Plan.noop("no backup to restore")
        if observed["validated"]:
            return Plan.noop("already validated")
        n = len(self.d.drill.expect)
        if self.d.from_snapshot:
            what = (f"validate: sequences against max(id), {n} expect check(s); structure and "
                    "row counts are not compared (no manifest describes the snapshot)")
        else:
            what = ("validate: the archive's database, tables and table data against the "
                    "configured database, structure and exact row counts against the manifest, "
                    f"sequences against max(id), {n} expect check(s)")
        return Plan.of(Action(what, target="drill database"))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        target = self.d.env(ctx).find()
        if target is None:
            raise CouldNotVerify("the drill environment is gone before validation",
                                 code="ENVIRONMENT_MISSING", action="run the drill again")
        manifest = self.d.manifest(ctx)
        t0 = time.monotonic()
        with ctx.activity("validate: structure, row counts, expectations"):
            found = self._ladder(ctx, target, manifest)
        return {"findings": [f.to_dict() for f in found],
                "seconds_validate": round(time.monotonic() - t0, 3)}

    def _ladder(self, ctx: StepContext, target: Target, manifest: Manifest | None
                ) -> list[Finding]:
        from breakglass.connectors.postgres import connect

        found: list[Finding] = [] if self.d.from_snapshot else self._archive(ctx, manifest)
        try:
            with connect(target.dsn, autocommit=True) as conn:
                if self.d.from_snapshot:
                    found += validate.snapshot_ladder(conn, self.d.drill.expect)
                else:
                    found += validate.ladder(conn, schema=manifest.schema_ if manifest else None,
                                             tables=manifest.tables if manifest else None,
                                             checks=self.d.drill.expect,
                                             exclude=self.d.backup.exclude_data)
        except CouldNotVerify as exc:
            found.append(self._unreachable(target, exc))
        if self.d.from_snapshot:  # after the problems: the run's summary shows the first one
            found += validate.not_compared()
        return found

    def _archive(self, ctx: StepContext, manifest: Manifest | None) -> list[Finding]:
        """The archive rung: its database, tables and table data (recovery/shape.py)."""
        sel = self.d.selection(ctx) or {}
        key = str(sel.get("key"))
        try:
            listed = archive.list_archive(self.d.folder(ctx) / fetching.PLAIN)
            if listed.toc is None:
                raise CouldNotVerify(f"{key}: the table of contents could not be read again: "
                                     f"{listed.detail}", code=archive.ARCHIVE_NOT_CHECKED,
                                     action="run the drill again")
            store = self.d.store()
            objs = store.list_backups()
            keys = [o.key for o in objs]
            earlier = objs[:keys.index(key)] if key in keys else objs
            now = datetime.now(UTC)
            ref = shape.reference(ctx, self.d.drill.backup, self.d.backup, store, earlier, now)
        except CouldNotVerify as exc:
            return [unverified(exc.code or archive.ARCHIVE_NOT_CHECKED, str(exc),
                               exc.action or "run the drill again", "validate.archive",
                               key=key)]
        judge = shape.Judge(self.d.drill.backup, self.d.backup.exclude_data, "validate.archive",
                            backup=self.d.drill.backup, key=key)
        uploaded = datetime.fromisoformat(str(sel.get("modified")))
        found = judge.manifest(manifest, uploaded, now, ref) if manifest else []
        return found + judge.archive(listed.toc, ref, manifest)

    def _unreachable(self, target: Target, exc: CouldNotVerify) -> Finding:
        what = target.description
        action = self.d.environment.unreachable_action or exc.action or "run the drill again"
        return unverified(exc.code or "DATABASE_UNREACHABLE", f"could not validate {what}: {exc}",
                          action, "validate")
