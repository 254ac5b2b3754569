"""The backup store interface (one small interface, one module per implementation — pip-audit's
shape) and the values it returns.

A backup is an object whose name ends in `.dump` (pg_dump -Fc) or `.dump.age` (the same, age
encrypted); its manifest, when present, is `<name>.manifest.json` beside it. A store that cannot
be read (missing directory or bucket, connection refused, access denied) raises
CouldNotVerify(code="STORE_UNREACHABLE"): "could not look" is never "no backups".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO, Any

from breakglass.errors import CouldNotVerify
from breakglass.recovery.manifest import Manifest

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


class BackupStore(ABC):
    """Read-only view of one backup location."""

    #: the store URL as configured (file:///… or s3://bucket/prefix/), for messages and evidence
    url: str

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
