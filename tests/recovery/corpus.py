"""A corpus of damaged and wrong backups, each made with a real pg_dump against the test
PostgreSQL, with the finding codes that must catch it. Every case must fail `backup.verify` and
`drill.restore` (exit 1): a pass is a false pass. The fault bench reuses it (`build`).

The configured database (`Databases.shop`) is a small shop: users, orders, sessions (with
rows). Wrong backups are made from it (one table's rows left out, the table left out, schema
only, data only, header bytes flipped), from another database of the same server
(`Databases.other`), and from a database with the same name but other tables on another server
(`Databases.twin`: a staging box of another app). Lying manifests are the shop's real manifest
with one field changed and the checksum made to match, so that only the judgement of the
manifest can catch them.

Usage::

    made = Made(Databases.create(pg_server, pg18_server, prefix="corpus"))
    for case in build(made):
        store.put(KEY, case.data, manifest=case.manifest)
        ...  # run backup.verify / drill.restore; a failing code must be in case.codes
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import psycopg

from breakglass.connectors.postgres import server_version
from breakglass.recovery import fingerprint
from breakglass.recovery.manifest import Manifest

SHOP_SCHEMA = """
create table users (id serial primary key, email text not null unique);
create table orders (id serial primary key, user_id int references users, total numeric(10,2));
create table sessions (id text primary key, user_id int references users, data text);
insert into users (email) select 'u' || g || '@example.test' from generate_series(1, 500) g;
insert into orders (user_id, total) select 1 + g % 500, g * 1.5 from generate_series(1, 800) g;
insert into sessions select md5(g::text), 1 + g % 500, 'x' from generate_series(1, 300) g;
"""
OTHER_SCHEMA = """
create table invoices (id serial primary key, number text not null, total numeric(10,2));
create table payments (id serial primary key, invoice_id int references invoices);
insert into invoices (number, total) select 'I' || g, g from generate_series(1, 200) g;
insert into payments (invoice_id) select g from generate_series(1, 200) g;
"""
TWIN_SCHEMA = """
create table accounts (id serial primary key, name text);
create table ledger (id serial primary key, account_id int references accounts, amount int);
create table users (id serial primary key, email text);
insert into accounts (name) select 'a' || g from generate_series(1, 50) g;
"""


@dataclass(frozen=True)
class Database:
    server: Any  # tests.servers.postgres.PostgresServer
    name: str
    dsn: str

    def dump(self, *args: str) -> bytes:
        """pg_dump -Fc of this database (the password goes by env, never argv)."""
        out = subprocess.run([str(self.server.bin_dir / "pg_dump"), "-Fc", *args, "-d",
                              self.name], env={**os.environ, **self.server.env()},
                             capture_output=True, check=True)
        return out.stdout

    def manifest(self, data: bytes, **lies: Any) -> bytes:
        """The manifest `backup.take` would write for `data` dumped from this database now,
        with `lies` (fields replaced) on top; sha256 and size always match `data`."""
        with psycopg.connect(self.dsn) as conn:
            version, major = server_version(conn)
            counts = fingerprint.row_counts(conn)
            schema = fingerprint.capture(conn)
        started = datetime.now(UTC) - timedelta(seconds=2)
        doc = Manifest(sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                       created_at=started, started_at=started, finished_at=started,
                       database=self.name, server_version=version, server_major=major,
                       encryption="none", tables=counts,
                       schema=schema).model_dump(mode="json", by_alias=True, exclude_none=True)
        doc.update(lies)
        return json.dumps(doc).encode()


@dataclass(frozen=True)
class Databases:
    shop: Database  # the configured one
    other: Database  # another database on the same server
    twin: Database  # the same name as shop, other tables, on another server

    @classmethod
    def create(cls, server: Any, other_server: Any, prefix: str) -> Databases:
        def make(srv: Any, name: str, ddl: str) -> Database:
            dsn = srv.create_database(name)
            with psycopg.connect(dsn) as conn:
                conn.execute(ddl)
            return Database(srv, name, dsn)

        shop = f"{prefix}_shop"
        return cls(make(server, shop, SHOP_SCHEMA),
                   make(server, f"{prefix}_billing", OTHER_SCHEMA),
                   make(other_server, shop, TWIN_SCHEMA))


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    manifest: bytes | None
    #: a failing finding with one of these codes proves the case was caught
    codes: frozenset[str]
    #: True when catching it needs the configured database's table list (production reachable,
    #: or an earlier good manifest in the store)
    needs_tables: bool = False


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    return data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1:]


def restamp(manifest: bytes, data: bytes) -> bytes:
    """`manifest` with sha256/size of `data`: a changed backup whose checksum still matches."""
    doc = json.loads(manifest)
    doc.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return json.dumps(doc).encode()


class Made:
    """The dumps and manifests the cases are made of, each made once."""

    def __init__(self, dbs: Databases) -> None:
        self.dbs = dbs

    @cached_property
    def whole(self) -> bytes:
        return self.dbs.shop.dump()

    @cached_property
    def real(self) -> bytes:
        """The shop's true manifest of `whole`."""
        return self.dbs.shop.manifest(self.whole)

    @cached_property
    def other(self) -> bytes:
        return self.dbs.other.dump()

    @cached_property
    def twin(self) -> bytes:
        return self.dbs.twin.dump()

    @cached_property
    def no_sessions_data(self) -> bytes:
        return self.dbs.shop.dump("--exclude-table-data=sessions")

    @cached_property
    def no_sessions(self) -> bytes:
        return self.dbs.shop.dump("--exclude-table=sessions")

    def lying(self, **lies: Any) -> tuple[bytes, bytes]:
        """The whole dump with the shop's manifest changed by `lies`, checksum matching."""
        return self.whole, restamp(self.dbs.shop.manifest(self.whole, **lies), self.whole)

    def restamped(self, data: bytes) -> tuple[bytes, bytes]:
        return data, restamp(self.real, data)


@dataclass(frozen=True)
class Spec:
    name: str
    make: Callable[[Made], tuple[bytes, bytes | None]]
    codes: frozenset[str]
    needs_tables: bool = False


_WRONG = frozenset({"ARCHIVE_WRONG_DATABASE"})
_DATA_MISSING = frozenset({"TABLE_DATA_MISSING"})
_DAMAGED = frozenset({"ARCHIVE_DAMAGED"})
_LIE = frozenset({"MANIFEST_IMPLAUSIBLE", "MANIFEST_MISMATCH"})
_FUTURE = "2030-01-01T00:00:00+00:00"
# header offsets (pg_backup_archiver.c WriteHead): 0-4 "PGDMP", 5 vmaj, 6 vmin, 7 vrev,
# 8 intSize, 9 offSize, 10 format
SPECS = (
    # -- another database stored under this name ----------------------------------------
    Spec("other_database_no_manifest", lambda m: (m.other, None), _WRONG),
    Spec("other_database_own_manifest",
         lambda m: (m.other, m.dbs.other.manifest(m.other)), _WRONG),
    Spec("other_database_this_manifest_restamped", lambda m: m.restamped(m.other),
         _WRONG | _LIE),
    Spec("other_database_this_manifest", lambda m: (m.other, m.real),
         _WRONG | {"CHECKSUM_MISMATCH", "ARCHIVE_TRUNCATED"}),
    Spec("same_name_other_tables_no_manifest", lambda m: (m.twin, None), _WRONG,
         needs_tables=True),
    Spec("same_name_other_tables_own_manifest",
         lambda m: (m.twin, m.dbs.twin.manifest(m.twin)), _WRONG, needs_tables=True),
    # -- one table's rows, or the table, left out ----------------------------------------
    Spec("table_data_excluded_no_manifest", lambda m: (m.no_sessions_data, None),
         _DATA_MISSING),
    Spec("table_data_excluded_manifest_restamped", lambda m: m.restamped(m.no_sessions_data),
         _DATA_MISSING),
    Spec("table_data_excluded_own_manifest",
         lambda m: (m.no_sessions_data, m.dbs.shop.manifest(m.no_sessions_data)),
         _DATA_MISSING),
    Spec("table_excluded_no_manifest", lambda m: (m.no_sessions, None),
         frozenset({"TABLE_MISSING"}), needs_tables=True),
    Spec("table_excluded_manifest_restamped", lambda m: m.restamped(m.no_sessions),
         frozenset({"TABLE_MISSING", "MANIFEST_MISMATCH"})),
    Spec("schema_only", lambda m: (m.dbs.shop.dump("--schema-only"), None), _DATA_MISSING),
    Spec("data_only", lambda m: (m.dbs.shop.dump("--data-only"), None),
         frozenset({"ARCHIVE_EMPTY"})),
    # -- damaged headers: the checksum matches (restamped), the header does not -----------
    Spec("version_byte_flipped", lambda m: m.restamped(flip(m.whole, 6)), _DAMAGED),
    Spec("version_byte_flipped_no_manifest", lambda m: (flip(m.whole, 6), None), _DAMAGED),
    Spec("version_high_bit_flipped", lambda m: (flip(m.whole, 6, 0x10), None), _DAMAGED),
    Spec("revision_byte_flipped", lambda m: (flip(m.whole, 7), None), _DAMAGED),
    Spec("int_size_flipped", lambda m: (flip(m.whole, 8, 0x02), None), _DAMAGED),
    Spec("format_byte_flipped", lambda m: (flip(m.whole, 10, 0x02), None), _DAMAGED),
    Spec("signature_flipped", lambda m: (flip(m.whole, 0, 0x02), None),
         _DAMAGED | {"ARCHIVE_UNREADABLE"}),
    # -- lying manifests over a whole, real dump ------------------------------------------
    Spec("manifest_no_tables", lambda m: m.lying(tables={}), _LIE),
    Spec("manifest_other_database_name", lambda m: m.lying(database=m.dbs.other.name), _LIE),
    Spec("manifest_from_the_future", lambda m: m.lying(
        created_at=_FUTURE, started_at=_FUTURE, finished_at=_FUTURE), _LIE),
    # -- the classic damage -----------------------------------------------------------------
    Spec("truncated_no_manifest", lambda m: (m.whole[: len(m.whole) * 9 // 10], None),
         frozenset({"ARCHIVE_TRUNCATED"})),
    Spec("bit_flipped_mid", lambda m: (flip(m.whole, len(m.whole) // 2), m.real),
         frozenset({"CHECKSUM_MISMATCH"})),
    Spec("plain_sql_text", lambda m: (b"--\n-- PostgreSQL database dump\n--\n" * 50, None),
         frozenset({"ARCHIVE_UNREADABLE"})),
    Spec("empty_file", lambda m: (b"", None), frozenset({"ARCHIVE_EMPTY", "ARCHIVE_TRUNCATED"})),
)
NAMES = tuple(s.name for s in SPECS)


def good(made: Made) -> Case:
    """The control: a whole dump of the configured database with its manifest (must pass)."""
    return Case("good", made.whole, made.real, frozenset())


def build(made: Made, names: tuple[str, ...] = NAMES) -> list[Case]:
    """The cases named (all by default)."""
    return [Case(s.name, *s.make(made), s.codes, s.needs_tables) for s in SPECS
            if s.name in names]
