"""Append-only JSON-lines records kept in state_dir: the drills' histories and the checklist's
attestations. (Run journals have their own hash-chained format: engine/journal.py.)"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from breakglass.connectors.files import fsync_dir, private_dir


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of `path`, one per line, oldest first. A missing file is no records; a
    damaged line (not JSON, not UTF-8, not an object) is skipped, never fatal: it counts for
    nothing."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    for line in raw.splitlines():
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def append_record(path: Path, record: Mapping[str, Any]) -> bool:
    """Append `record` as one line unless a line with its run id is there already, so a resumed
    run writes once. True when a line was written."""
    if any(r.get("run_id") == record.get("run_id") for r in read_records(path)):
        return False
    append_line(path, (json.dumps(dict(record), sort_keys=True, default=str) + "\n").encode())
    return True


def append_line(path: Path, line: bytes) -> None:
    """Append one line durably, with the journals' discipline: the folder 0700, the file 0600,
    O_APPEND and one write (concurrent appends do not interleave), fsync the file, and fsync
    the folder when the file is new."""
    private_dir(path.parent)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
