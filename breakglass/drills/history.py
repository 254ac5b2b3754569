"""The restore drill's history and its trend report.

The state's record `drills/history` (breakglass/state/: `state_dir/drills/history.jsonl`, or
with `[project] state = "s3://…"` one object per drill under `records/drills/history/`, shared
by every machine and scheduled job) gets one record per drill that reached its end (passed or
failed validation): run id, time, backup, environment, RTO (seconds per stage and total) against
the target, RPO against max_age, verdict. A resumed run appends once (keyed by run id).

A line is only a claim: anyone who can write the state folder can append one. `backed()` counts a
line only while the journal of the run it names verifies, is a drill.restore run, and journaled
in its report step's result every field of the line with the same value (the report step
journals the record it appends). So a forged line, a line with another run's id, or an edited
verdict or date counts for nothing; making the journal agree means rewriting it, which breaks
its chain or, rewritten whole, the final hash its notice carried (docs/runs.md). `load()` is the
raw record (the trend report, and the report step that looks for its own line).

`reports/drill-restore-trend.html` is rebuilt from the whole (shared) history after each drill,
wherever it ran, and stored in the state (`put_blob`; locally under state_dir): one
self-contained page (no scripts, no external assets — it must open from an e-mail attachment or
an auditor's USB stick) with an inline SVG line chart of RTO and RPO over past drills against
their targets, and a table. Every text in it is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from breakglass.state.base import State

#: the state's record of drills, and the trend page's blob name
RECORDS = "drills/history"
TREND = "reports/drill-restore-trend.html"
#: the runbook whose journal backs a line, and its step whose journaled result is the line
RUNBOOK = "drill.restore"
REPORT_STEP = "report"
#: drills shown in the chart (the table lists the same ones)
CHART_LAST = 60


def load(state: State) -> list[dict[str, Any]]:
    """Every recorded drill, oldest first; a damaged line is skipped, not fatal."""
    return state.records(RECORDS)


def backed(state: State) -> tuple[list[dict[str, Any]], list[str]]:
    """The drills that count (see the module docstring), oldest first, and why each other line
    does not."""
    from breakglass.engine.runs import partition

    return partition(state.cited_records(RECORDS), lambda r: problem(state.local_dir, r))


def problem(state_dir: Path, record: Mapping[str, Any]) -> str | None:
    """Why `record` does not count; None when its run's journal (in `state_dir`) backs it."""
    from breakglass.engine.runs import Unbacked, backing_run

    try:
        s = backing_run(state_dir, record.get("run_id"), RUNBOOK)
    except Unbacked as exc:
        return str(exc)
    step = s.steps.get(REPORT_STEP)
    result = step.result if step is not None else None
    if not isinstance(result, dict):
        return "its run journaled no drill result"
    if any(key not in result or result[key] != value for key, value in record.items()):
        return "the line differs from what its run journaled (edited)"
    return None


def append(state: State, record: Mapping[str, Any]) -> bool:
    """Append `record` unless its run id is already there (a resumed report step). Returns True
    when a line was written."""
    return state.append_record(RECORDS, record)


def write_trend(state: State) -> Path:
    """Render the trend of every recorded drill (the whole team's on a shared state) and store
    it; returns the local copy."""
    page = render(load(state)[-CHART_LAST:])
    return state.put_blob(TREND, page.encode("utf-8"))


# -- rendering ---------------------------------------------------------------------------------
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 760, 300, 64, 24, 24, 56
_SERIES = (("rto_seconds", "RTO (restore time)", "#1f6feb"),
           ("rpo_seconds", "RPO (backup age)", "#d29922"))


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _human(seconds: float) -> str:
    s = round(seconds)
    if s >= 86400:
        return f"{s / 86400:.1f}d"
    if s >= 3600:
        return f"{s / 3600:.1f}h"
    if s >= 60:
        return f"{s / 60:.1f}m"
    return f"{s}s"


def chart(records: Sequence[Mapping[str, Any]]) -> str:
    """An SVG line chart: RTO and RPO per drill, dashed lines at the latest targets."""
    values = [v for r in records for key in ("rto_seconds", "rpo_seconds", "rto_target_seconds",
                                             "rpo_target_seconds")
              if (v := _num(r.get(key))) is not None]
    top = max(values, default=1.0) * 1.1 or 1.0
    n = len(records)
    inner_w, inner_h = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(i: int) -> float:
        return _PAD_L + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(v: float) -> float:
        return _PAD_T + inner_h * (1 - v / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" '
             f'height="{_H}" role="img" aria-label="RTO and RPO of past restore drills">',
             f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{inner_w}" height="{inner_h}" '
             'fill="#fafafa" stroke="#ccc"/>']
    for frac in (0, 0.25, 0.5, 0.75, 1):
        v = top * frac
        parts.append(f'<text x="{_PAD_L - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{escape(_human(v))}</text>')
    if records:
        last = records[-1]
        for key, colour in (("rto_target_seconds", "#1f6feb"), ("rpo_target_seconds", "#d29922")):
            t = _num(last.get(key))
            if t is not None:
                parts.append(f'<line x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y(t):.1f}" '
                             f'y2="{y(t):.1f}" stroke="{colour}" stroke-dasharray="6 4" '
                             'opacity="0.6"/>')
    for key, label, colour in _SERIES:
        pts = [(x(i), y(v)) for i, r in enumerate(records)
               if (v := _num(r.get(key))) is not None]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{path}"/>')
        for px, py in pts:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}">'
                         f'<title>{escape(label)}</title></circle>')
    for i, r in enumerate(records):
        if n <= 12 or i % max(1, n // 12) == 0 or i == n - 1:
            day = escape(str(r.get("finished", ""))[:10])
            parts.append(f'<text x="{x(i):.1f}" y="{_H - _PAD_B + 16}" text-anchor="middle" '
                         f'font-size="10">{day}</text>')
    for j, (_, label, colour) in enumerate(_SERIES):
        lx = _PAD_L + j * 200
        parts.append(f'<rect x="{lx}" y="{_H - 18}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{lx + 18}" y="{_H - 8}" font-size="12">{escape(label)}</text>')
    parts.append(f'<text x="{_PAD_L + 420}" y="{_H - 8}" font-size="12">dashed: targets '
                 '(rto, max_age)</text></svg>')
    return "\n".join(parts)


def render(records: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for r in reversed(records):
        rto, rpo = _num(r.get("rto_seconds")), _num(r.get("rpo_seconds"))
        cells = [str(r.get("finished", ""))[:19].replace("T", " "), str(r.get("run_id", "")),
                 str(r.get("backup_key", "")), str(r.get("environment", "")),
                 _human(rto) if rto is not None else "-", _human(rpo) if rpo is not None else "-",
                 str(r.get("verdict", "")), ", ".join(str(c) for c in r.get("codes") or [])]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    heads = ("finished (UTC)", "run", "backup", "environment", "RTO", "RPO", "verdict",
             "findings")
    project = escape(str(records[-1].get("project", ""))) if records else ""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Restore drill trend {project}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;"
        "font-size:13px;text-align:left}th{background:#f3f3f3}</style></head><body>\n"
        f"<h1>Restore drill trend {project}</h1>\n"
        f"<p>{len(records)} drill(s). RTO: time from the start of the fetch to the end of "
        "teardown. RPO: age of the restored backup when the drill ran.</p>\n"
        f"{chart(records)}\n<table><thead><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in heads)
        + "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n</body></html>\n")
