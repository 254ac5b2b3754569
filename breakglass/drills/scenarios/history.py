"""`state_dir/drills/scenarios.jsonl`: one line per drill.scenarios run — run id, time, base_url
and each scenario's verdict and code. The checklist's §14 items judge the newest line that ran
their scenario (breakglass/checklist/checks/scenarios.py). A resumed run appends once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from breakglass.engine.jsonl import append_record, read_records

HISTORY = Path("drills") / "scenarios.jsonl"


def history_path(state_dir: Path) -> Path:
    return Path(state_dir) / HISTORY


def load(state_dir: Path) -> list[dict[str, Any]]:
    """Every recorded run, oldest first; a damaged line is skipped."""
    return [r for r in read_records(history_path(state_dir))
            if isinstance(r.get("scenarios"), dict)]


def append(state_dir: Path, record: Mapping[str, Any]) -> bool:
    """Append `record` unless its run id is there already. True when a line was written."""
    return append_record(history_path(state_dir), record)
