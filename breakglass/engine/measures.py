"""What a run measured, declared once by its runbook (`Runbook.measured`, read from the journal),
and the three things derived from that declaration:

    --json       `measures`: one record per subject, {"subject", "key", NAME: value, …} with
                 each target beside its number (`rto_seconds`, `rto_target_seconds`)
    metrics      the quantities marked `gauge`, as `breakglass_PREFIX_NAME` gauges (and their
                 targets) in the `[metrics] textfile` (engine/metrics.py)
    notices      the quantities with a `label`, in words against their target ("RTO: 4m 12s
                 (target 30m)"), plus the backup the numbers are about (notify/compose.py)

A quantity's name carries its unit (`_seconds`, `bytes`, `rows`), as Prometheus and the JSON
schema (schema/result-v1.json, `measure`) want it; None is "the run did not get that far", never
a zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from breakglass.engine.hooks import Figure
from breakglass.engine.progress import human_bytes
from breakglass.text import exact_duration, human_duration

Unit = Literal["seconds", "bytes", "count"]


@dataclass(frozen=True)
class Quantity:
    """One number: `name` with its unit in it (`rto_seconds`), `target` the number it is held
    to (same unit); a `label` puts it among a notice's key numbers, `gauge` in the metrics."""

    name: str
    value: float | None
    unit: Unit
    target: float | None = None
    label: str = ""
    gauge: bool = False

    @property
    def target_name(self) -> str:
        """`rto_seconds` -> `rto_target_seconds`; `items` -> `items_target`."""
        stem, _, unit = self.name.rpartition("_")
        return f"{stem}_target_{unit}" if stem and unit == self.unit else f"{self.name}_target"

    def text(self) -> str:
        """The value for people, against its target: "4m 12s (target 30m)", "3.1 MB", "12,345"."""
        assert self.value is not None
        if self.unit == "seconds":
            shown = human_duration(self.value)
            return shown + (f" (target {exact_duration(self.target)})"
                            if self.target is not None else "")
        shown = human_bytes(self.value) if self.unit == "bytes" else f"{int(self.value):,}"
        return shown + (f" (target {self.target:,g})" if self.target is not None else "")


@dataclass(frozen=True)
class Measured:
    """What a run measured for one subject (a backup set, a gate, the fleet): `key` is the backup
    the numbers are about; `metric` the gauges' name prefix (`drill`: breakglass_drill_…)."""

    subject: str
    quantities: tuple[Quantity, ...] = ()
    key: str | None = None
    metric: str = ""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"subject": self.subject, "key": self.key}
        for q in self.quantities:
            record[q.name] = q.value
            if q.target is not None:
                record[q.target_name] = q.target
        return record


def json_records(measured: Sequence[Measured]) -> list[dict[str, Any]]:
    """The `measures` of a run's --json document."""
    return [m.to_json() for m in measured]


def gauges(measured: Sequence[Measured]) -> dict[str, float]:
    """The metrics textfile's numbers: PREFIX_NAME (and PREFIX_NAME_target) per gauge."""
    out: dict[str, float] = {}
    for m in measured:
        for q in m.quantities:
            if not (q.gauge and m.metric and q.value is not None):
                continue
            out[f"{m.metric}_{q.name}"] = float(q.value)
            if q.target is not None:
                out[f"{m.metric}_{q.target_name}"] = float(q.target)
    return out


def figures(measured: Sequence[Measured]) -> tuple[Figure, ...]:
    """A notice's key numbers: each labelled quantity reached, then the backup. With several
    subjects (backup.take of two sets) each label and its numbers are under its subject."""
    several = len(measured) > 1
    out: list[Figure] = []
    for m in measured:
        pre = f"{m.subject} " if several else ""
        shown = [q for q in m.quantities if q.label and q.value is not None]
        for q in shown:
            data = {q.name: q.value, **({q.target_name: q.target} if q.target is not None
                                        else {})}
            out.append(Figure(pre + q.label, q.text(), {m.subject: data} if several else data))
        if m.key:
            key = {"backup": m.key}
            out.append(Figure(pre + "backup", m.key, {m.subject: key} if several else key))
    return tuple(out)
