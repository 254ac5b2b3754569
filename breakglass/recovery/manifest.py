"""The manifest written beside each backup: `<name>.manifest.json`.

`backup.take` writes it (after the backup object is committed, so a manifest never describes a
backup that is not there); `backup.verify` and the restore drill read it. `sha256` and `size`
describe the object *as stored* (after age encryption, if any), so a verifier without the
decryption identity can still prove the bytes are the ones written; `dump_sha256`/`dump_size`
describe the plain pg_dump archive inside. Unknown keys are ignored so that a newer writer does
not break an older verifier.

Format 2 (backup.take) adds server_major, started_at/finished_at, dump_sha256/dump_size,
encryption, pg_dump_version and a structured `schema` (breakglass.recovery.fingerprint). Older
manifests (the demo's, hand-written ones) still parse: their missing fields are None, and a
`schema` that was a string is read as None.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from breakglass.errors import BreakglassError
from breakglass.recovery.fingerprint import Fingerprint
from breakglass.text import error_line

MANIFEST_SUFFIX = ".manifest.json"
#: how far a manifest's times may run ahead of the store's clock: the machine that took the
#: backup and the store (S3, a NAS) keep their own clocks, and NTP keeps them within seconds
CLOCK_SKEW = timedelta(minutes=5)


class ManifestInvalid(BreakglassError):
    """A manifest exists but cannot be parsed; the verifier reports it (MANIFEST_INVALID)."""


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    format: int = 2
    sha256: str = Field(description="hex sha256 of the stored object")
    size: int = Field(ge=0, description="bytes of the stored object")
    #: when the dump started; kept for readers of format 1 (= started_at)
    created_at: datetime
    database: str
    server_version: str
    server_major: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: hex sha256 and size of the plain pg_dump -Fc archive (before encryption)
    dump_sha256: str | None = None
    dump_size: int | None = Field(default=None, ge=0)
    #: "age" | "sse-s3" | "sse-kms" | "none" (None: not recorded, format 1)
    encryption: str | None = None
    pg_dump_version: str | None = None
    #: "schema.table" -> exact row count in the dumped snapshot (the drill compares against it)
    tables: dict[str, int] | None = None
    #: the structure at dump time (tables, columns, indexes, constraints, sequences, extensions)
    schema_: Fingerprint | None = Field(default=None, alias="schema")

    @model_validator(mode="before")
    @classmethod
    def _compat(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # format 1 kept a free-form string (a digest or listing) under "schema"
            if isinstance(data.get("schema"), str):
                data = {**data, "schema": None}
            if "created_at" not in data and data.get("started_at") is not None:
                data = {**data, "created_at": data["started_at"]}
        return data

    @field_validator("created_at", "started_at", "finished_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        # a hand-written time without an offset is read as UTC (backup.take writes UTC)
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v

    @field_validator("sha256", "dump_sha256")
    @classmethod
    def _hex64(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("must be 64 hex characters")
        return v

    @property
    def made_at(self) -> datetime:
        """When the dump's snapshot was taken: the moment the backup's data is from."""
        return self.started_at or self.created_at

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=2)


def manifest_key(backup_key: str) -> str:
    return backup_key + MANIFEST_SUFFIX


def parse_manifest(data: bytes, key: str) -> Manifest:
    try:
        doc = json.loads(data)
        if isinstance(doc, dict):
            doc.setdefault("format", 1)  # manifests before format 2 did not say
        return Manifest.model_validate(doc)
    except (ValueError, ValidationError) as exc:
        raise ManifestInvalid(f"{manifest_key(key)}: not a valid manifest "
                              f"({error_line(exc, named=False)})") from exc


def implausible(manifest: Manifest, uploaded: datetime, now: datetime) -> list[str]:
    """What `manifest` claims that cannot be true of a backup object uploaded at `uploaded` and
    seen at `now` (a manifest is a file anyone with write access can edit: it is believed only
    where it is consistent)."""
    why = []
    if manifest.tables is not None and not manifest.tables:
        why.append("it records no tables")
    made = manifest.made_at
    if made > now + CLOCK_SKEW:
        why.append(f"it says the dump started at {made.isoformat()}, in the future")
    elif made > uploaded + CLOCK_SKEW:
        why.append(f"it says the dump started at {made.isoformat()}, after the object was "
                   f"uploaded ({uploaded.isoformat()})")
    if (manifest.finished_at is not None and manifest.started_at is not None
            and manifest.finished_at < manifest.started_at):
        why.append("it says the dump finished before it started")
    return why


def backup_time(manifest: Manifest | None, uploaded: datetime,
                now: datetime) -> tuple[datetime, str]:
    """The one clock for a backup's age (backup.verify's freshness, the drill's RPO), and
    which clock it was.

    The manifest's start time when the manifest is plausible: that is the moment the data is
    from (a big dump uploads hours later), and it survives a copy to another bucket, which
    resets the object's modification time to "now". Otherwise the object's modification time.
    A plausible start time is never after the upload, so a manifest can make a backup look
    older than its object, never fresher."""
    if manifest is not None and not implausible(manifest, uploaded, now):
        return manifest.made_at, "manifest"
    return uploaded, "object"
