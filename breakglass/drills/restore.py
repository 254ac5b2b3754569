"""`drill.restore`: restore the newest backup into a disposable environment and prove it.

Steps (each observes first, so `runs.resume` after a SIGKILL neither repeats nor skips work):

    leftovers     remove environments and fetched files of drills that were killed
    select        pick the newest backup (or --backup KEY) and its manifest; RPO = its age now
    fetch         download into state_dir/drills/<run_id>/ (0700), sha256 vs the manifest,
                  decrypt age, read the TOC                           undo: delete the files
    environment   create the environment for the dump's major         undo: destroy it
    restore       pg_restore -j N into it (a partial restore of a killed attempt: recreate first)
    validate      the ladder (drills/validate.py): structure, row counts, sequences, expect
    teardown      destroy the environment, delete the files
    report        RTO/RPO against rto/max_age, history + trend HTML; the verdict

Why the ladder's findings surface in `report` and not in `validate`: a failing step stops the run
and undoes it, and a drill that failed validation must still be torn down, timed and recorded in
the history (a failed drill is the most important line of the trend). Problems of the bytes
themselves (checksum, empty, unreadable, encrypted without identity) stop the drill at `fetch`:
there is nothing to restore, and the engine's undo removes the files.

Time per stage is measured inside the steps (monotonic clock) and journaled in their results. A
resumed drill keeps the stage times of the attempts that completed each stage: RTO is the work a
real recovery would take, not the hours a killed run sat waiting; the wall-clock span from the
first start is recorded beside it (`wall_seconds`, `resumed`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.config.durations import format_duration
from breakglass.drills import fetch as fetching
from breakglass.drills import history, pgrestore, validate
from breakglass.engine import journal, lock
from breakglass.engine.findings import Finding, Outcome, Severity, exit_code, verdict
from breakglass.engine.registry import register
from breakglass.engine.runbook import Action, Plan, Precondition, Runbook, Step, StepContext
from breakglass.engine.runs import summarize
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.recovery.manifest import Manifest, ManifestInvalid
from breakglass.recovery.stores import BackupStore, open_store

if TYPE_CHECKING:
    from breakglass.config import BackupConfig, Config, RestoreDrillConfig
    from breakglass.recovery.environments import Environment, Target

SUPPORTED_ENVIRONMENTS = ("local", "server")
RESTORE_STARTED, RESTORE_DONE = "restore.started", "restore.json"
STAGES = ("fetch", "verify", "environment", "restore", "validate", "teardown")


def monitor_slug(project: str, backup: str) -> str:
    """Sentry monitor slugs are lowercase letters, digits, `-` and `_`, at most 50 characters
    (https://docs.sentry.io/product/crons/getting-started/): a long name keeps a hash suffix so
    two projects never share a monitor."""
    raw = f"breakglass-drill-restore-{project}-{backup}".lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", raw).strip("-")
    if len(slug) <= 50:
        return slug
    return f"{slug[:41].rstrip('-')}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_seconds(s: float) -> str:
    s = max(0.0, s)
    if s < 120:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    if d:
        return f"{d}d {h}h"
    return f"{h}h {m}m" if h else f"{m}m {sec}s"


class _Drill:
    """What the steps of one drill share: the settings, and the selection seen while planning
    (before `select` applies, later steps plan against the candidate it observed)."""

    def __init__(self, config: Config, drill: RestoreDrillConfig, backup: BackupConfig,
                 kind: str, key: str | None, jobs: int | None) -> None:
        self.config, self.drill, self.backup, self.kind = config, drill, backup, kind
        self.key, self.jobs = key, jobs
        self.candidate: dict[str, Any] | None = None

    def store(self) -> BackupStore:
        return open_store(self.backup.store, self.config.aws,
                          key_path=f"backups.{self.drill.backup}.store")

    def selection(self, ctx: StepContext) -> Mapping[str, Any] | None:
        return ctx.outputs.get("select") or self.candidate

    def folder(self, ctx: StepContext) -> Path:
        return fetching.drill_dir(ctx.state_dir, ctx.run_id)

    def env(self, ctx: StepContext) -> Environment:
        from breakglass.recovery.environments import environment_for

        return environment_for(ctx.config, ctx.run_id, ctx.secrets, ctx.state_dir,
                               ctx.redactor, self.kind)

    def major(self, ctx: StepContext) -> int | None:
        """The dump's server major: the archive header (after fetch), else the manifest."""
        fetched = ctx.outputs.get("fetch") or fetching.read_done(self.folder(ctx)) or {}
        if fetched.get("dump_major"):
            return int(fetched["dump_major"])
        manifest = (self.selection(ctx) or {}).get("manifest") or {}
        if manifest.get("server_major"):
            return int(manifest["server_major"])
        return fetching.major_of(str(manifest.get("server_version", "")))

    def manifest(self, ctx: StepContext) -> Manifest | None:
        doc = (self.selection(ctx) or {}).get("manifest")
        return Manifest.model_validate(doc) if doc else None

    def effective_jobs(self) -> int:
        return self.jobs or self.drill.jobs or pgrestore.default_jobs()


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
        if kind not in (*SUPPORTED_ENVIRONMENTS, "rds"):
            raise UsageError(f"--env {kind!r}: use one of local, server, rds")
        if kind == "rds":
            raise UsageError("--env rds: restoring an RDS snapshot is not part of drill.restore "
                             "yet; use local or server")
        if kind == "server" and drill.server is None:
            raise UsageError('--env server needs drills.restore.server = "env:DRILL_SERVER_DSN"')
        jobs = self.params.get("jobs")
        self.drill = _Drill(config, drill, config.backups[drill.backup], kind,
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

    def preconditions(self) -> Sequence[Precondition]:
        if self.drill.kind != "server":
            return ()

        def guard(ctx: StepContext) -> Sequence[Finding]:
            from breakglass.recovery.environments.server import guard_findings

            return guard_findings(ctx.config, ctx.secrets)

        return [Precondition("drill.production_guard", "the drill server is not a production "
                             "database of this config", guard, blocking=True)]

    def steps(self) -> Sequence[Step]:
        d = self.drill
        return [CleanLeftovers(d), SelectBackup(d), Fetch(d), CreateEnvironment(d), Restore(d),
                Validate(d), Teardown(d), Report(d)]


class _DrillStep(Step):
    def __init__(self, drill: _Drill) -> None:
        self.d = drill


# -- (a) leftovers ---------------------------------------------------------------------------
def run_is_live(state_dir: Path, run_id: str) -> bool:
    """A run is live while it holds its lock. A finished run, or one that was killed (its lock
    is free), is not: what it left behind may be removed."""
    path = journal.journal_path(state_dir, run_id)
    if not path.is_file():
        return False
    s = summarize(path, run_id)
    if s.is_finished:
        return False
    held = lock.holder(state_dir, s.runbook, s.target)
    return lock.is_held(state_dir, s.runbook, s.target) and held is not None \
        and held.run_id == run_id


class CleanLeftovers(_DrillStep):
    name = "leftovers"
    title = "remove what killed drills left behind"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        from breakglass.recovery.environments import leftovers

        def is_live(run_id: str) -> bool:
            return run_id == ctx.run_id or run_is_live(ctx.state_dir, run_id)

        envs = leftovers(ctx.config, ctx.secrets, ctx.state_dir, ctx.redactor, is_live)
        folders = []
        base = ctx.state_dir / "drills"
        for sub in sorted(base.iterdir()) if base.is_dir() else []:
            if (sub.is_dir() and any((sub / n).exists() for n in fetching.OWN_FILES)
                    and not is_live(sub.name)):
                folders.append(sub.name)
        return {"environments": [{"kind": e.kind, "run_id": e.run_id,
                                  "description": e.description, "handle": e.handle}
                                 for e in envs], "folders": folders}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        actions = [Action(f"remove {e['description']} (left by drill run {e['run_id']})",
                          target=e["description"], destructive=True)
                   for e in observed["environments"]]
        actions += [Action(f"delete the fetched backup files of drill run {r}",
                           target=f"drills/{r}/", destructive=True)
                    for r in observed["folders"]]
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
        return {"removed": removed}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        left = [e["description"] for e in observed["environments"]] + \
            [f"drills/{r}/" for r in observed["folders"]]
        if not left:
            return []
        # Not a reason to skip this month's drill: a note the owners see in the report.
        return [Finding("LEFTOVER_REMAINS", f"could not remove: {', '.join(left)}",
                        "remove them by hand (see docs/drill-restore.md, 'Recovery')",
                        Severity.INFO, subject=self.name, evidence={"left": left})]


# -- (b) select ------------------------------------------------------------------------------
class SelectBackup(_DrillStep):
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
                raise UsageError(f"--backup {self.d.key!r}: no such backup in {store.url} "
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
        made = obj.modified
        if manifest is not None:
            made = manifest.started_at or manifest.created_at
        self.d.candidate = {
            "key": obj.key, "size": obj.size, "modified": obj.modified.isoformat(),
            "made": made.astimezone(UTC).isoformat(), "store": store.url,
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
            f"restore {cand['key']} ({_human_bytes(cand['size'])}, {man}), made "
            f"{cand['made'][:19].replace('T', ' ')} UTC: RPO {human_seconds(age.total_seconds())}",
            target=cand["key"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        cand = self.d.candidate
        if cand is None:  # observe just ran; a backup vanished in between
            raise CouldNotVerify("the selected backup disappeared from the store",
                                 code="STORE_UNREACHABLE", action="run the drill again")
        now = datetime.now(UTC)
        rpo = (now - datetime.fromisoformat(cand["made"])).total_seconds()
        return {**cand, "selected_at": now.isoformat(), "rpo_seconds": round(rpo, 3)}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed.get("selected") or observed.get("candidate"):
            return []
        return [Finding("NO_BACKUPS", f"no backups in {observed.get('store')}", "check that "
                        "backups are being taken (backup.take) and written to this store",
                        subject=self.name)]


# -- (c) fetch -------------------------------------------------------------------------------
def _finding_of(problem: Mapping[str, Any], subject: str) -> Finding:
    return Finding(str(problem["code"]), str(problem["message"]), str(problem["action"]),
                   Severity.ERROR, Outcome(problem.get("outcome", "failed")), subject,
                   dict(problem.get("evidence") or {}))


class Fetch(_DrillStep):
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
            f"download {observed['key']} ({_human_bytes(observed['size'])}) into "
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
            from breakglass.recovery import archive

            assert ref is not None
            try:
                return archive.parse_identities(ctx.secret(ref))
            except ValueError as exc:
                raise UsageError(f"{where}: {exc}") from None

        res = fetching.fetch(self.d.store(), str(sel["key"]), folder, manifest=sel["manifest"],
                             expected_size=int(sel["size"]),
                             identity=identities if ref else None, progress=ctx.progress)
        fetching.write_done(folder, res)
        return res.to_dict()

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        done = observed["done"] or {}
        return [_finding_of(p, self.name) for p in done.get("problems") or []]

    def undo(self, ctx: StepContext) -> None:
        fetching.remove_files(self.d.folder(ctx))


# -- (d) environment -------------------------------------------------------------------------
class CreateEnvironment(_DrillStep):
    name = "environment"
    title = "create the disposable environment"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        if self.d.selection(ctx) is None:
            return {"needed": False}
        env = self.d.env(ctx)
        major = self.d.major(ctx)
        try:
            found = env.find()
            if major is not None:
                describe = env.describe_plan(major)
            else:
                describe = (f"create a {self.d.kind} environment for the dump's PostgreSQL "
                            "major (read from the archive header after the download)")
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
        major = self.d.major(ctx)
        if major is None:
            raise CouldNotVerify("the dump's PostgreSQL version is unknown (no manifest and no "
                                 "version in the archive header)", code="DUMP_VERSION_UNKNOWN",
                                 action="take backups with pg_dump -Fc (backup.take)")
        t0 = time.monotonic()
        target = self.d.env(ctx).create(major)
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


# -- (e) restore -----------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    import json
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(dict(data), fh, sort_keys=True)
    tmp.replace(path)


def _pg_restore_for(major: int) -> Path:
    """pg_restore of the target server's major (its SET commands match that server), else the
    newest one (it reads every older archive)."""
    from breakglass.connectors import pgbin

    try:
        return pgbin.find("pg_restore", major=major)
    except CouldNotVerify:
        return pgbin.find("pg_restore", at_least=major)


class Restore(_DrillStep):
    name = "restore"
    title = "restore the dump with pg_restore"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        folder = self.d.folder(ctx)
        return {"needed": self.d.selection(ctx) is not None,
                "done": _read_json(folder / RESTORE_DONE),
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
            env.destroy()
            target = env.create(major)
        (folder / RESTORE_STARTED).write_text(ctx.run_id)
        fetched = fetching.read_done(folder) or {}
        total = (fetched.get("toc") or {}).get("table_data_entries")
        jobs = self.d.effective_jobs()
        outcome = pgrestore.run(_pg_restore_for(target.major), folder / fetching.PLAIN,
                                target.dsn, target.dbname, jobs,
                                int(total) if total else None, ctx.progress)
        result = {"seconds_restore": round(outcome.seconds, 3), "jobs": jobs,
                  "exit_code": outcome.returncode, "tables_processed": outcome.tables_processed,
                  "target_major": target.major,
                  "problems": pgrestore.problems(outcome, str(fetched.get("key", "")))}
        _write_json(folder / RESTORE_DONE, result)
        return result

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        # pg_restore's errors are a rung of the ladder, reported with the others by `report`
        # after validation has measured what did arrive.
        return []


# -- (f) validate ----------------------------------------------------------------------------
class Validate(_DrillStep):
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
        return Plan.of(Action(f"validate: structure and exact row counts against the manifest, "
                              f"sequences against max(id), {n} expect check(s)",
                              target="drill database"))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        from breakglass.connectors.postgres import connect

        target = self.d.env(ctx).find()
        if target is None:
            raise CouldNotVerify("the drill environment is gone before validation",
                                 code="ENVIRONMENT_MISSING", action="run the drill again")
        manifest = self.d.manifest(ctx)
        t0 = time.monotonic()
        with connect(target.dsn, autocommit=True) as conn:
            found = validate.ladder(conn, schema=manifest.schema_ if manifest else None,
                                    tables=manifest.tables if manifest else None,
                                    checks=self.d.drill.expect)
        return {"findings": [f.to_dict() for f in found],
                "seconds_validate": round(time.monotonic() - t0, 3)}


# -- (g) teardown ----------------------------------------------------------------------------
class Teardown(_DrillStep):
    name = "teardown"
    title = "destroy the environment and delete the fetched files"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        folder = self.d.folder(ctx)
        found = self.d.env(ctx).find() if self.d.selection(ctx) is not None else None
        return {"pending": "environment" not in ctx.outputs and self.d.selection(ctx) is not None,
                "environment": found.description if found else None,
                "files": [n for n in fetching.OWN_FILES if (folder / n).exists()],
                "folder": str(folder)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        actions = []
        if observed["environment"] or observed["pending"]:
            what = observed["environment"] or f"the {self.d.kind} drill environment"
            actions.append(Action(f"destroy {what}", target=what, destructive=True))
        if observed["files"] or observed["pending"]:
            actions.append(Action(f"delete the fetched files in {observed['folder']}/",
                                  target=observed["folder"], destructive=True))
        return Plan.of(*actions) if actions else Plan.noop("nothing to tear down")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        t0 = time.monotonic()
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


# -- (h) report ------------------------------------------------------------------------------
class Report(_DrillStep):
    name = "report"
    title = "judge RTO/RPO, record the drill, write the trend"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        recorded = any(r.get("run_id") == ctx.run_id for r in history.load(ctx.state_dir))
        return {"needed": self.d.selection(ctx) is not None, "recorded": recorded}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if not observed["needed"]:
            return Plan.noop("no backup to restore")
        if observed["recorded"]:
            return Plan.noop("already in the drill history")
        return Plan.of(Action(
            f"time each stage against rto = {format_duration(self.d.drill.rto)} and the backup's "
            f"age against max_age = {format_duration(self.d.backup.max_age)}; append to "
            "drills/history.jsonl; write reports/drill-restore-trend.html",
            target="state_dir"))

    def _stages(self, ctx: StepContext) -> dict[str, float]:
        o = ctx.outputs
        pick = {"fetch": ("fetch", "seconds_fetch"), "verify": ("fetch", "seconds_verify"),
                "environment": ("environment", "seconds_environment"),
                "restore": ("restore", "seconds_restore"),
                "validate": ("validate", "seconds_validate"),
                "teardown": ("teardown", "seconds_teardown")}
        return {stage: float((o.get(step) or {}).get(key) or 0.0)
                for stage, (step, key) in pick.items()}

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        sel = dict(self.d.selection(ctx) or {})
        stages = self._stages(ctx)
        rto = sum(stages.values())
        rpo = float(sel.get("rpo_seconds") or 0.0)
        rto_target = self.d.drill.rto.total_seconds()
        rpo_target = self.d.backup.max_age.total_seconds()
        timing = []
        if rto > rto_target:
            slowest = max(stages, key=lambda k: stages[k])
            timing.append(Finding(
                "RTO_EXCEEDED", f"the restore took {human_seconds(rto)}; the RTO target (rto) "
                f"is {format_duration(self.d.drill.rto)} (slowest stage: {slowest}, "
                f"{human_seconds(stages[slowest])})", "a real recovery would take longer than "
                "promised: speed up the slowest stage (faster store, bigger drill machine, "
                "jobs) or agree a realistic rto", subject="rto",
                evidence={"rto_seconds": round(rto, 3), "target_seconds": rto_target,
                          "stages": stages}))
        if rpo > rpo_target:
            timing.append(Finding(
                "RPO_EXCEEDED", f"the newest backup was {human_seconds(rpo)} old at drill time; "
                f"the RPO target (max_age) is {format_duration(self.d.backup.max_age)}",
                "a disaster now would lose more data than promised: find out why backups are "
                "not more recent (job schedule, failures) and take one now", subject="rpo",
                evidence={"rpo_seconds": rpo, "target_seconds": rpo_target,
                          "backup": sel.get("key")}))
        found = [*self._carried(ctx), *timing]
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
            "rto_seconds": round(rto, 3), "rto_target_seconds": rto_target,
            "rpo_seconds": round(rpo, 3), "rpo_target_seconds": rpo_target,
            "wall_seconds": round(wall, 3), "resumed": resumed,
            "verdict": verdict(found), "exit_code": exit_code(found),
            "codes": sorted({f.code for f in found if f.counts}),
        }
        history.append(ctx.state_dir, record)
        trend = history.write_trend(ctx.state_dir, history.load(ctx.state_dir))
        return {**record, "timing": [f.to_dict() for f in timing], "trend": str(trend),
                "history": str(history.history_path(ctx.state_dir))}

    def _carried(self, ctx: StepContext) -> list[Finding]:
        """The ladder: restore errors, then validation, then a manifest that did not parse."""
        o = ctx.outputs
        found = [_finding_of(p, "restore") for p in (o.get("restore") or {}).get("problems", [])]
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
        timing = [Finding.from_dict(f) for f in (ctx.outputs.get("report") or {}).get("timing",
                                                                                    [])]
        return [*self._carried(ctx), *timing]
