"""The restore drill's trend page: two small charts (RTO, RPO) and a table of the drills.

One self-contained HTML page, no scripts and no external assets: it must open from an e-mail
attachment or an auditor's USB stick, and on a phone. Every text in it is HTML-escaped.

How it reads:
- RTO and RPO each get their own chart and y-axis: an RTO of seconds and an RPO of hours must not
  share a scale. The y-axis is logarithmic with ticks in plain units (1s, 10s, 1min, 1h, 1d):
  the targets (rto = 30m, max_age = 26h) sit far above drills of a few seconds, and on a linear
  axis every such drill lies flat on zero.
- The x-axis has one column per drill, oldest left, labelled with the date and time it finished
  (UTC): drills of one day stay apart and readable, whatever the gaps between them.
- Each drill's target is the one in force when it ran (the record carries it): a dashed step line
  through the drills' own targets, so a tightened target shows where it changed.
- A drill that did not pass is marked in both charts (a red crossed point and a tinted column for
  "failed", a hollow point for "could not verify"), and its table row is tinted.
- Each point carries a `<title>` (the browser shows it on hover): value, target, when, verdict,
  findings, run id. The table below the charts lists the same drills, newest first.
- The SVGs scale with the page (viewBox, width 100%); on a narrow screen the charts stack and the
  table's rows become stacked cards, so nothing scrolls sideways.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from breakglass.text import human_duration

# The chart's coordinate system (viewBox units; the SVG is scaled to the column it sits in).
_W, _H = 400, 224
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 52, 40, 10, 44
_PLOT_W, _PLOT_H = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B
#: points keep this far from the plot's top and bottom edges (a point at the scale's end stays
#: whole inside the plot)
_INSET = 8
#: x labels (date over time, ~60 units wide) at least this far apart; y ticks at least this far
_XLABEL_GAP, _YTICK_GAP = 78, 18

_FAILED, _UNVERIFIED = "#cf222e", "#57606a"
_TARGET = "#24292f"


@dataclass(frozen=True)
class Series:
    name: str
    key: str
    target_key: str
    title: str
    explains: str
    target_name: str
    colour: str


SERIES = (
    Series("RTO", "rto_seconds", "rto_target_seconds", "RTO: restore time",
           "from the start of the fetch to the end of teardown", "rto", "#0969da"),
    Series("RPO", "rpo_seconds", "rpo_target_seconds", "RPO: backup age",
           "age of the restored backup when the drill ran", "max_age", "#8250df"),
)

#: y ticks (seconds, label), most preferred first: a tick is drawn when it is not too close to a
#: tick already chosen. Also the ends the scale is rounded out to.
_TICK_TIERS: tuple[tuple[tuple[float, str], ...], ...] = (
    ((1, "1s"), (60, "1min"), (3600, "1h"), (86400, "1d")),
    ((10, "10s"), (600, "10min"), (6 * 3600, "6h"), (7 * 86400, "7d"), (0.1, "0.1s")),
    ((30, "30s"), (1800, "30min"), (12 * 3600, "12h"), (2 * 3600, "2h"), (2 * 86400, "2d"),
     (30 * 86400, "30d"), (5, "5s"), (300, "5min")),
    ((2, "2s"), (20, "20s"), (120, "2min"), (1200, "20min"), (3 * 3600, "3h"),
     (3 * 86400, "3d"), (14 * 86400, "14d"), (365 * 86400, "1y"), (0.5, "0.5s"), (0.2, "0.2s")),
)
_TICKS = sorted(t for tier in _TICK_TIERS for t in tier)


def num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def kind(record: Mapping[str, Any]) -> str:
    """'passed', 'failed' or 'unverified' (could not verify) — from the exit code it recorded."""
    code = record.get("exit_code")
    if code == 0 or (code is None and record.get("verdict") == "passed"):
        return "passed"
    if code == 3 or record.get("verdict") == "could not verify":
        return "unverified"
    return "failed"


def when(record: Mapping[str, Any]) -> tuple[str, str]:
    """(date, HH:MM) the drill finished, as recorded (UTC)."""
    text = str(record.get("finished", ""))
    return text[:10], text[11:16]


class _Scale:
    """A log scale from the round tick below the smallest value to the round tick above the
    largest (values below 0.1 s, e.g. an RPO of 0 for a backup of unknown age, sit at 0.1 s)."""

    def __init__(self, values: Sequence[float]) -> None:
        lo_v = max(min(values, default=1.0), _TICKS[0][0])
        hi_v = max(values, default=1.0)
        self.lo = max((t for t, _ in _TICKS if t <= lo_v), default=_TICKS[0][0])
        self.hi = min((t for t, _ in _TICKS if t >= hi_v), default=hi_v)
        if self.hi <= self.lo:
            self.hi = min((t for t, _ in _TICKS if t > self.lo), default=self.lo * 10)

    def y(self, seconds: float) -> float:
        v = min(max(seconds, self.lo), self.hi)
        frac = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return _PAD_T + _INSET + (_PLOT_H - 2 * _INSET) * (1 - frac)

    def ticks(self) -> list[tuple[float, str]]:
        ends = [t for t in _TICKS if t[0] in (self.lo, self.hi)]
        chosen: list[tuple[float, str]] = []
        for tick in [*ends, *(t for tier in _TICK_TIERS for t in tier)]:
            if (self.lo <= tick[0] <= self.hi and tick not in chosen
                    and all(abs(self.y(tick[0]) - self.y(c[0])) >= _YTICK_GAP for c in chosen)):
                chosen.append(tick)
        return sorted(chosen)


def _x(i: int, n: int) -> float:
    return _PAD_L + _PLOT_W * (i + 0.5) / n


def _labelled(n: int) -> list[int]:
    """Which drills get an x label: the newest, then every k-th back, k the fewest columns whose
    width keeps two labels apart."""
    step = max(1, math.ceil(_XLABEL_GAP / (_PLOT_W / max(n, 1))))
    return list(range(n - 1, -1, -step))[::-1]


def _point_title(s: Series, r: Mapping[str, Any], value: float, target: float | None) -> str:
    date, hm = when(r)
    against = f" (target {s.target_name} {human_duration(target)})" if target is not None else ""
    codes = ", ".join(str(c) for c in r.get("codes") or [])
    return (f"{s.name} {human_duration(value)}{against}\n{date} {hm} UTC · "
            f"{r.get('verdict', '')}{': ' + codes if codes else ''}\nrun {r.get('run_id', '')}")


def _marker(s: Series, i: int, r: Mapping[str, Any], x: float, y: float, value: float,
            target: float | None, radius: float) -> str:
    k = kind(r)
    data = (f'class="pt pt-{k}" data-i="{i}" data-seconds="{value}" '
            f'data-run="{escape(str(r.get("run_id", "")))}"')
    if k == "failed":  # never smaller than legible: a failure must be seen among 60 drills
        size = max(5.0, radius * 1.3)
        d = size * 0.45
        shape = (f'<circle {data} cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" '
                 f'fill="{_FAILED}" stroke="#fff" stroke-width="1"/>'
                 f'<path d="M{x - d:.1f},{y - d:.1f}L{x + d:.1f},{y + d:.1f}M{x - d:.1f},'
                 f'{y + d:.1f}L{x + d:.1f},{y - d:.1f}" stroke="#fff" stroke-width="1.6"/>')
    elif k == "unverified":
        shape = (f'<circle {data} cx="{x:.1f}" cy="{y:.1f}" r="{max(4.0, radius):.1f}" fill="#fff" '
                 f'stroke="{_UNVERIFIED}" stroke-width="2"/>')
    else:
        shape = (f'<circle {data} cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{s.colour}" '
                 'stroke="#fff" stroke-width="1"/>')
    return f'<g><title>{escape(_point_title(s, r, value, target))}</title>{shape}</g>'


def chart(s: Series, records: Sequence[Mapping[str, Any]]) -> str:
    """One series against its targets, one column per drill (see the module docstring)."""
    n = max(len(records), 1)
    slot = _PLOT_W / n
    values = [(i, v) for i, r in enumerate(records) if (v := num(r.get(s.key))) is not None]
    targets = [num(r.get(s.target_key)) for r in records]
    scale = _Scale([v for _, v in values] + [t for t in targets if t is not None])
    radius = max(2.0, min(4.5, slot / 3))
    bottom = _PAD_T + _PLOT_H
    parts = [f'<svg class="chart" data-series="{s.key}" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(s.title)} of past restore '
             'drills against their targets, log scale">',
             f'<rect class="plot" x="{_PAD_L}" y="{_PAD_T}" width="{_PLOT_W}" height="{_PLOT_H}" '
             'fill="#fbfbfc" stroke="#d0d7de"/>']
    for i, r in enumerate(records):
        if kind(r) == "failed":
            parts.append(f'<rect x="{_x(i, n) - slot / 2:.1f}" y="{_PAD_T}" width="{slot:.1f}" '
                         f'height="{_PLOT_H}" fill="{_FAILED}" opacity="0.08"/>')
    for seconds, label in scale.ticks():
        y = scale.y(seconds)
        parts.append(f'<line x1="{_PAD_L}" x2="{_PAD_L + _PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#eaeef2"/><text class="ytick" x="{_PAD_L - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end" font-size="12" fill="#57606a">{escape(label)}</text>')
    # the target in force at each drill: a flat segment across its column, steps between
    prev: float | None = None
    for i, t in enumerate(targets):
        if t is None:
            prev = None
            continue
        y, x0 = scale.y(t), _PAD_L + slot * i
        if prev is not None and prev != t:
            parts.append(f'<line class="target-step" x1="{x0:.1f}" x2="{x0:.1f}" '
                         f'y1="{scale.y(prev):.1f}" y2="{y:.1f}" stroke="{_TARGET}" '
                         'stroke-width="1.2" stroke-dasharray="4 3"/>')
        parts.append(f'<line class="target" data-i="{i}" data-seconds="{t}" x1="{x0:.1f}" '
                     f'x2="{x0 + slot:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_TARGET}" '
                     'stroke-width="1.2" stroke-dasharray="4 3"><title>'
                     f'{escape(f"target {s.target_name} {human_duration(t)}")}</title></line>')
        prev = t
    if len(values) > 1:
        path = " ".join(f"{_x(i, n):.1f},{scale.y(v):.1f}" for i, v in values)
        parts.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="1.8" '
                     f'stroke-linejoin="round" points="{path}"/>')
    for i, v in values:
        parts.append(_marker(s, i, records[i], _x(i, n), scale.y(v), v, targets[i], radius))
    for i in _labelled(len(records)):
        date, hm = when(records[i])
        x = _x(i, n)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" '
                     f'stroke="#8c959f"/><text class="xlabel" x="{x:.1f}" y="{bottom + 16}" '
                     f'text-anchor="middle" font-size="12" fill="#24292f">{escape(hm)}'
                     f'<tspan x="{x:.1f}" dy="14" font-size="11" fill="#57606a">{escape(date)}'
                     '</tspan></text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the page ------------------------------------------------------------------------------------
_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:16px;
max-width:1120px;color:#24292f;line-height:1.4}
h1{font-size:1.4em;margin:0 0 .2em;overflow-wrap:anywhere}
h2{font-size:1.05em;margin:0}
p{margin:.3em 0}
.muted{color:#57606a;font-size:.9em}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin:.8em 0;font-size:.9em}
.legend span{display:inline-flex;align-items:center;gap:6px;white-space:nowrap}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:16px}
figure{margin:0;min-width:0}
figcaption{margin-bottom:4px}
svg.chart{display:block;width:100%;height:auto}
table{border-collapse:collapse;width:100%;margin-top:.5em}
td,th{border-bottom:1px solid #d0d7de;padding:5px 8px;font-size:13px;text-align:left;
vertical-align:top;overflow-wrap:break-word}
th,td.nw{white-space:nowrap}
@media (min-width:641px){td.id{white-space:nowrap}td.brk{word-break:break-all}}
.scroll{overflow-x:auto}
th{background:#f6f8fa}
tr.failed td{background:#ffebe9}
tr.unverified td{background:#f6f8fa}
td.verdict{font-weight:600}
tr.failed td.verdict{color:#cf222e}
@media (max-width:640px){
 thead{display:none}
 table,tbody,tr,td{display:block;width:100%}
 tr{border:1px solid #d0d7de;border-radius:6px;margin-bottom:8px;overflow:hidden}
 td,td.nw{border:0;padding:3px 8px;overflow-wrap:anywhere;white-space:normal}
 td::before{content:attr(data-label) ": ";color:#57606a;font-weight:400}
}
"""

_SWATCH = '<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">{}</svg>'
_LEGEND = (
    ("passed", "".join(f'<circle cx="{x}" cy="8" r="4" fill="{s.colour}"/>'
                       for x, s in zip((4, 12), SERIES, strict=True)),
     "drill passed (RTO blue, RPO purple)"),
    ("failed", f'<rect x="1" y="0" width="14" height="16" fill="{_FAILED}" opacity="0.12"/>'
     f'<circle cx="8" cy="8" r="6" fill="{_FAILED}"/><path d="M5.5,5.5L10.5,10.5M5.5,10.5L10.5,'
     '5.5" stroke="#fff" stroke-width="1.6"/>', "drill failed"),
    ("unverified", f'<circle cx="8" cy="8" r="5" fill="#fff" stroke="{_UNVERIFIED}" '
     'stroke-width="2"/>', "could not verify"),
    ("target", f'<line x1="0" x2="16" y1="8" y2="8" stroke="{_TARGET}" stroke-width="1.5" '
     'stroke-dasharray="4 3"/>', "target in force when the drill ran"),
)


def _legend(records: Sequence[Mapping[str, Any]]) -> str:
    present = {kind(r) for r in records}
    items = [f'<span class="legend-{key}">{_SWATCH.format(svg)}{escape(text)}</span>'
             for key, svg, text in _LEGEND if key != "unverified" or key in present]
    return f'<div class="legend">{"".join(items)}</div>'


def _value(r: Mapping[str, Any], key: str, target_key: str) -> str:
    v, t = num(r.get(key)), num(r.get(target_key))
    if v is None:
        return "-"
    return human_duration(v) + (f" / {human_duration(t)}" if t is not None else "")


#: short cells kept on one line on a wide screen (a time or a value split in two is misread)
_CELL_CLASS = {"finished (UTC)": "nw", "verdict": "nw verdict", "RTO / target": "nw",
               "RPO / max_age": "nw", "backup": "brk", "run": "id"}


def _table(records: Sequence[Mapping[str, Any]]) -> str:
    heads = ("finished (UTC)", "verdict", "RTO / target", "RPO / max_age", "findings", "backup",
             "environment", "run")
    rows = []
    for r in reversed(records):
        date, hm = when(r)
        cells = (f"{date} {hm}", str(r.get("verdict", "")),
                 _value(r, "rto_seconds", "rto_target_seconds"),
                 _value(r, "rpo_seconds", "rpo_target_seconds"),
                 ", ".join(str(c) for c in r.get("codes") or []) or "-",
                 str(r.get("backup_key", "")), str(r.get("environment", "")),
                 str(r.get("run_id", "")))
        tds = "".join(f'<td data-label="{escape(h)}" class="{_CELL_CLASS.get(h, "")}">'
                      f"{escape(c)}</td>" for h, c in zip(heads, cells, strict=True))
        rows.append(f'<tr class="{kind(r)}">{tds}</tr>')
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    body = "\n".join(rows)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>\n{body}\n'
            "</tbody></table></div>")


def render(records: Sequence[Mapping[str, Any]]) -> str:
    """The page for `records` (any order; drawn oldest first by their finish time)."""
    records = sorted(records, key=lambda r: str(r.get("finished", "")))
    project = escape(str(records[-1].get("project", ""))) if records else ""
    failed = sum(kind(r) == "failed" for r in records)
    span = (f", {escape(' '.join(when(records[0])))} to {escape(' '.join(when(records[-1])))} "
            "UTC" if records else "")
    figures = "".join(
        f'<figure><figcaption><h2>{escape(s.title)}</h2><span class="muted">{escape(s.explains)};'
        " log scale</span></figcaption>" + chart(s, records) + "</figure>" for s in SERIES)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Restore drill trend {project}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>Restore drill trend {project}</h1>\n"
        f'<p>{len(records)} drill(s){span}; {failed} failed. Hover a point for its values.</p>\n'
        f"{_legend(records)}\n"
        f'<div class="charts">{figures}</div>\n'
        f"<h2 style=\"margin-top:1.2em\">Drills, newest first</h2>\n{_table(records)}\n"
        "</body></html>\n")
