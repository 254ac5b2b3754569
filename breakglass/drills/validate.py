"""The validation ladder of the restore drill: prove the restored database holds the backup.

Every rung is evaluated (one failing rung does not hide the next) and each ends in findings with
a stable code — a problem (error), or a pass recorded as an INFO note with its evidence:

    rung        problem codes                                      pass note
    archive     recovery/shape.py: ARCHIVE_WRONG_DATABASE,         (none: its problems only)
                TABLE_DATA_MISSING, TABLE_MISSING, ARCHIVE_EMPTY,
                MANIFEST_MISMATCH, MANIFEST_IMPLAUSIBLE
    structure   SCHEMA_* from recovery/fingerprint.compare         STRUCTURE_OK
    volume      ROW_COUNT_MISMATCH, ROWS_MISSING                   ROW_COUNTS_OK
    sequences   SEQUENCE_BEHIND                                    SEQUENCES_OK
    expect      EXPECT_FAILED (the value seen), EXPECT_ERROR       EXPECT_OK
    (no manifest) MANIFEST_MISSING (info: names what was not checked)
    (rds)       MANIFEST_NOT_COMPARED (info: a snapshot has no manifest of its own)

Why exact counts (`count(*)`) and not pg_class.reltuples: an estimate cannot tell a truncated
table from a full one, and a truncated dump can restore with exit code 0 (DESIGN principle 4).
`expect` SQL runs in a READ ONLY transaction with a statement timeout: it is the user's text,
run against a copy, but a typo must not hang the drill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from breakglass.connectors import postgres as pg
from breakglass.engine.findings import Finding, Severity, as_ok
from breakglass.recovery import fingerprint, shape

if TYPE_CHECKING:
    import psycopg

    from breakglass.config import ExpectConfig

EXPECT_TIMEOUT = "60s"
MAX_VALUE_CHARS = 200


def _f(code: str, rung: str, message: str, action: str,
       severity: Severity = Severity.ERROR, **evidence: Any) -> Finding:
    return Finding(code, message, action, severity, subject=f"validate.{rung}",
                   evidence=evidence)


def structure(expected: fingerprint.Fingerprint | None,
              conn: psycopg.Connection[Any]) -> list[Finding]:
    if expected is None:
        return []
    found = fingerprint.compare(expected, fingerprint.capture(conn))
    if found:
        return found
    return [as_ok(_f("STRUCTURE_OK", "structure", f"structure matches the manifest: "
               f"{len(expected.tables)} tables, {len(expected.indexes)} indexes, "
               f"{len(expected.constraints)} constraints, {len(expected.sequences)} sequences",
               "nothing to do", digest=expected.digest))]


def volume(expected: Mapping[str, int] | None, actual: Mapping[str, int],
           exclude: Sequence[str] = ()) -> list[Finding]:
    """Exact row counts against the manifest's. A table absent from the restore counts as 0
    rows here (structure names it as missing too: the two rungs answer different questions).
    Tables in `exclude` (exclude_data: the dump leaves their rows out) are not counted. A
    manifest that counts no table proves nothing: no pass note (the archive rung reports it)."""
    skip = shape.excluded(exclude)
    expected = {t: n for t, n in (expected or {}).items() if not skip(t)}
    if not expected:
        return []
    found = []
    for table, want in sorted(expected.items()):
        have = actual.get(table)
        if want > 0 and not have:
            found.append(_f(
                "ROWS_MISSING", "volume", f"{table}: 0 rows restored; the backup's manifest "
                f"says {want}", "the rows are not in the archive (a truncated dump, a dump of "
                "the wrong database, or a table whose data failed to restore): do not rely on "
                "this backup; check the restore errors and the backup job", table=table,
                expected=want, actual=have or 0))
        elif have != want:
            found.append(_f(
                "ROW_COUNT_MISMATCH", "volume", f"{table}: {have} rows restored; the manifest "
                f"says {want}", "the restore does not hold the rows that were dumped: check the "
                "restore errors; if there are none the archive and manifest disagree (take a "
                "new backup)", table=table, expected=want, actual=have))
    if found:
        return found
    return [as_ok(_f("ROW_COUNTS_OK", "volume", f"row counts match the manifest: {len(expected)} "
               f"tables, {sum(expected.values())} rows", "nothing to do",
               tables=len(expected), rows=sum(expected.values())))]


def sequences(positions: Sequence[fingerprint.SequencePosition]) -> list[Finding]:
    found = [_f("SEQUENCE_BEHIND", "sequences", f"sequence {p.sequence} would hand out "
                f"{p.next_value} next, but {p.column} already holds {p.column_max}",
                "after a real restore the first inserts would fail with duplicate keys: the "
                "dump's setval is missing or ran before the data; run "
                f"setval('{p.sequence}', max({p.column.rsplit('.', 1)[-1]})) and check how the "
                "backup is taken", sequence=p.sequence, column=p.column,
                next_value=p.next_value, column_max=p.column_max)
             for p in positions if p.behind]
    if found:
        return found
    return [as_ok(_f("SEQUENCES_OK", "sequences", f"{len(positions)} owned sequence(s) are "
                     "ahead of their column's max()", "nothing to do",
                     sequences=len(positions)))]


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def judge(exp: ExpectConfig, value: Any) -> str | None:
    """Why `value` does not meet `exp`, or None when it does."""
    if exp.min is not None or exp.max is not None:
        num = _number(value)
        if num is None:
            return f"returned {_show(value)}, not a number"
        if exp.min is not None and num < exp.min:
            return f"returned {_show(value)}, below min {exp.min}"
        if exp.max is not None and num > exp.max:
            return f"returned {_show(value)}, above max {exp.max}"
    if exp.equals is not None:
        want = exp.equals
        if isinstance(want, bool):
            ok = value is want
        elif isinstance(want, int | float):
            num = _number(value)
            ok = num is not None and num == Decimal(str(want))
        else:
            ok = value is not None and str(value) == want
        if not ok:
            return f"returned {_show(value)}, expected {want!r}"
    return None


def expect(checks: Sequence[ExpectConfig], conn: psycopg.Connection[Any]) -> list[Finding]:
    """Run each `[[drills.restore.expect]]` SQL and compare its one value."""
    found = []
    passed = 0
    for i, exp in enumerate(checks):
        where = f"drills.restore.expect[{i}]"
        try:
            with pg.statements(), conn.transaction():
                conn.execute("set transaction read only")
                conn.execute("select set_config('statement_timeout', %s, true)",
                             (EXPECT_TIMEOUT,))
                # The user's own SQL from the config file, by design (it is the check).
                row = conn.execute(exp.sql).fetchone()
        except pg.StatementFailed as exc:
            msg = exc.reason
            found.append(_f("EXPECT_ERROR", "expect", f"{where}: the SQL failed: {msg}",
                            "fix the SQL (it runs read-only against the restored copy); a "
                            "table or column it names may be missing from the backup",
                            index=i, sql=exp.sql, error=msg))
            continue
        value = row[0] if row else None
        why = "returned no row" if row is None else judge(exp, value)
        if why is None:
            passed += 1
            continue
        found.append(_f("EXPECT_FAILED", "expect", f"{where}: `{exp.sql}` {why}",
                        "the restored data does not meet what you declared: check whether the "
                        "backup is of the right database and complete, or update the "
                        "expectation", index=i, sql=exp.sql, value=_show(value),
                        min=exp.min, max=exp.max, equals=exp.equals))
    if checks and not found:
        return [as_ok(_f("EXPECT_OK", "expect", f"all {passed} expect check(s) passed",
                   "nothing to do", checks=passed))]
    return found


def manifest_missing(what: Sequence[str]) -> list[Finding]:
    """The note a drill without (part of) a manifest carries: what it could not check."""
    if not what:
        return []
    return [_f("MANIFEST_MISSING", "manifest", "no manifest with "
               f"{' and '.join(what)} for this backup: those rungs were not checked (the "
               "restore, sequences and expect checks still ran)",
               "take backups with `breakglass backup.take`, which writes a manifest with the "
               "schema fingerprint and exact row counts", Severity.INFO, not_checked=list(what))]


def ladder(conn: psycopg.Connection[Any], *, schema: fingerprint.Fingerprint | None,
           tables: Mapping[str, int] | None, checks: Sequence[ExpectConfig],
           exclude: Sequence[str] = ()) -> list[Finding]:
    """Every rung after the archive's, in order. `conn` is autocommit (each rung reads the
    committed restore)."""
    missing = [name for name, have in (("structure", schema), ("row counts", tables))
               if have is None]
    found = [*manifest_missing(missing), *structure(schema, conn)]
    found += volume(tables, fingerprint.row_counts(conn) if tables is not None else {},
                    exclude)
    found += sequences(fingerprint.sequence_positions(conn))
    found += expect(checks, conn)
    return found


def not_compared() -> list[Finding]:
    """The note of a snapshot drill (rds). The newest dump's manifest is not used: a pg_dump
    sees the database at the start of its transaction, an RDS snapshot at SnapshotCreateTime,
    and nothing proves no row or table changed in between — comparing them would report every
    write in between as a loss, and any tolerance that hides those would hide a real loss too."""
    return [_f("MANIFEST_NOT_COMPARED", "manifest", "structure and row counts were not compared: "
               "no manifest describes the RDS snapshot's point in time (a dump's manifest is "
               "of another moment)", "add [[drills.restore.expect]] checks for what must be in "
               "the snapshot (row counts, the newest rows)", Severity.INFO,
               not_checked=["structure", "row counts"])]


def snapshot_ladder(conn: psycopg.Connection[Any],
                    checks: Sequence[ExpectConfig]) -> list[Finding]:
    """The rungs a snapshot restore can be held to without a manifest of its own."""
    return [*sequences(fingerprint.sequence_positions(conn)), *expect(checks, conn)]
