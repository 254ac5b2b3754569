"""`state_dir/drills/scenarios.jsonl`: one line per drill.scenarios run — run id, time, base_url
and each scenario's verdict and code. The checklist's §14 items judge the newest line that ran
their scenario (breakglass/checklist/checks/scenarios.py). A resumed run appends once."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HISTORY = Path("drills") / "scenarios.jsonl"


def history_path(state_dir: Path) -> Path:
    return Path(state_dir) / HISTORY


def load(state_dir: Path) -> list[dict[str, Any]]:
    """Every recorded run, oldest first; a damaged line is skipped."""
    try:
        lines = history_path(state_dir).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("scenarios"), dict):
            out.append(rec)
    return out


def append(state_dir: Path, record: Mapping[str, Any]) -> bool:
    """Append `record` unless its run id is there already. True when a line was written."""
    if any(r.get("run_id") == record.get("run_id") for r in load(state_dir)):
        return False
    path = history_path(state_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (json.dumps(dict(record), sort_keys=True, default=str) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return True
