"""Prometheus text-format gauges after every run: `[metrics] textfile = "…/breakglass.prom"`.

node_exporter's textfile collector (and anything reading the exposition format) picks the file
up; this is how pgbackrest_exporter-style monitoring sees breakglass without a daemon. After each
run (dry runs excepted) the engine records, per (runbook, target): when it last finished, when
it last succeeded, its exit code, and the gauges of what the runbook measured
(`Runbook.measured`, engine/measures.py: a drill's RTO and RPO, a check's failing items). The
record is kept in `state_dir/metrics.json` (this machine's runs: the textfile feeds this
machine's exporter) and the whole textfile is rewritten atomically (connectors/files.py: the
collector never reads half a file).
https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from breakglass.connectors.files import private_dir, write_private

_HELP = {
    "last_run_timestamp_seconds": "When the last run of a runbook on a target finished "
                                  "(Unix time).",
    "last_success_timestamp_seconds": "When a run of a runbook on a target last succeeded "
                                      "(Unix time).",
    "last_run_exit_code": "The exit code of the last run: 0 passed, 1 problem found, 2 usage, "
                          "3 could not verify.",
}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else "NaN"


def record(state_dir: Path, textfile: Path, project: str, runbook: str, target: str,
           finished: str, exit_code: int, measures: Mapping[str, float]) -> None:
    """Add one finished run to this machine's record and rewrite `textfile`. OSError when the
    file cannot be written (the caller reports it; a run never fails for its metrics)."""
    store = state_dir / "metrics.json"
    try:
        data: dict[str, Any] = json.loads(store.read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    runs: dict[str, Any] = data.setdefault("runs", {})
    when = datetime.fromisoformat(finished).timestamp()
    entry = runs.setdefault(f"{runbook}\t{target}", {})
    entry.update(project=project, runbook=runbook, target=target, last_run=when,
                 exit_code=exit_code)
    if exit_code == 0:
        entry["last_success"] = when
    # Only names Prometheus accepts; a runbook's numbers replace its previous ones.
    entry["measures"] = {k: float(v) for k, v in measures.items() if _NAME.match(k)}
    private_dir(state_dir)
    write_private(store, json.dumps(data, sort_keys=True).encode())
    textfile.parent.mkdir(parents=True, exist_ok=True)
    # 0644: node_exporter reads it as its own user; it holds timestamps and numbers, no secret.
    write_private(textfile, render(runs.values()).encode(), mode=0o644)


def render(entries: Any) -> str:
    """The exposition text for every recorded (runbook, target), metric by metric."""
    rows: dict[str, list[str]] = {}
    for e in sorted(entries, key=lambda e: (e["runbook"], e["target"])):
        labels = _labels({"project": e["project"], "runbook": e["runbook"],
                          "target": e["target"]})
        values = {"last_run_timestamp_seconds": e["last_run"],
                  "last_run_exit_code": e["exit_code"]}
        if "last_success" in e:
            values["last_success_timestamp_seconds"] = e["last_success"]
        values.update(e.get("measures") or {})
        for name, value in values.items():
            rows.setdefault(name, []).append(f"breakglass_{name}{labels} {_number(value)}")
    out: list[str] = []
    for name in sorted(rows):
        help_text = _HELP.get(name, f"{name.replace('_', ' ')}, as the runbook measured it.")
        out += [f"# HELP breakglass_{name} {help_text}", f"# TYPE breakglass_{name} gauge",
                *rows[name]]
    return "\n".join(out) + "\n" if out else ""
