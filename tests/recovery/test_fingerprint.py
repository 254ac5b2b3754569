"""The schema fingerprint (breakglass/recovery/fingerprint.py), its manifest form, and the
PostgreSQL connector (breakglass/connectors/postgres.py), against a real PostgreSQL.

`compare` is proved on real DDL: a database is captured, changed the way a broken restore
changes it (a table, a column, an index, a constraint gone; a type changed), captured again."""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from breakglass.connectors import postgres
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.recovery import fingerprint
from breakglass.recovery.fingerprint import Column, Fingerprint, SequenceInfo
from breakglass.recovery.manifest import Manifest, parse_manifest

SCHEMA = '''
create table tenants (id serial primary key, name text not null unique);
create table users (
    id bigserial primary key,
    tenant_id int not null references tenants (id),
    email varchar(200) not null,
    score int default 0,
    constraint users_email_at check (email like '%@%'));
create index users_tenant_idx on users (tenant_id);
create table "Odd ""Name""" (v int);
insert into tenants (name) select 't' || g from generate_series(1, 5) g;
insert into users (tenant_id, email) select 1 + g % 5, g || '@x.test' from generate_series(1, 40) g;
insert into "Odd ""Name""" select generate_series(1, 3);
'''

_names = itertools.count()


@pytest.fixture
def db(pg_server: Any) -> Callable[..., str]:
    """A fresh database with SCHEMA; returns its DSN."""

    def make() -> str:
        dsn = str(pg_server.create_database(f"fp_{os.getpid()}_{next(_names)}"))
        with psycopg.connect(dsn) as conn:
            conn.execute(SCHEMA)
        return dsn

    return make


def capture(dsn: str, ddl: str = "") -> Fingerprint:
    with psycopg.connect(dsn) as conn:
        if ddl:
            conn.execute(ddl)
        return fingerprint.capture(conn)


def codes(found: list[Any]) -> list[str]:
    return [f.code for f in found]


# -- capture ----------------------------------------------------------------------------------
def test_capture_lists_user_tables_only(db: Callable[..., str]) -> None:
    fp = capture(db())
    assert set(fp.tables) == {"public.tenants", "public.users", 'public.Odd "Name"'}


def test_capture_records_column_types_nullability_and_defaults(db: Callable[..., str]) -> None:
    users = capture(db()).tables["public.users"]
    assert users["email"] == Column(type="character varying(200)", not_null=True)
    assert users["score"].default == "0" and not users["score"].not_null
    assert users["id"].default == "nextval('users_id_seq'::regclass)"


def test_capture_records_indexes_constraints_and_owned_sequences(
        db: Callable[..., str]) -> None:
    fp = capture(db())
    assert "USING btree (tenant_id)" in fp.indexes["public.users_tenant_idx"]
    fk = fp.constraints["public.users.users_tenant_id_fkey"]
    assert (fk.table, fk.type) == ("public.users", "foreign key")
    assert "REFERENCES tenants(id)" in fk.definition
    assert fp.constraints["public.tenants.tenants_pkey"].type == "primary key"
    assert fp.sequences["public.users_id_seq"] == SequenceInfo(owned_by="public.users.id")
    assert fp.extensions["plpgsql"]


def test_equal_schemas_have_equal_digests(db: Callable[..., str]) -> None:
    assert capture(db()).digest == capture(db()).digest


def test_row_counts_are_exact_and_quote_identifiers(db: Callable[..., str]) -> None:
    with psycopg.connect(db()) as conn:
        counts = fingerprint.row_counts(conn)
    assert counts == {"public.tenants": 5, "public.users": 40, 'public.Odd "Name"': 3}


def test_sequence_reset_below_max_id_is_behind(db: Callable[..., str]) -> None:
    with psycopg.connect(db()) as conn:
        conn.execute("select setval('users_id_seq', 10)")
        pos = {p.sequence: p for p in fingerprint.sequence_positions(conn)}
    users = pos["public.users_id_seq"]
    assert (users.column, users.column_max, users.next_value) == ("public.users.id", 40, 11)
    assert users.behind
    assert not pos["public.tenants_id_seq"].behind


# -- compare: each way a restore can differ ---------------------------------------------------
def test_identical_schemas_compare_clean(db: Callable[..., str]) -> None:
    assert fingerprint.compare(capture(db()), capture(db())) == []


def test_dropped_table_is_one_SCHEMA_TABLE_MISSING(db: Callable[..., str]) -> None:
    want = capture(db())
    have = capture(db(), "drop table users")
    found = fingerprint.compare(want, have)
    # its columns, index, constraints and sequence... the sequence goes with the table too
    assert codes(found) == ["SCHEMA_TABLE_MISSING", "SCHEMA_SEQUENCE_MISSING"]
    assert found[0].evidence["table"] == "public.users"


def test_dropped_column_is_SCHEMA_COLUMN_MISSING(db: Callable[..., str]) -> None:
    found = fingerprint.compare(capture(db()), capture(db(), "alter table users drop score"))
    assert codes(found) == ["SCHEMA_COLUMN_MISSING"]
    assert found[0].evidence == {"table": "public.users", "column": "score", "type": "integer"}


def test_changed_type_is_SCHEMA_COLUMN_CHANGED(db: Callable[..., str]) -> None:
    found = fingerprint.compare(capture(db()),
                                capture(db(), "alter table users alter score type bigint"))
    assert codes(found) == ["SCHEMA_COLUMN_CHANGED"]
    assert "integer" in found[0].message and "bigint" in found[0].message


def test_missing_index_is_SCHEMA_INDEX_MISSING(db: Callable[..., str]) -> None:
    found = fingerprint.compare(capture(db()), capture(db(), "drop index users_tenant_idx"))
    assert codes(found) == ["SCHEMA_INDEX_MISSING"]
    assert found[0].evidence["index"] == "public.users_tenant_idx"


def test_missing_constraint_is_SCHEMA_CONSTRAINT_MISSING(db: Callable[..., str]) -> None:
    found = fingerprint.compare(capture(db()),
                                capture(db(), "alter table users drop constraint users_email_at"))
    assert codes(found) == ["SCHEMA_CONSTRAINT_MISSING"]
    assert found[0].evidence["type"] == "check"


def test_extra_table_is_SCHEMA_TABLE_UNEXPECTED(db: Callable[..., str]) -> None:
    found = fingerprint.compare(capture(db()), capture(db(), "create table stray (x int)"))
    assert codes(found) == ["SCHEMA_TABLE_UNEXPECTED"]


def test_extra_column_is_SCHEMA_COLUMN_UNEXPECTED(db: Callable[..., str]) -> None:
    found = fingerprint.compare(capture(db()), capture(db(), "alter table users add x int"))
    assert codes(found) == ["SCHEMA_COLUMN_UNEXPECTED"]


def test_missing_sequence_and_extension_are_reported() -> None:
    want = Fingerprint(sequences={"public.s": SequenceInfo()}, extensions={"vector": "0.8.0"})
    found = fingerprint.compare(want, Fingerprint())
    assert codes(found) == ["SCHEMA_SEQUENCE_MISSING", "SCHEMA_EXTENSION_MISSING"]
    assert all(f.severity == "error" and f.action for f in found)


# -- the manifest carries it ------------------------------------------------------------------
def test_manifest_round_trips_a_fingerprint(db: Callable[..., str]) -> None:
    fp = capture(db())
    now = datetime.now(UTC)
    m = Manifest(sha256="a" * 64, size=1, created_at=now, started_at=now, database="d",
                 server_version="16.4", schema=fp)
    again = parse_manifest(m.to_json().encode(), "k.dump")
    assert again.schema_ == fp and again.format == 2


def test_old_manifest_with_a_string_schema_still_parses() -> None:
    old = {"sha256": "b" * 64, "size": 3, "created_at": "2024-05-01T03:00:00Z",
           "database": "shop", "server_version": "16", "schema": "sha256:abc",
           "tables": {"users": 3}}
    m = parse_manifest(json.dumps(old).encode(), "k.dump")
    assert m.schema_ is None and m.format == 1 and m.tables == {"users": 3}
    assert m.dump_sha256 is None and m.started_at is None


# -- the connector ----------------------------------------------------------------------------
def test_libpq_env_puts_the_password_in_a_private_file_removed_after(pg_server: Any) -> None:
    with postgres.libpq_env(pg_server.dsn()) as env:
        passfile = env["PGPASSFILE"]
        assert stat.S_IMODE(os.stat(passfile).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(passfile)).st_mode) == 0o700
        assert pg_server.password not in json.dumps(env)
        assert "PGPASSWORD" not in env
        out = subprocess.run([str(pg_server.bin_dir / "psql"), "-Atc", "select 41 + 1"],
                             env=env, capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "42", out.stderr
    assert not os.path.exists(passfile) and not os.path.exists(os.path.dirname(passfile))


def test_libpq_env_reads_key_value_dsns() -> None:
    with postgres.libpq_env("host=db.internal port=6432 dbname=app user=svc "
                            "sslmode=verify-full") as env:
        assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"], env["PGUSER"],
                env["PGSSLMODE"]) == ("db.internal", "6432", "app", "svc", "verify-full")
        assert "PGPASSFILE" not in env


def test_a_malformed_dsn_is_a_usage_error_that_does_not_echo_it() -> None:
    with pytest.raises(UsageError) as err, postgres.libpq_env("host=x password='s3cr3t"):
        pass
    assert "s3cr3t" not in str(err.value)


def test_wrong_password_could_not_verify_without_the_password(pg_server: Any) -> None:
    dsn = pg_server.dsn().replace(pg_server.password, "wrong-pw-123")
    with pytest.raises(CouldNotVerify) as err:
        postgres.connect(dsn)
    assert err.value.code == "DATABASE_UNREACHABLE"
    assert "password authentication failed" in str(err.value)
    assert "wrong-pw-123" not in str(err.value) and "\n" not in str(err.value)


def test_server_version_gives_the_major(pg_server: Any) -> None:
    with postgres.connect(pg_server.dsn()) as conn:
        full, major = postgres.server_version(conn)
    assert major == pg_server.major and full.startswith(f"{pg_server.major}.")


def test_host_port_resolves_names_and_keeps_sockets() -> None:
    assert ("127.0.0.1", 5433) in postgres.host_port("postgresql://u@localhost:5433/db")
    assert postgres.host_port("host=/run/pg port=5999 dbname=x") == [("unix:/run/pg", 5999)]
    assert postgres.host_port("host=127.0.0.1,/tmp port=1,2") == [("127.0.0.1", 1),
                                                                  ("unix:/tmp", 2)]


def test_host_port_of_an_unresolvable_name_could_not_verify() -> None:
    with pytest.raises(CouldNotVerify):
        postgres.host_port("postgresql://u@no-such-host.invalid/db")
