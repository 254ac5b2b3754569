"""Archive checks: is this really a pg_dump custom-format archive that restores to the end?

Why two pg_restore runs: `pg_restore --list` reads only the table of contents at the start of
the file, so an archive cut short after its TOC still lists fine. `pg_restore -f /dev/null`
writes the whole restore script, which reads (and decompresses) every data block; a truncated
archive fails with "could not read from input file: end of file", a damaged block with "could
not uncompress data". Neither run connects to a server. An exit code of 0 is not the only
evidence: the TOC entry count is recorded too (DESIGN principle 4).

age (https://age-encryption.org/v1): an encrypted backup starts with the line
`age-encryption.org/v1`. Decryption uses pyrage's `decrypt_io`, which streams between file
objects (64 KiB STREAM chunks), so a large backup is never held in memory.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breakglass.connectors import pgbin, process
from breakglass.errors import CouldNotVerify

AGE_MAGIC = b"age-encryption.org/v1"
PGDMP_MAGIC = b"PGDMP"  # pg_dump custom format (src/bin/pg_dump/pg_backup_archiver.c)

ARCHIVE_UNREADABLE = "ARCHIVE_UNREADABLE"
ARCHIVE_TRUNCATED = "ARCHIVE_TRUNCATED"
ARCHIVE_NOT_CHECKED = "ARCHIVE_NOT_CHECKED"
DECRYPT_FAILED = "DECRYPT_FAILED"

# pg_restore messages (C locale) that mean the file ends before the archive does.
_EOF_PATTERNS = ("end of file", "unexpected end", "too short")


def is_age(head: bytes) -> bool:
    return head.startswith(AGE_MAGIC)


@dataclass(frozen=True)
class ArchiveCheck:
    """The outcome of reading one archive. `problem` is None when it read to the end, else one
    of ARCHIVE_UNREADABLE, ARCHIVE_TRUNCATED, ARCHIVE_NOT_CHECKED, DECRYPT_FAILED."""

    problem: str | None
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None


def _pg_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    first = (errors or lines or ["pg_restore failed without a message"])[0]
    return first.removeprefix("pg_restore: ")


def _classify(stderr: str) -> str:
    low = stderr.lower()
    if "unsupported version" in low:
        return ARCHIVE_NOT_CHECKED
    if any(p in low for p in _EOF_PATTERNS):
        return ARCHIVE_TRUNCATED
    return ARCHIVE_UNREADABLE


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
                            facts)
    return ArchiveCheck(None, "read to the end", facts)


def list_archive(path: Path, pg_restore: Path | None = None) -> ArchiveCheck:
    """Read only the table of contents (`pg_restore --list`): cheap proof that `path` is a
    custom-format archive, with its TOC facts (dumped_from, entries). For callers that read the
    data blocks anyway (the restore drill restores them), a second full read would double the
    cost."""
    try:
        exe = pg_restore or pgbin.find("pg_restore")
    except CouldNotVerify as exc:
        return ArchiveCheck(ARCHIVE_NOT_CHECKED, str(exc))
    facts: dict[str, Any] = {"pg_restore": str(exe)}
    with path.open("rb") as fh:
        magic = fh.read(len(PGDMP_MAGIC))
    listing = _run([str(exe), "--list", str(path)])
    if listing.returncode != 0:
        problem = _classify(listing.stderr)
        if problem == ARCHIVE_UNREADABLE and magic != PGDMP_MAGIC:
            detail = "not a pg_dump custom-format archive (no PGDMP header)"
        else:
            detail = _pg_error(listing.stderr)
        return ArchiveCheck(problem, f"pg_restore --list: {detail}", facts)
    facts.update(_toc_facts(listing.stdout))
    return ArchiveCheck(None, "table of contents read", facts)


def _toc_facts(listing: str) -> dict[str, Any]:
    """Facts from the `--list` header and entries: evidence that the archive holds data."""
    facts: dict[str, Any] = {}
    for key, pat in (("dumped_from", r"Dumped from database version: (\S+)"),
                     ("dump_format_version", r"Dump Version: (\S+)"),
                     ("database", r"dbname: (\S+)")):
        m = re.search(pat, listing)
        if m:
            facts[key] = m.group(1)
    entries = [ln for ln in listing.splitlines() if ln and not ln.startswith(";")]
    facts["toc_entries"] = len(entries)
    facts["table_data_entries"] = sum(" TABLE DATA " in ln for ln in entries)
    return facts


def parse_identities(text: str) -> list[Any]:
    """age X25519 identities from an identity file's text (comments and blank lines allowed).
    Raises ValueError (never echoing the text) when none is valid."""
    import pyrage

    keys = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("AGE-SECRET-KEY-")]
    if not keys:
        raise ValueError("no AGE-SECRET-KEY-1… line in the configured identity")
    try:
        return [pyrage.x25519.Identity.from_str(k) for k in keys]
    except pyrage.IdentityError:
        raise ValueError("the configured identity is not a valid age X25519 identity") from None


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
