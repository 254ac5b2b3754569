"""The schema fingerprint: what a database's structure was when it was dumped, so that a restore
can be checked against it object by object (issue 3: "structure against the manifest").

`capture(conn)` reads the catalogs of user schemas only (not pg_catalog, information_schema,
pg_toast*, pg_temp_*). Keys are qualified names:

    tables       "schema.table"            -> {column: {type, not_null, default}}
    indexes      "schema.index"            -> definition (pg_indexes.indexdef)
    constraints  "schema.table.constraint" -> {table, type, definition (pg_get_constraintdef)}
                 (constraint names are unique per table, not per schema)
    sequences    "schema.sequence"         -> {owned_by: "schema.table.column" | None}
    extensions   name                      -> version

NOT NULL constraints (contype 'n', catalogued since PostgreSQL 18) are left out: a column's
`not_null` already says it, and a 16 dump restored into 18 must not look different.

`row_counts` (exact count(*) per table) and `sequence_positions` (for the "sequence behind
max(id)" check) run in the caller's transaction: the backup runs them inside the snapshot it
dumps, so the manifest describes exactly the rows in the archive.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from breakglass.engine.findings import Finding, Severity

if TYPE_CHECKING:
    import psycopg

# Catalog filter for "user objects" (n = pg_namespace). `pg_toast_temp_N` matches pg_toast%.
_USER_NS = ("n.nspname not in ('pg_catalog', 'information_schema') "
            "and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp\\_%'")
# A table that belongs to an extension (deptype 'e') is created by CREATE EXTENSION, not by the
# dump (pg_dump writes no TABLE entry for it): it is the extension's, not the database's.
_NOT_EXTENSION_MEMBER = ("not exists (select 1 from pg_depend e where e.classid = "
                         "'pg_class'::regclass and e.objid = c.oid and e.deptype = 'e')")


class _Frozen(BaseModel):
    # extra="ignore": a manifest written by a newer breakglass still reads.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Column(_Frozen):
    type: str
    not_null: bool = False
    default: str | None = None


class Constraint(_Frozen):
    table: str
    #: primary key | foreign key | unique | check | exclusion | trigger
    type: str
    definition: str


class SequenceInfo(_Frozen):
    owned_by: str | None = None


class Fingerprint(_Frozen):
    tables: dict[str, dict[str, Column]] = {}
    indexes: dict[str, str] = {}
    constraints: dict[str, Constraint] = {}
    sequences: dict[str, SequenceInfo] = {}
    extensions: dict[str, str] = {}

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON: two equal fingerprints have equal digests."""
        canonical = json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class SequencePosition(_Frozen):
    """Where an owned sequence stands against the column it feeds."""

    sequence: str  # "schema.sequence"
    column: str  # "schema.table.column"
    last_value: int
    is_called: bool
    increment: int
    column_max: int | None  # None: the table is empty

    @property
    def next_value(self) -> int:
        """What nextval() returns next (pg docs, "Sequence Manipulation Functions")."""
        return self.last_value + self.increment if self.is_called else self.last_value

    @property
    def behind(self) -> bool:
        """True when the next insert would reuse an existing id (a restore that forgot setval:
        the first INSERT after failover fails with a duplicate key)."""
        if self.column_max is None:
            return False
        if self.increment > 0:
            return self.next_value <= self.column_max
        return False  # descending sequences feed min(); rare enough to leave unjudged


_CONTYPE = {"p": "primary key", "f": "foreign key", "u": "unique", "c": "check",
            "x": "exclusion", "t": "trigger"}


def _catalog(conn: psycopg.Connection[Any], query: str) -> psycopg.Cursor[Any]:
    """Run a fixed catalog query; `{user_ns}` / `{user_ns_idx}` become the user-schema filter
    (composed with psycopg.sql: the queries take no outside input)."""
    from psycopg import sql

    return conn.execute(sql.SQL(query).format(
        user_ns=sql.SQL(_USER_NS), own=sql.SQL(_NOT_EXTENSION_MEMBER),
        user_ns_idx=sql.SQL(_USER_NS.replace("n.nspname", "n.schemaname"))))


def _q(schema: str, name: str) -> str:
    return f"{schema}.{name}"


def capture(conn: psycopg.Connection[Any]) -> Fingerprint:
    """The fingerprint of the database `conn` is connected to (read-only catalog queries)."""
    tables: dict[str, dict[str, Column]] = {}
    for schema, table in _catalog(conn,
            "select n.nspname, c.relname from pg_class c join pg_namespace n "
            "on n.oid = c.relnamespace where c.relkind in ('r', 'p') and {user_ns} and {own}"):
        tables[_q(schema, table)] = {}
    for schema, table, col, typ, not_null, default in _catalog(conn,
            "select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
            "a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
            "from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
            "where c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped "
            "and {user_ns} and {own} order by n.nspname, c.relname, a.attnum"):
        tables[_q(schema, table)][col] = Column(type=typ, not_null=not_null, default=default)
    indexes = {_q(s, i): d for s, i, d in _catalog(conn,
        "select n.schemaname, n.indexname, n.indexdef from pg_indexes n "
        "where {user_ns_idx}")}
    constraints = {}
    for schema, table, name, contype, definition in _catalog(conn,
            "select n.nspname, c.relname, con.conname, con.contype, "
            "pg_get_constraintdef(con.oid) from pg_constraint con "
            "join pg_class c on c.oid = con.conrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where con.contype <> 'n' and {user_ns}"):
        constraints[f"{schema}.{table}.{name}"] = Constraint(
            table=_q(schema, table), type=_CONTYPE.get(contype, contype), definition=definition)
    sequences = {}
    for schema, seq, owner in _catalog(conn,
            "select n.nspname, c.relname, "
            "  (select tn.nspname || '.' || t.relname || '.' || a.attname "
            "   from pg_depend dep join pg_class t on t.oid = dep.refobjid "
            "   join pg_namespace tn on tn.oid = t.relnamespace "
            "   join pg_attribute a on a.attrelid = dep.refobjid and a.attnum = dep.refobjsubid "
            "   where dep.classid = 'pg_class'::regclass and dep.objid = c.oid "
            "   and dep.refclassid = 'pg_class'::regclass and dep.deptype in ('a', 'i') "
            "   limit 1) "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind = 'S' and {user_ns}"):
        sequences[_q(schema, seq)] = SequenceInfo(owned_by=owner)
    extensions = {str(n): str(v) for n, v in
                  conn.execute("select extname, extversion from pg_extension")}
    return Fingerprint(tables=tables, indexes=indexes, constraints=constraints,
                       sequences=sequences, extensions=extensions)


def _user_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    # Plain tables (relkind 'r', which includes partitions); a partitioned parent holds no rows
    # of its own, and counting it would count its partitions twice.
    return [(str(s), str(t)) for s, t in _catalog(conn,
        "select n.nspname, c.relname from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where c.relkind = 'r' and {user_ns} and {own} "
        "order by 1, 2")]


def table_names(conn: psycopg.Connection[Any]) -> frozenset[str]:
    """Every table of the database a dump defines ("schema.table"): plain, partitioned and
    partitions; not an extension's."""
    return frozenset(_q(str(s), str(t)) for s, t in _catalog(conn,
        "select n.nspname, c.relname from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where c.relkind in ('r', 'p') and {user_ns} and {own}"))


def row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact row count of every user table ("schema.table" -> rows). `only`: a table's own rows,
    not those of inheritance children (which are counted under their own names)."""
    from psycopg import sql

    counts = {}
    for schema, table in _user_tables(conn):
        row = conn.execute(sql.SQL("select count(*) from only {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table))).fetchone()
        counts[_q(schema, table)] = int(row[0]) if row else 0
    return counts


def sequence_positions(conn: psycopg.Connection[Any]) -> list[SequencePosition]:
    """For each sequence owned by a column: its state and the column's max()."""
    from psycopg import sql

    owned = _catalog(conn,
        "select n.nspname, c.relname, tn.nspname, t.relname, a.attname, s.seqincrement "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "join pg_sequence s on s.seqrelid = c.oid "
        "join pg_depend dep on dep.objid = c.oid and dep.classid = 'pg_class'::regclass "
        "  and dep.refclassid = 'pg_class'::regclass and dep.deptype in ('a', 'i') "
        "join pg_class t on t.oid = dep.refobjid "
        "join pg_namespace tn on tn.oid = t.relnamespace "
        "join pg_attribute a on a.attrelid = t.oid and a.attnum = dep.refobjsubid "
        "where c.relkind = 'S' and {user_ns} order by 1, 2").fetchall()
    out = []
    for schema, seq, tschema, table, col, increment in owned:
        state = conn.execute(sql.SQL("select last_value, is_called from {}.{}").format(
            sql.Identifier(schema), sql.Identifier(seq))).fetchone()
        top = conn.execute(sql.SQL("select max({}) from {}.{}").format(
            sql.Identifier(col), sql.Identifier(tschema), sql.Identifier(table))).fetchone()
        assert state is not None and top is not None
        out.append(SequencePosition(
            sequence=_q(schema, seq), column=f"{tschema}.{table}.{col}",
            last_value=int(state[0]), is_called=bool(state[1]), increment=int(increment),
            column_max=None if top[0] is None else int(top[0])))
    return out


def _finding(code: str, message: str, action: str, **evidence: Any) -> Finding:
    return Finding(code, message, action, Severity.ERROR, subject="schema", evidence=evidence)


_RESTORE_LACKS = ("the restored database lacks it: the application would fail where it uses it; "
                  "look for restore errors, or a backup taken from the wrong database")


def compare(expected: Fingerprint, actual: Fingerprint) -> list[Finding]:
    """Findings for every way `actual` (a restore) departs from `expected` (the manifest).

    Objects of a missing table (columns, indexes, constraints) are not reported again: one
    finding per cause. Extra indexes, constraints and sequences are not findings (a newer server
    may add some); an extra table is (the backup is not of the database it claims)."""
    found: list[Finding] = []
    missing_tables = set(expected.tables) - set(actual.tables)
    for table in sorted(missing_tables):
        found.append(_finding("SCHEMA_TABLE_MISSING", f"table {table} is missing",
                              f"table {table} was in the backup's database; {_RESTORE_LACKS}",
                              table=table))
    for table in sorted(set(actual.tables) - set(expected.tables)):
        found.append(_finding(
            "SCHEMA_TABLE_UNEXPECTED", f"table {table} is not in the manifest",
            "the restored database is not the one the manifest describes: check the backup "
            "and manifest belong together", table=table))
    for table in sorted(set(expected.tables) & set(actual.tables)):
        found.extend(_columns(table, expected.tables[table], actual.tables[table]))
    for name, definition in sorted(expected.indexes.items()):
        if _on_missing_table(definition, name, missing_tables, expected):
            continue
        if name not in actual.indexes:
            found.append(_finding("SCHEMA_INDEX_MISSING", f"index {name} is missing",
                                  "queries that rely on it will be slow and a unique index's "
                                  "guarantee is gone; re-create it from the definition",
                                  index=name, definition=definition))
        elif actual.indexes[name] != definition:
            found.append(_finding("SCHEMA_INDEX_MISSING", f"index {name} exists but its "
                                  "definition differs", "re-create it from the manifest's "
                                  "definition", index=name, definition=definition,
                                  actual=actual.indexes[name]))
    for name, con in sorted(expected.constraints.items()):
        if con.table in missing_tables:
            continue
        other = actual.constraints.get(name)
        if other is None or other.definition != con.definition:
            what = "is missing" if other is None else "differs"
            found.append(_finding(
                "SCHEMA_CONSTRAINT_MISSING", f"{con.type} constraint {name} {what}",
                "the data is no longer protected by it (duplicates or orphans may follow); "
                "check the restore log for the ALTER TABLE that failed", constraint=name,
                table=con.table, type=con.type, definition=con.definition))
    for name, seq in sorted(expected.sequences.items()):
        if name not in actual.sequences:
            found.append(_finding("SCHEMA_SEQUENCE_MISSING", f"sequence {name} is missing",
                                  "inserts that use it will fail; re-create it and setval() it "
                                  "past max() of its column", sequence=name,
                                  owned_by=seq.owned_by))
    for ext, version in sorted(expected.extensions.items()):
        if ext not in actual.extensions:
            found.append(_finding(
                "SCHEMA_EXTENSION_MISSING", f"extension {ext} ({version}) is missing",
                "install the extension's package on the restore server (CREATE EXTENSION "
                "failed), then restore again", extension=ext, version=version))
    return found


def _on_missing_table(definition: str, name: str, missing: set[str],
                      fp: Fingerprint) -> bool:
    # pg_indexes gives "CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING …"
    if not missing:
        return False
    on = definition.split(" ON ", 1)[-1].removeprefix("ONLY ").split(" USING ", 1)[0]
    return on.replace('"', "") in missing


def _columns(table: str, want: dict[str, Column], have: dict[str, Column]) -> list[Finding]:
    found = []
    for col in want:
        if col not in have:
            found.append(_finding(
                "SCHEMA_COLUMN_MISSING", f"column {table}.{col} is missing",
                f"the restored table lacks a column the backup had; {_RESTORE_LACKS}",
                table=table, column=col, type=want[col].type))
        elif have[col] != want[col]:
            w, h = want[col], have[col]
            found.append(_finding(
                "SCHEMA_COLUMN_CHANGED", f"column {table}.{col} changed: {_col(w)} -> {_col(h)}",
                "the restored column differs from the backup's (type, NOT NULL or default): "
                "the application may reject or mangle its values", table=table, column=col,
                expected=w.model_dump(), actual=h.model_dump()))
    for col in have:
        if col not in want:
            found.append(_finding(
                "SCHEMA_COLUMN_UNEXPECTED", f"column {table}.{col} is not in the manifest",
                "the restored table has a column the backup's did not: check the backup and "
                "manifest belong together", table=table, column=col, type=have[col].type))
    return found


def _col(c: Column) -> str:
    parts = [c.type, "not null" if c.not_null else "null"]
    if c.default is not None:
        parts.append(f"default {c.default}")
    return " ".join(parts)
