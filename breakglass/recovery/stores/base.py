"""The backup store interface (one small interface, one module per implementation — pip-audit's
shape) and the values it returns.

A backup is an object whose name ends in `.dump` (pg_dump -Fc) or `.dump.age` (the same, age
encrypted); its manifest, when present, is `<name>.manifest.json` beside it. A store that cannot
be read (missing directory or bucket, connection refused, access denied) raises
CouldNotVerify(code="STORE_UNREACHABLE"): "could not look" is never "no backups".

Writing (backup.take): `begin(key)` returns an Upload whose bytes become visible under `key` only
at `commit()` — a temp name renamed on a filesystem, a multipart upload completed last on S3 — so
a run killed half-way never leaves something that looks like a backup. `put_manifest` is called
after the commit; `discard_partial` removes what a killed upload left behind.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import SplitResult

from breakglass.errors import CouldNotVerify
from breakglass.recovery.manifest import Manifest

if TYPE_CHECKING:
    from breakglass.connectors.aws import AwsSettings

BACKUP_SUFFIXES = (".dump", ".dump.age")
STORE_UNREACHABLE = "STORE_UNREACHABLE"


def is_backup_name(key: str) -> bool:
    return key.endswith(BACKUP_SUFFIXES)


def unreachable(message: str, action: str) -> CouldNotVerify:
    return CouldNotVerify(message, code=STORE_UNREACHABLE, action=action)


@dataclass(frozen=True)
class BackupObject:
    key: str  # relative to the store's root/prefix, e.g. "main-20240501T0300Z.dump"
    size: int
    modified: datetime  # timezone-aware, UTC
    etag: str | None = None
    #: full-object SHA-256 the store vouches for (hex), when it keeps one (S3 ChecksumSHA256 of
    #: type FULL_OBJECT); a composite (multipart) checksum is not a hash of the bytes: None
    checksum_sha256: str | None = None
    #: server-side encryption as the store reports it ("AES256", "aws:kms", …); None = none/unknown
    server_side_encryption: str | None = None
    #: True when the listing already included the details above (S3 needs a HEAD per object)
    detailed: bool = True

    @property
    def age_encrypted_name(self) -> bool:
        return self.key.endswith(".age")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["modified"] = self.modified.isoformat()
        return d


class Upload(ABC):
    """One backup being written. Use as a context manager: leaving the block by an exception
    (or without commit) aborts, so nothing half-written is ever committed."""

    key: str
    #: bytes written so far
    written: int = 0

    @abstractmethod
    def write(self, data: bytes) -> int:
        """Append `data`; returns len(data) (file-like, so it can be a pyrage output)."""

    @abstractmethod
    def commit(self) -> BackupObject:
        """Make the object visible under `key`, atomically; returns its details."""

    @abstractmethod
    def abort(self) -> None:
        """Discard everything written (idempotent)."""

    def flush(self) -> None:  # noqa: B027 (file-like: writers such as pyrage call it)
        """Nothing to do: bytes are made durable at commit."""

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None or not self.committed:
            self.abort()

    @property
    @abstractmethod
    def committed(self) -> bool: ...


class BackupStore(ABC):
    """One backup location: read API (backup.verify, the drill) and write API (backup.take).

    Each implementation is self-describing: the URL scheme it answers (`scheme`), an example URL
    and a summary for the docs, whether it needs AWS credentials, how a URL of its scheme can be
    wrong (`url_problem`, checked when the config loads) and how it opens one (`from_url`).
    breakglass/recovery/stores/__init__.py registers them; nothing else names a scheme."""

    scheme: ClassVar[str]
    #: a URL of this scheme, as the docs and error messages show it
    example: ClassVar[str]
    summary: ClassVar[str]
    uses_aws: ClassVar[bool] = False
    #: the store encrypts what it keeps itself (encryption = "sse-s3" / "sse-kms")
    server_side_encryption: ClassVar[bool] = False

    #: the store URL as configured (file:///… or s3://bucket/prefix/), for messages and evidence
    url: str

    @classmethod
    @abstractmethod
    def url_problem(cls, parsed: SplitResult) -> str | None:
        """What is wrong with a URL of this scheme, one line (None: nothing)."""

    @classmethod
    @abstractmethod
    def from_url(cls, url: str, parsed: SplitResult,
                 aws_settings: AwsSettings | None) -> BackupStore:
        """The store of a URL `url_problem` accepted. Nothing is contacted yet."""

    @abstractmethod
    def list_backups(self) -> list[BackupObject]:
        """Every backup object, oldest first."""

    @abstractmethod
    def stat(self, key: str) -> BackupObject:
        """Full details of one backup (S3: a HEAD with checksum mode enabled)."""

    @abstractmethod
    def open(self, key: str) -> AbstractContextManager[IO[bytes]]:
        """A streaming reader of the object's bytes (never loaded whole into memory)."""

    @abstractmethod
    def read_head(self, key: str, n: int) -> bytes:
        """The first `n` bytes of the object (a ranged GET on S3)."""

    @abstractmethod
    def read_manifest(self, key: str) -> Manifest | None:
        """The manifest beside `key`, None when there is none. Raises ManifestInvalid."""

    # -- write API (backup.take) ---------------------------------------------------------
    @abstractmethod
    def begin(self, key: str, encryption: str = "none") -> Upload:
        """Start writing backup `key`. `encryption` ("sse-s3", "sse-kms") asks an S3 store for
        server-side encryption; other stores ignore it (age is applied before the bytes
        arrive here)."""

    @abstractmethod
    def put_manifest(self, key: str, manifest: Manifest) -> None:
        """Write the manifest of backup `key` (atomically; after the backup is committed)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete backup `key` and its manifest; a missing one is not an error (idempotent)."""

    @abstractmethod
    def discard_partial(self, key: str) -> int:
        """Remove what an interrupted upload of `key` left (a temp file, an incomplete multipart
        upload); returns how many were removed."""

    @abstractmethod
    def partials(self, key: str) -> int:
        """How many interrupted uploads of `key` exist (read-only; for plans)."""

    def download(self, key: str, dest: Path,
                 on_bytes: Callable[[int], None] | None = None) -> tuple[str, int]:
        """Stream backup `key` into `dest` (created 0600, must not exist), hashing on the way.
        Returns (hex sha256, size). Never holds the object in memory. `on_bytes` is told the
        bytes received so far after each chunk (progress displays)."""
        digest = hashlib.sha256()
        size = 0
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, self.open(key) as src:
            for chunk in iter_chunks(src):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(size)
        return digest.hexdigest(), size

    def exists(self, key: str) -> BackupObject | None:
        """The backup `key` if it is there (committed), else None."""
        return next((o for o in self.list_backups() if o.key == key), None)

    def retention_policy_days(self) -> int | None:
        """Days after which the store itself deletes a backup (S3 lifecycle), None if never."""
        return None

    def default_encryption(self) -> str | None:
        """The store's default server-side encryption (S3 bucket encryption), None if none."""
        return None


def iter_chunks(stream: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk
