"""Test backup stores with one API, so a test runs unchanged on file:// and on moto S3."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

AGE_MAGIC = b"age-encryption.org/v1"


def manifest_bytes(data: bytes, **overrides: Any) -> bytes:
    """A manifest of `data`; its database is the one the archive's header names (pass
    database= for an encrypted archive)."""
    from breakglass.recovery.archive import read_header

    header = read_header(data)
    doc = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
           "created_at": datetime.now(UTC).isoformat(),
           "database": header.dbname if header else "shop", "server_version": "16",
           **overrides}
    return json.dumps(doc).encode()


class StoreUnderTest(Protocol):
    url: str
    kind: str

    def put(self, key: str, data: bytes, *, manifest: bytes | None = None,
            **extra: Any) -> None: ...

    def config_toml(self) -> str: ...

    def make_stale(self) -> str:
        """Make every backup older than the returned max_age."""
        ...


@dataclass
class FileTestStore:
    root: Path
    kind: str = "file"

    @property
    def url(self) -> str:
        return f"file://{self.root}/"

    def put(self, key: str, data: bytes, *, manifest: bytes | None = None,
            **extra: Any) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if manifest is not None:
            Path(str(path) + ".manifest.json").write_bytes(manifest)

    def set_age(self, key: str, seconds: float) -> None:
        """Make `key` (and its manifest's start time, if any) `seconds` old."""
        t = time.time() - seconds
        os.utime(self.root / key, (t, t))
        side = Path(str(self.root / key) + ".manifest.json")
        if side.exists():  # a manifest made after its upload would be implausible
            doc = json.loads(side.read_bytes())
            made = datetime.fromtimestamp(t - 60, UTC).isoformat()
            doc.update(created_at=made, **({"started_at": made} if "started_at" in doc else {}))
            side.write_text(json.dumps(doc))

    def config_toml(self) -> str:
        return ""

    def make_stale(self) -> str:
        for p in self.root.rglob("*.dump"):
            self.set_age(p.relative_to(self.root).as_posix(), 3 * 86400)
        for p in self.root.rglob("*.dump.age"):
            self.set_age(p.relative_to(self.root).as_posix(), 3 * 86400)
        return "26h"


@dataclass
class S3TestStore:
    server: Any  # tests.servers.moto.MotoServer
    bucket: str = "acme-backups"
    prefix: str = "pg/"
    kind: str = "s3"

    def __post_init__(self) -> None:
        self.s3 = self.server.client("s3")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def create(self) -> S3TestStore:
        self.s3.create_bucket(Bucket=self.bucket)
        return self

    def put(self, key: str, data: bytes, *, manifest: bytes | None = None,
            **extra: Any) -> None:
        # Full-object SHA-256 checksums, as `backup.take` uploads them.
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data,
                           ChecksumAlgorithm="SHA256", **extra)
        if manifest is not None:
            self.s3.put_object(Bucket=self.bucket, Key=self.prefix + key + ".manifest.json",
                               Body=manifest)

    def config_toml(self) -> str:
        return f'[aws]\nendpoint_url = "{self.server.endpoint_url}"\nregion = "us-east-1"\n'

    def make_stale(self) -> str:
        # S3 LastModified cannot be set: instead the RPO target is 1s and time passes.
        time.sleep(2.1)
        return "1s"

    def tamper(self, key: str, data: bytes) -> None:
        """Replace the stored bytes *inside* moto without a new upload: what bit rot or a
        storage-side change looks like. The ChecksumSHA256 recorded at upload stays."""
        from moto.s3.models import s3_backends

        backend = s3_backends["123456789012"]["aws"]
        obj = backend.buckets[self.bucket].keys[self.prefix + key]
        obj.value = data
