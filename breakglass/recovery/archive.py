"""Archive checks: is this really a pg_dump custom-format archive that restores to the end?

Why two pg_restore runs: `pg_restore --list` reads only the table of contents at the start of
the file, so an archive cut short after its TOC still lists fine. `pg_restore -f /dev/null`
writes the whole restore script, which reads (and decompresses) every data block; a truncated
archive fails with "could not read from input file: end of file", a damaged block with "could
not uncompress data". Neither run connects to a server. An exit code of 0 is not the only
evidence: the TOC entry count is recorded too (DESIGN principle 4).

Why the header is read here before pg_restore sees it: pg_restore answers a damaged version byte
with "unsupported version (1.17) in file header", which reads like "install a newer pg_restore".
The header also names the pg_dump that wrote it, and each pg_dump major writes one archive
version (src/bin/pg_dump/pg_backup_archiver.h: 1.14 from 12, 1.15 from 16, 1.16 from 17), so a
version that its own pg_dump cannot have written — or a header whose fields make no sense — is
a damaged archive (ARCHIVE_DAMAGED), and only a header from a newer pg_dump than any installed
pg_restore is "could not check".

What the table of contents says about the data (`Toc`): each `TABLE` entry (catalog 1259 =
pg_class) has a `TABLE DATA` entry with the same OID when its rows were dumped; `pg_dump
--exclude-table-data`, `--schema-only` or `--no-unlogged-table-data` leave the TABLE entry and
drop the data. A partitioned table never has data of its own (its partitions do): which TABLE
entries are partitioned is read from their CREATE TABLE (`pg_restore --use-list` of just those
entries, no data read), which also gives each table's exact name — `--list` prints
"schema name owner" unquoted, ambiguous for a name with a space.

age (https://age-encryption.org/v1): an encrypted backup starts with the line
`age-encryption.org/v1`. Decryption uses pyrage's `decrypt_io`, which streams between file
objects (64 KiB STREAM chunks), so a large backup is never held in memory.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breakglass.connectors import pgbin, process
from breakglass.errors import CouldNotVerify

AGE_MAGIC = b"age-encryption.org/v1"
PGDMP_MAGIC = b"PGDMP"  # pg_dump custom format (src/bin/pg_dump/pg_backup_archiver.c)

ARCHIVE_UNREADABLE = "ARCHIVE_UNREADABLE"
ARCHIVE_DAMAGED = "ARCHIVE_DAMAGED"
ARCHIVE_TRUNCATED = "ARCHIVE_TRUNCATED"
ARCHIVE_NOT_CHECKED = "ARCHIVE_NOT_CHECKED"
DECRYPT_FAILED = "DECRYPT_FAILED"

# pg_restore messages (C locale) that mean the file ends before the archive does.
_EOF_PATTERNS = ("end of file", "unexpected end", "too short")


def is_age(head: bytes) -> bool:
    return head.startswith(AGE_MAGIC)


@dataclass(frozen=True)
class TocTable:
    name: str  # "schema.table", unquoted
    has_data: bool
    partitioned: bool


@dataclass(frozen=True)
class Toc:
    """What the table of contents says: the database dumped and each table's data."""

    database: str | None
    tables: tuple[TocTable, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tables)

    @property
    def holding_rows(self) -> frozenset[str]:
        """Tables that hold rows of their own (every table but a partitioned parent)."""
        return frozenset(t.name for t in self.tables if not t.partitioned)

    @property
    def without_data(self) -> list[str]:
        """Tables that hold rows but whose rows are not in the archive."""
        return sorted(t.name for t in self.tables if not t.partitioned and not t.has_data)


@dataclass(frozen=True)
class ArchiveCheck:
    """The outcome of reading one archive. `problem` is None when it read to the end, else one
    of ARCHIVE_UNREADABLE, ARCHIVE_DAMAGED, ARCHIVE_TRUNCATED, ARCHIVE_NOT_CHECKED,
    DECRYPT_FAILED. `toc` is set once the table of contents was read."""

    problem: str | None
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    toc: Toc | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _pg_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    first = (errors or lines or ["pg_restore failed without a message"])[0]
    return first.removeprefix("pg_restore: ")


def _classify(stderr: str) -> str:
    """The problem behind a pg_restore failure on a file whose header is sound (see
    header_problem): a newer format than this pg_restore knows, a file that ends early, or
    damage further in (the TOC or a data block)."""
    low = stderr.lower()
    if "unsupported version" in low:
        return ARCHIVE_NOT_CHECKED
    if any(p in low for p in _EOF_PATTERNS):
        return ARCHIVE_TRUNCATED
    return ARCHIVE_DAMAGED


# -- the archive header (src/bin/pg_dump/pg_backup_archiver.c, WriteHead/ReadHead) -------------
HEADER_BYTES = 4096
#: the archive version each pg_dump major writes (pg_backup_archiver.h, K_VERS_*)
_VERSION_WRITTEN = {12: (1, 14), 13: (1, 14), 14: (1, 14), 15: (1, 14), 16: (1, 15),
                    17: (1, 16), 18: (1, 16)}
_NEWEST_KNOWN = max(_VERSION_WRITTEN)
_FORMAT_CUSTOM = 1
_COMPRESSION_ALGORITHMS = range(4)  # none, gzip, lz4, zstd (1.15+)
#: ranges of the creation time's struct tm fields: sec, min, hour, mday, mon, year-1900, isdst
_TM_RANGES = ((0, 61), (0, 59), (0, 23), (1, 31), (0, 11), (0, 400), (-1, 1))
_MAX_HEADER_STR = 1024


@dataclass(frozen=True)
class Header:
    version: tuple[int, int]
    dbname: str
    dumped_by: str  # "18.4", "16.4 (Debian 16.4-1)"

    @property
    def dumped_by_major(self) -> int | None:
        m = re.match(r"(\d+)", self.dumped_by)
        return int(m.group(1)) if m else None


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos
        self.int_size = 4

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("the header ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def int(self) -> int:
        # ReadInt: a sign byte, then int_size bytes little-endian
        sign = self.byte()
        value = sum(self.byte() << (8 * i) for i in range(self.int_size))
        return -value if sign else value

    def str(self) -> str:
        n = self.int()
        if not 0 <= n <= _MAX_HEADER_STR or self.pos + n > len(self.data):
            raise ValueError(f"a string of {n} bytes")
        self.pos += n
        return self.data[self.pos - n:self.pos].decode("utf-8", errors="replace")


def _parse_header(data: bytes, algorithm_byte: bool) -> Header:
    """The header after the magic and version bytes, read with the 1.15+ layout
    (`algorithm_byte`: the compression algorithm as one byte) or the 1.10–1.14 one (the
    compression level as an int). Raises ValueError naming the first field that makes no
    sense."""
    r = _Reader(data, len(PGDMP_MAGIC) + 3)
    r.int_size = r.byte()
    if r.int_size not in (4, 8):
        raise ValueError(f"integer size {r.int_size}")
    if r.byte() not in (4, 8):
        raise ValueError("offset size")
    if r.byte() != _FORMAT_CUSTOM:
        raise ValueError("format byte (not the custom format)")
    if algorithm_byte:
        if r.byte() not in _COMPRESSION_ALGORITHMS:
            raise ValueError("compression algorithm")
    elif not -1 <= r.int() <= 9:
        raise ValueError("compression level")
    for low, high in _TM_RANGES:
        if not low <= r.int() <= high:
            raise ValueError("creation time")
    dbname, _server, dumped_by = r.str(), r.str(), r.str()
    if not re.match(r"\d+(\.|beta|rc|devel)", dumped_by):
        raise ValueError("pg_dump version")
    return Header(version=(data[5], data[6]), dbname=dbname, dumped_by=dumped_by)


def read_header(data: bytes) -> Header | None:
    """The header of a sound custom-format archive starting `data`, else None."""
    if not data.startswith(PGDMP_MAGIC) or header_problem(data) is not None:
        return None
    try:
        return _parse_header(data, (data[5], data[6]) >= (1, 15))
    except ValueError:
        return None


def header_problem(data: bytes) -> str | None:
    """Why the header at the start of `data` is damaged, or None when it is sound (or when it
    is not a custom-format header at all: pg_restore says so itself)."""
    if len(data) < len(PGDMP_MAGIC) + 3:
        return None
    version = (data[5], data[6])
    if data.startswith(PGDMP_MAGIC) and version < (1, 10):
        return None  # before PostgreSQL 9.0 the header had another layout: pg_restore judges
    modern = version >= (1, 15)
    header: Header | None = None
    why = ""
    # The claimed version picks the layout; when it is damaged the other layout may read.
    for algorithm_byte in (modern, not modern):
        try:
            header = _parse_header(data, algorithm_byte)
            break
        except ValueError as exc:
            why = why or str(exc)
    if not data.startswith(PGDMP_MAGIC):
        # A damaged magic: damaged only if the rest is a sound header, else not an archive.
        return "the PGDMP signature is damaged" if header is not None else None
    if header is None:
        return f"the header makes no sense ({why})"
    major = header.dumped_by_major
    written = _VERSION_WRITTEN.get(major) if major is not None else None
    claimed = f"{version[0]}.{version[1]}"
    if written is not None and version != written:
        return (f"the header says archive version {claimed}, but it was written by pg_dump "
                f"{header.dumped_by}, which writes {written[0]}.{written[1]}: the version "
                "bytes are damaged")
    if major is not None and major > _NEWEST_KNOWN and version < _VERSION_WRITTEN[_NEWEST_KNOWN]:
        return (f"the header says archive version {claimed}, older than pg_dump "
                f"{header.dumped_by} can write")
    if data[7] != 0:
        return f"archive revision {data[7]} (always 0)"
    return None


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    # C locale (process.child_env): the messages classified above are pg_restore's
    # untranslated ones.
    return process.run(args, capture_output=True, text=True, check=False)


def check_archive(path: Path, pg_restore: Path | None = None) -> ArchiveCheck:
    """Read the archive at `path` completely with pg_restore (TOC, then every data block)."""
    listed = list_archive(path, pg_restore)
    if not listed.ok:
        return listed
    facts = listed.facts
    full = _run([str(facts["pg_restore"]), "--file", os.devnull, str(path)])
    if full.returncode != 0:
        return ArchiveCheck(_classify(full.stderr),
                            f"pg_restore (reading every data block): {_pg_error(full.stderr)}",
                            facts, listed.toc)
    return ArchiveCheck(None, "read to the end", facts, listed.toc)


def list_archive(path: Path, pg_restore: Path | None = None) -> ArchiveCheck:
    """Read only the table of contents (`pg_restore --list`): cheap proof that `path` is a
    custom-format archive, with its TOC facts (dumped_from, entries). For callers that read the
    data blocks anyway (the restore drill restores them), a second full read would double the
    cost."""
    with path.open("rb") as fh:
        head = fh.read(HEADER_BYTES)
    damage = header_problem(head)
    if damage is not None:
        return ArchiveCheck(ARCHIVE_DAMAGED, f"damaged archive header: {damage}")
    try:
        exe = pg_restore or pgbin.find("pg_restore")
    except CouldNotVerify as exc:
        return ArchiveCheck(ARCHIVE_NOT_CHECKED, str(exc))
    facts: dict[str, Any] = {"pg_restore": str(exe)}
    listing = _run([str(exe), "--list", str(path)])
    if listing.returncode != 0:
        problem = _classify(listing.stderr)
        if problem == ARCHIVE_DAMAGED and not head.startswith(PGDMP_MAGIC):
            return ArchiveCheck(ARCHIVE_UNREADABLE, "pg_restore --list: not a pg_dump "
                                "custom-format archive (no PGDMP header)", facts)
        return ArchiveCheck(problem, f"pg_restore --list: {_pg_error(listing.stderr)}", facts)
    facts.update(_toc_facts(listing.stdout))
    toc = _toc(exe, path, listing.stdout)
    if toc is None:
        return ArchiveCheck(ARCHIVE_DAMAGED, "pg_restore could not print the CREATE TABLE of "
                            "the tables its table of contents lists", facts)
    return ArchiveCheck(None, "table of contents read", facts, toc)


def _toc_facts(listing: str) -> dict[str, Any]:
    """Facts from the `--list` header and entries: evidence that the archive holds data."""
    facts: dict[str, Any] = {}
    for key, pat in (("dumped_from", r"Dumped from database version: (\S+)"),
                     ("dump_format_version", r"Dump Version: (\S+)"),
                     ("database", r";\s+dbname: (.*)$")):
        m = re.search(pat, listing, re.MULTILINE)
        if m:
            facts[key] = m.group(1).strip()
    entries = [ln for ln in listing.splitlines() if ln and not ln.startswith(";")]
    facts["toc_entries"] = len(entries)
    facts["table_data_entries"] = sum(" TABLE DATA " in ln for ln in entries)
    return facts


# "<dump id>; <catalog table oid> <oid> <desc> <schema> <name> <owner>"
_TABLE_LINE = re.compile(r"^(\d+); 1259 (\d+) TABLE (.*)$")
_DATA_LINE = re.compile(r"^\d+; 0 (\d+) TABLE DATA ")
_CREATE_HEADER = re.compile(r"^-- Name: (.*); Type: TABLE; Schema: (.*); Owner: .*$",
                            re.MULTILINE)


def _toc(exe: Path, path: Path, listing: str) -> Toc | None:
    """The tables of the archive and whether each one's data is in it. None when pg_restore
    cannot print the tables' CREATE TABLE (a damaged TOC)."""
    tables: list[tuple[str, str, str]] = []  # (dump id, oid, "schema name owner")
    with_data: set[str] = set()
    for line in listing.splitlines():
        if m := _TABLE_LINE.match(line):
            tables.append((m.group(1), m.group(2), m.group(3)))
        elif m := _DATA_LINE.match(line):
            with_data.add(m.group(1))
    database = _toc_facts(listing).get("database")
    if not tables:
        return Toc(database, ())
    with tempfile.TemporaryDirectory(prefix="breakglass-toc-") as tmp:
        wanted = Path(tmp) / "tables.list"
        wanted.write_text("".join(f"{dump_id};\n" for dump_id, _, _ in tables))
        # Only the CREATE TABLE statements are printed: no data block is read.
        script = _run([str(exe), f"--use-list={wanted}", "--file=-", str(path)])
    if script.returncode != 0:
        return None
    blocks = _CREATE_HEADER.split(script.stdout)[1:]  # [name, schema, text, name, …]
    if len(blocks) != 3 * len(tables):
        return None
    out = []
    for i, (_, oid, _) in enumerate(tables):
        name, schema, text = blocks[3 * i:3 * i + 3]
        out.append(TocTable(f"{schema}.{name}", oid in with_data,
                            "\nPARTITION BY " in text.split(";\n", 1)[0]))
    return Toc(database, tuple(out))


def decrypt_age(src: Path, dst: Path, identities: list[Any]) -> ArchiveCheck | None:
    """Decrypt `src` into `dst` (streaming). None on success, else the problem found."""
    import pyrage

    with src.open("rb") as fin, dst.open("wb") as fout:
        try:
            pyrage.decrypt_io(fin, fout, identities)
        except pyrage.DecryptError as exc:
            msg = str(exc)
            if "no matching keys" in msg.lower():
                return ArchiveCheck(DECRYPT_FAILED, "the configured identity cannot decrypt it "
                                    "(no matching recipient)")
            return ArchiveCheck(ARCHIVE_UNREADABLE, f"age: {msg}")
        except OSError as exc:
            # pyrage reports a failed STREAM chunk (damaged or cut-short payload) as OSError
            return ArchiveCheck(ARCHIVE_UNREADABLE,
                                f"age: {exc} (encrypted data damaged or truncated)")
    return None
