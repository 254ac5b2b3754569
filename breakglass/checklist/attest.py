"""Attestations: a named owner vouches for an item only a person can verify.

INTERFACE (the lead's stub; the helper owning `attest` completes this module):
    Attestation     item, by, note, at, expires, run_id
    latest(state_dir, item_id) -> Attestation | None   the newest attestation of the item
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Attestation:
    item: str
    by: str
    note: str
    at: datetime
    expires: datetime
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "by": self.by, "note": self.note, "at": self.at.isoformat(),
                "expires": self.expires.isoformat(), "run_id": self.run_id}


def latest(state_dir: Path, item_id: str) -> Attestation | None:
    return None
