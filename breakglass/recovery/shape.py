"""Is this archive a whole dump of the configured database? (backup.verify and the restore drill)

An archive that reads to the end can still be the wrong backup: a dump of another database
stored under this name, or one with a table's rows left out (`pg_dump --exclude-table-data`),
restores with exit code 0 and passes every checksum. So the archive's table of contents
(archive.Toc: its database, its tables, which of them have their rows in the archive) is held
against what the configured database is known to look like — the *reference*:

    production  backups.NAME.database's DSN, connected (catalog reads only): current_database()
                and its tables. The most direct witness, when this machine can reach it.
    dsn         production refused or unreachable: the dbname its DSN names.
    manifest    the newest earlier backup of the set whose manifest is plausible (database and
                tables) — the set's last known shape, readable by any machine that reads the
                store.

The database name comes from the first of these that has one; the table list from production,
else the earlier manifest. Each backup is also held against its own manifest (written in the
same snapshot as the dump, so they must agree exactly) and against sense (manifest.implausible).

Why a table of the reference missing from the archive is an error, not a note: it is what
`pg_dump -T` looks like. It is a note (SHAPE_CHANGED) only when the backup's own manifest,
which agrees with the archive, lacks it too: then the table did not exist when the dump was
taken (created later, or dropped before — a migration).

Tables listed in `exclude_data` may lack their rows (and be absent altogether).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from breakglass.engine.findings import Finding, Severity
from breakglass.errors import BreakglassError, CouldNotVerify
from breakglass.recovery.archive import Toc
from breakglass.recovery.manifest import Manifest, ManifestInvalid, implausible

if TYPE_CHECKING:
    from breakglass.config import BackupConfig
    from breakglass.engine.runbook import StepContext
    from breakglass.recovery.stores import BackupObject, BackupStore

ARCHIVE_EMPTY = "ARCHIVE_EMPTY"
ARCHIVE_WRONG_DATABASE = "ARCHIVE_WRONG_DATABASE"
TABLE_DATA_MISSING = "TABLE_DATA_MISSING"
TABLE_MISSING = "TABLE_MISSING"
MANIFEST_MISMATCH = "MANIFEST_MISMATCH"
MANIFEST_IMPLAUSIBLE = "MANIFEST_IMPLAUSIBLE"
SHAPE_CHANGED = "SHAPE_CHANGED"
SHAPE_NOT_COMPARED = "SHAPE_NOT_COMPARED"

#: earlier manifests read at most while looking for the set's last known shape
EARLIER_MANIFESTS = 5
MAX_NAMES = 20


@dataclass(frozen=True)
class Reference:
    """What the configured database is known to look like. None: unknown."""

    database: str | None = None
    tables: frozenset[str] | None = None
    #: where the name and the table list came from, for messages ("production (databases.main)")
    database_source: str = ""
    tables_source: str = ""
    #: why a witness was not used (production unreachable, …), for the evidence
    notes: tuple[str, ...] = ()

    def evidence(self) -> dict[str, Any]:
        return {"reference_database": self.database, "database_source": self.database_source,
                "tables_source": self.tables_source, "reference_notes": list(self.notes)}


def reference(ctx: StepContext, backup_name: str, cfg: BackupConfig, store: BackupStore,
              earlier: Sequence[BackupObject], now: datetime) -> Reference:
    """The reference for a backup of `cfg`; `earlier` are the set's backups older than it,
    oldest first."""
    notes: list[str] = []
    database = tables = None
    db_source = tables_source = ""
    if cfg.database is None:
        notes.append(f"backups.{backup_name}.database is not set")
    else:
        where = f"databases.{cfg.database}"
        database, tables, note = _production(ctx, cfg.database)
        if tables is not None:
            db_source = tables_source = f"production ({where})"
        elif database is not None:
            db_source = f"the DSN of {where}"
        if note:
            notes.append(note)
    if tables is None:
        found = _earlier_manifest(store, earlier, now, database)
        if found is not None:
            key, manifest = found
            tables = frozenset(_manifest_tables(manifest))
            tables_source = f"the manifest of {key}"
            if database is None:
                database, db_source = manifest.database, tables_source
    return Reference(database, tables, db_source, tables_source, tuple(notes))


def _production(ctx: StepContext, name: str) -> tuple[str | None, frozenset[str] | None, str]:
    """(dbname, tables, why not) of [databases.NAME]: dbname alone when it cannot connect."""
    from breakglass.connectors import postgres
    from breakglass.recovery import fingerprint

    try:
        dsn = ctx.secret(ctx.config.databases[name].dsn)
        dbname = postgres.parse_dsn(dsn).get("dbname")
    except (BreakglassError, KeyError) as exc:
        return None, None, f"databases.{name}.dsn: {exc}"
    try:
        with postgres.connect(dsn, autocommit=True) as conn:
            row = conn.execute("select current_database()").fetchone()
            assert row is not None
            return str(row[0]), fingerprint.table_names(conn), ""
    except CouldNotVerify as exc:
        return dbname, None, f"production not compared: {exc}"


def _earlier_manifest(store: BackupStore, earlier: Sequence[BackupObject], now: datetime,
                      database: str | None) -> tuple[str, Manifest] | None:
    """The newest earlier manifest that records tables, is plausible and (when the database
    name is known) names it."""
    for obj in list(reversed(earlier))[:EARLIER_MANIFESTS]:
        try:
            manifest = store.read_manifest(obj.key)
        except (ManifestInvalid, CouldNotVerify):
            continue
        if (manifest is None or not manifest.tables
                or implausible(manifest, obj.modified, now)
                or (database is not None and manifest.database != database)):
            continue
        return obj.key, manifest
    return None


def _manifest_tables(manifest: Manifest) -> set[str]:
    # the fingerprint has every table (partitioned parents too); format-1 manifests only counts
    if manifest.schema_ is not None and manifest.schema_.tables:
        return set(manifest.schema_.tables)
    return set(manifest.tables or {})


def excluded(patterns: Sequence[str]) -> Callable[[str], bool]:
    """`exclude_data` as a test on "schema.table": "sessions" names it in any schema."""
    wanted = set(patterns)
    return lambda table: table in wanted or table.partition(".")[2] in wanted


def _names(tables: Sequence[str] | set[str] | frozenset[str]) -> str:
    ordered = sorted(tables)
    more = f" and {len(ordered) - MAX_NAMES} more" if len(ordered) > MAX_NAMES else ""
    return ", ".join(ordered[:MAX_NAMES]) + more


class Judge:
    """Findings about one backup, for one subject (a step's name) and base evidence."""

    def __init__(self, backup_name: str, exclude: Sequence[str], subject: str,
                 **evidence: Any) -> None:
        self.backup_name = backup_name
        self.excluded = excluded(exclude)
        self.subject = subject
        self.evidence = evidence

    def _f(self, code: str, message: str, action: str, severity: Severity = Severity.ERROR,
           **evidence: Any) -> Finding:
        return Finding(code, message, action, severity, subject=self.subject,
                       evidence={**self.evidence, **evidence})

    # -- the manifest against sense -----------------------------------------------------
    def manifest(self, manifest: Manifest, uploaded: datetime, now: datetime,
                 ref: Reference) -> list[Finding]:
        why = implausible(manifest, uploaded, now)
        if ref.database is not None and manifest.database != ref.database:
            why.append(f"it names database {manifest.database!r}; {ref.database_source} is "
                       f"{ref.database!r}")
        if not why:
            return []
        return [self._f(
            MANIFEST_IMPLAUSIBLE, f"the manifest cannot be right: {'; '.join(why)}",
            "do not trust this backup's manifest (its age, row counts and schema are not "
            "used): take a new backup with `breakglass backup.take` and find out who or what "
            "wrote this manifest", reasons=why, manifest_database=manifest.database,
            made_at=manifest.made_at.isoformat(), uploaded=uploaded.isoformat(),
            **ref.evidence())]

    # -- the archive against the reference and its own manifest -------------------------
    def archive(self, toc: Toc, ref: Reference, manifest: Manifest | None) -> list[Finding]:
        if not toc.tables:
            return [self._f(ARCHIVE_EMPTY, f"the archive of database {toc.database} defines no "
                            "table: there is nothing to restore", "check that the backup job "
                            "dumps the right database (and not with --data-only); take a new "
                            "backup", archive_database=toc.database, **ref.evidence())]
        found = self._data(toc)
        mismatch = self._against_manifest(toc, manifest) if manifest is not None else []
        wrong = self._wrong_database(toc, ref)
        found += wrong
        if not wrong and ref.tables is not None:
            found += self._absent(toc, ref, manifest if not mismatch else None)
        if ref.database is None and ref.tables is None:
            found.append(self._f(
                SHAPE_NOT_COMPARED, f"the archive's database ({toc.database}) and tables were "
                "not compared with the configured database: nothing known to compare with "
                f"({'; '.join(ref.notes) or 'no earlier manifest'})",
                f"set backups.{self.backup_name}.database to the [databases.*] entry it backs "
                "up (reachable from here, or its DSN naming the dbname), or take backups with "
                "`breakglass backup.take` (its manifests record the tables)", Severity.INFO,
                archive_database=toc.database, **ref.evidence()))
        return found + mismatch

    def _data(self, toc: Toc) -> list[Finding]:
        missing = [t for t in toc.without_data if not self.excluded(t)]
        if not missing:
            return []
        return [self._f(
            TABLE_DATA_MISSING, f"{len(missing)} table(s) are defined in the archive without "
            f"their rows: {_names(missing)}", "the dump left these tables' rows out (pg_dump "
            "--exclude-table-data, --schema-only or --no-unlogged-table-data): a restore would "
            "bring them back empty. Take the dump without that option, or, if leaving them out "
            f"is intended, list them in backups.{self.backup_name}.exclude_data",
            tables=missing[:MAX_NAMES], count=len(missing), archive_database=toc.database)]

    def _wrong_database(self, toc: Toc, ref: Reference) -> list[Finding]:
        if ref.database is not None and toc.database is not None \
                and toc.database != ref.database:
            return [self._f(
                ARCHIVE_WRONG_DATABASE, f"the archive is a dump of database {toc.database!r}; "
                f"backups.{self.backup_name} backs up {ref.database!r} ({ref.database_source})",
                "this is not a backup of the configured database: check which database the "
                "backup job dumps and where it writes; take a new backup",
                archive_database=toc.database, **ref.evidence())]
        if not ref.tables:
            return []
        want = {t for t in ref.tables if not self.excluded(t)}
        common = want & toc.names
        if want and len(common) * 2 < len(want):
            return [self._f(
                ARCHIVE_WRONG_DATABASE, f"the archive holds {len(common)} of the {len(want)} "
                f"tables of the configured database ({ref.tables_source}): it is a dump of "
                "another database", "check which database the backup job dumps (host, port, "
                "dbname); take a new backup", archive_database=toc.database,
                absent=sorted(want - toc.names)[:MAX_NAMES], **ref.evidence())]
        return []

    def _absent(self, toc: Toc, ref: Reference, own: Manifest | None) -> list[Finding]:
        assert ref.tables is not None
        absent = sorted(t for t in ref.tables - toc.names if not self.excluded(t))
        if not absent:
            return []
        known = _manifest_tables(own) if own is not None else None
        changed = [t for t in absent if known is not None and t not in known]
        lost = [t for t in absent if t not in changed]
        found = []
        if lost:
            found.append(self._f(
                TABLE_MISSING, f"{len(lost)} table(s) of the configured database are not in "
                f"the archive: {_names(lost)} ({ref.tables_source} has them)",
                "a restore would not have them: the dump left them out (pg_dump -T / "
                "--exclude-table) or they were created after this backup. Take a new backup; "
                f"if leaving them out is intended, list them in backups.{self.backup_name}."
                "exclude_data", tables=lost[:MAX_NAMES], count=len(lost), **ref.evidence()))
        if changed:
            found.append(self._f(
                SHAPE_CHANGED, f"{len(changed)} table(s) of {ref.tables_source} did not exist "
                f"when this backup was taken (its own manifest lacks them too): "
                f"{_names(changed)}", "nothing to do if a migration created or dropped them; "
                "the next backup will have the current shape", Severity.INFO,
                tables=changed[:MAX_NAMES], **ref.evidence()))
        return found

    def _against_manifest(self, toc: Toc, manifest: Manifest) -> list[Finding]:
        diffs = []
        if toc.database is not None and manifest.database != toc.database:
            diffs.append(f"it names database {manifest.database!r}, the archive is of "
                         f"{toc.database!r}")
        if manifest.tables:
            listed = {t for t in manifest.tables if not self.excluded(t)}
            holding = {t for t in toc.holding_rows if not self.excluded(t)}
            if listed - holding:
                diffs.append(f"it counts rows of tables the archive does not hold: "
                             f"{_names(listed - holding)}")
            if holding - listed:
                diffs.append(f"the archive holds tables it does not count: "
                             f"{_names(holding - listed)}")
        if not diffs:
            return []
        return [self._f(
            MANIFEST_MISMATCH, f"the manifest does not describe this archive: {'; '.join(diffs)}",
            "the backup and its manifest do not belong together (a file replaced, or a manifest "
            "copied from another backup): do not rely on this backup; take a new one",
            differences=diffs, manifest_database=manifest.database,
            archive_database=toc.database)]
