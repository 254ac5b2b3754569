"""The manifest written beside each backup: `<name>.manifest.json`.

`backup.take` (issue 3) writes it; `backup.verify` and the restore drill read it. `sha256` and
`size` describe the object *as stored* (after age encryption, if any), so a verifier without the
decryption identity can still prove the bytes are the ones written. Unknown keys are ignored so
that a newer writer does not break an older verifier.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from breakglass.errors import BreakglassError

MANIFEST_SUFFIX = ".manifest.json"


class ManifestInvalid(BreakglassError):
    """A manifest exists but cannot be parsed; the verifier reports it (MANIFEST_INVALID)."""


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    sha256: str = Field(description="hex sha256 of the stored object")
    size: int = Field(ge=0, description="bytes of the stored object")
    created_at: datetime
    database: str
    server_version: str
    #: table -> row count at dump time (the restore drill compares against it)
    tables: dict[str, int] | None = None
    #: a digest or listing of the schema at dump time (for later drift checks)
    schema_: str | None = Field(default=None, alias="schema")

    @field_validator("sha256")
    @classmethod
    def _hex64(cls, v: str) -> str:
        v = v.strip().lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("must be 64 hex characters")
        return v

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=2)


def manifest_key(backup_key: str) -> str:
    return backup_key + MANIFEST_SUFFIX


def parse_manifest(data: bytes, key: str) -> Manifest:
    try:
        return Manifest.model_validate(json.loads(data))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ManifestInvalid(f"{manifest_key(key)}: not a valid manifest ({first})") from exc
