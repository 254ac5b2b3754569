"""Steps `fetch` and `restore` of a dump drill: download and prove the bytes, then pg_restore.

Why a failed restore is not a failed step: pg_restore's errors are a rung of the validation
ladder, reported with the others by `report` after validation has measured what did arrive.
Problems of the bytes themselves (checksum, empty, unreadable, encrypted without identity) do
stop the drill at `fetch`: there is nothing to restore, and the engine's undo removes the files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.connectors import age
from breakglass.drills import fetch as fetching
from breakglass.drills import pgrestore
from breakglass.drills.steps.base import DrillStep, finding_of, read_json, write_json
from breakglass.engine.findings import Finding
from breakglass.engine.progress import human_bytes
from breakglass.engine.runbook import Action, Plan, StepContext
from breakglass.errors import CouldNotVerify, UsageError

if TYPE_CHECKING:
    from breakglass.recovery.environments import Target

RESTORE_STARTED, RESTORE_DONE = "restore.started", "restore.json"


class Fetch(DrillStep):
    name = "fetch"
    title = "download, check and decrypt the backup"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        sel = self.d.selection(ctx)
        folder = self.d.folder(ctx)
        return {"key": sel["key"] if sel else None, "size": sel["size"] if sel else None,
                "folder": str(folder), "done": fetching.read_done(folder)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if observed["key"] is None:
            return Plan.noop("no backup selected")
        done = observed["done"]
        if done is not None and done.get("key") == observed["key"]:
            return Plan.noop(f"{done['key']} already fetched and checked")
        enc = " and decrypt it (age)" if self.d.backup.encryption == "age" else ""
        return Plan.of(Action(
            f"download {observed['key']} ({human_bytes(observed['size'])}) into "
            f"{observed['folder']}/ (0700), check its sha256 against the manifest{enc}, read "
            "its table of contents", target=observed["folder"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        sel = self.d.selection(ctx)
        assert sel is not None
        folder = self.d.folder(ctx)
        fetching.remove_files(folder)  # a killed attempt's partial files
        ref = self.d.backup.identity
        where = f"backups.{self.d.drill.backup}.identity"

        def identities() -> list[Any]:
            assert ref is not None
            try:
                return age.parse_identities(ctx.secret(ref))
            except ValueError as exc:
                raise UsageError(f"{where}: {exc}") from None

        res = fetching.fetch(self.d.store(), str(sel["key"]), folder, manifest=sel["manifest"],
                             expected_size=int(sel["size"]),
                             identity=identities if ref else None, report=ctx)
        fetching.write_done(folder, res)
        return res.to_dict()

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        done = observed["done"] or {}
        return [finding_of(p, self.name) for p in done.get("problems") or []]

    def undo(self, ctx: StepContext) -> None:
        fetching.remove_files(self.d.folder(ctx))



def _pg_restore_for(major: int) -> Path:
    """pg_restore of the target server's major (its SET commands match that server), else the
    newest one (it reads every older archive)."""
    from breakglass.connectors import pgbin

    try:
        return pgbin.find("pg_restore", major=major)
    except CouldNotVerify:
        return pgbin.find("pg_restore", at_least=major)


class Restore(DrillStep):
    name = "restore"
    title = "restore the dump with pg_restore"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        folder = self.d.folder(ctx)
        return {"needed": self.d.selection(ctx) is not None,
                "done": read_json(folder / RESTORE_DONE),
                "interrupted": (folder / RESTORE_STARTED).exists()
                and not (folder / RESTORE_DONE).exists()}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if not observed["needed"]:
            return Plan.noop("no backup to restore")
        if observed["done"] is not None:
            return Plan.noop(f"already restored ({observed['done'].get('tables_processed')} "
                             "tables)")
        restore = Action(f"pg_restore --jobs={self.d.effective_jobs()} --no-owner "
                         "--no-privileges into the drill database", target="drill database")
        if observed["interrupted"]:
            return Plan.of(Action("recreate the drill environment: an interrupted restore left "
                                  "a partial database in it", target="drill environment",
                                  destructive=True), restore)
        return Plan.of(restore)

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        folder = self.d.folder(ctx)
        env = self.d.env(ctx)
        major = self.d.major(ctx) or 0
        target: Target | None = env.find()
        if (folder / RESTORE_STARTED).exists() or target is None:
            # A killed pg_restore leaves some tables full, some half, some missing: restoring
            # over it would fail on every existing object. A fresh environment is cheaper than
            # working out what arrived.
            with ctx.activity(f"recreate the {self.d.kind} drill environment"):
                env.destroy()
                target = env.create(major)
        (folder / RESTORE_STARTED).write_text(ctx.run_id)
        fetched = fetching.read_done(folder) or {}
        jobs = self.d.effective_jobs()
        exe, plain = _pg_restore_for(target.major), folder / fetching.PLAIN
        with ctx.activity("count the table of contents' data items and indexes"):
            totals = pgrestore.toc_totals(exe, plain)
        outcome = pgrestore.run(exe, plain, target.dsn, target.dbname, jobs, totals,
                                ctx.progress)
        result = {"seconds_restore": round(outcome.seconds, 3), "jobs": jobs,
                  "exit_code": outcome.returncode, "tables_processed": outcome.tables_processed,
                  "data_items": totals.data, "indexes_built": outcome.indexes_built,
                  "index_items": totals.index, "target_major": target.major,
                  "problems": pgrestore.problems(outcome, str(fetched.get("key", "")))}
        write_json(folder / RESTORE_DONE, result)
        return result

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        # pg_restore's errors are a rung of the ladder, reported with the others by `report`
        # after validation has measured what did arrive.
        return []

