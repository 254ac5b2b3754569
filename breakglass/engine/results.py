"""What every task's `--format json` prints: one versioned document, `breakglass.result/1`,
described by the JSON Schema shipped in the package (breakglass/schema/result-v1.json; docs/runs.md,
"Output"), like `pgbackrest info --output=json`.

    {"schema": "breakglass.result/1",
     "kind": "run" | "runs" | "journal" | "notices" | "config" | "doctor" | "incident",
     ...the kind's fields}

A `run` (every runbook task, runs.show, runs.resume, runs.undo) carries its findings (outcome ok,
note, failed or unverified), its steps and `measures`: what the run measured, as numbers, one
record per subject (a backup set): rto_seconds, rpo_seconds, bytes, rows… (Runbook.measured,
engine/measures.py).
A new field may be added within version 1; a field is never renamed, retyped or removed without
a new version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from breakglass.engine.runs import RunSummary

SCHEMA = "breakglass.result/1"
Kind = Literal["run", "runs", "journal", "notices", "config", "doctor", "incident"]


def document(kind: Kind, body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` as a breakglass.result/1 document of `kind`."""
    return {"schema": SCHEMA, "kind": kind, **body}


def run_document(body: Mapping[str, Any], summary: RunSummary | None) -> dict[str, Any]:
    """A run's document: its summary (`body`) plus what it measured."""
    return document("run", {**body, "measures": measures(summary) if summary else []})


def measures(summary: RunSummary) -> list[dict[str, Any]]:
    """What the run's runbook measured, read from its journal (Runbook.measured); none for a run
    of something that is not a runbook (notify.test)."""
    from breakglass.engine import registry
    from breakglass.engine.measures import json_records

    if summary.runbook not in registry.names():
        return []
    return json_records(registry.get(summary.runbook).measured(summary))


@cache
def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of breakglass.result/1."""
    text = resources.files("breakglass.schema").joinpath("result-v1.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
