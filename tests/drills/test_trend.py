"""The drill trend page as a person sees it: rendered by a real headless Chromium at desktop and
phone widths (screenshots kept in the test's tmp dir), with assertions on the laid-out page.

The records are written the way drills/steps/report.py writes them (history.append, then
history.write_trend): six drills over a few hours, values from seconds to hours, one failed,
the targets tightened midway.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from breakglass.drills import history, trend
from breakglass.state.local import LocalState
from tests.drills import chromium

START = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)


class Drill(NamedTuple):
    minutes: int  # after START
    rto: float
    rpo: float
    rto_target: float
    rpo_target: float
    codes: tuple[str, ...]  # the failing findings; none for a drill that passed


DRILLS = (
    Drill(0, 2.1, 4.6, 1800, 93600, ()),
    Drill(47, 3.4, 2820.0, 1800, 93600, ()),
    Drill(95, 95.0, 7260.0, 1800, 93600, ()),
    Drill(140, 2460.0, 30.0, 1800, 93600, ("RTO_EXCEEDED",)),  # failed: over its 30 min target
    Drill(190, 8.0, 14400.0, 600, 21600, ()),  # targets tightened: rto 10 min, max_age 6 h
    Drill(245, 2.1, 600.0, 600, 21600, ()),
)

#: measured in the page once it has loaded (before anything is added to it)
MEASURE = """(() => {
  const box = e => { const b = e.getBoundingClientRect();
                     return {l: b.left, t: b.top, r: b.right, b: b.bottom}; };
  const fill = e => getComputedStyle(e).fill;
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth,
    charts: [...document.querySelectorAll('svg.chart')].map(svg => ({
      series: svg.dataset.series, svg: box(svg), plot: box(svg.querySelector('rect.plot')),
      points: [...svg.querySelectorAll('circle.pt')].map(c => ({
        i: +c.dataset.i, seconds: +c.dataset.seconds, cls: c.getAttribute('class'),
        box: box(c), fill: fill(c), title: c.parentNode.querySelector('title').textContent,
        crossed: c.parentNode.querySelector('path') !== null})),
      targets: [...svg.querySelectorAll('line.target')].map(l => ({
        i: +l.dataset.i, seconds: +l.dataset.seconds, box: box(l)})),
      labels: [...svg.querySelectorAll('text')].map(t => ({
        text: t.textContent, cls: t.getAttribute('class'), box: box(t)})),
    })),
    legend: document.querySelector('.legend').textContent,
    rows: [...document.querySelectorAll('tbody tr')].map(tr => ({
      cls: tr.className, text: tr.textContent, box: box(tr)})),
  };
})()"""


def record(n: int, minutes: int, rto: float, rpo: float, rto_t: float, rpo_t: float,
           codes: tuple[str, ...]) -> dict[str, Any]:
    """A history line with report.py's fields."""
    finished = START + timedelta(minutes=minutes, seconds=rto)
    return {
        "run_id": f"{finished:%Y%m%dT%H%M%S}{n:06d}-ab{n:02d}", "project": "acme",
        "finished": finished.isoformat(), "backup_set": "main",
        "backup_key": f"acme-{finished - timedelta(seconds=rpo):%Y%m%dT%H%M%SZ}.dump.age",
        "environment": "local",
        "stages": {"fetch": 0.1, "verify": 0.1, "environment": 0.1, "restore": rto - 0.4,
                   "validate": 0.05, "teardown": 0.05},
        "rto_seconds": rto, "rto_target_seconds": rto_t, "rpo_seconds": rpo,
        "rpo_target_seconds": rpo_t, "wall_seconds": rto, "resumed": False,
        "verdict": "failed" if codes else "passed", "exit_code": 1 if codes else 0,
        "codes": list(codes),
    }


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = LocalState(tmp_path_factory.mktemp("trend-state"))
    for n, drill in enumerate(DRILLS):
        assert history.append(state, record(n, *drill))
    return history.write_trend(state)


@pytest.fixture(scope="module", params=[(1280, 900, False), (375, 812, True)],
                ids=["desktop-1280", "phone-375"])
def shown(request: pytest.FixtureRequest, page: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    width, height, mobile = request.param
    shot = tmp_path_factory.mktemp("screenshots") / f"trend-{width}.png"
    out = chromium.render(page, width, height, MEASURE, shot, mobile=mobile)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")
    return {"width": width, **out.value}


def inside(inner: Mapping[str, float], outer: Mapping[str, float], slack: float = 0.5) -> bool:
    return (inner["l"] >= outer["l"] - slack and inner["r"] <= outer["r"] + slack
            and inner["t"] >= outer["t"] - slack and inner["b"] <= outer["b"] + slack)


def centre_y(box: Mapping[str, float]) -> float:
    return (box["t"] + box["b"]) / 2


def test_nothing_scrolls_sideways(shown: dict[str, Any]) -> None:
    assert shown["innerWidth"] == shown["width"]
    assert shown["scrollWidth"] <= shown["innerWidth"]


def test_rto_and_rpo_each_have_a_chart_with_every_point_inside_its_plot(
        shown: dict[str, Any]) -> None:
    charts = {c["series"]: c for c in shown["charts"]}
    assert set(charts) == {"rto_seconds", "rpo_seconds"}
    for c in charts.values():
        assert len(c["points"]) == len(DRILLS)
        assert all(inside(p["box"], c["plot"]) for p in c["points"]), c["series"]
        assert inside(c["plot"], c["svg"])


@pytest.mark.parametrize("series,field", [("rto_seconds", "rto"), ("rpo_seconds", "rpo")])
def test_distinct_values_get_distinct_heights_in_order(shown: dict[str, Any], series: str,
                                                       field: str) -> None:
    (c,) = [c for c in shown["charts"] if c["series"] == series]
    ys = {p["i"]: centre_y(p["box"]) for p in c["points"]}
    for a in range(len(DRILLS)):
        for b in range(len(DRILLS)):
            va, vb = getattr(DRILLS[a], field), getattr(DRILLS[b], field)
            if va < vb:  # higher value, higher on the page (smaller y), and visibly so
                assert ys[a] - ys[b] >= 3, (series, DRILLS[a], DRILLS[b])
            elif va == vb:
                assert ys[a] == pytest.approx(ys[b], abs=0.5)


@pytest.mark.parametrize("series,field", [("rto_seconds", "rto"), ("rpo_seconds", "rpo")])
def test_each_point_is_drawn_against_the_target_in_force_when_it_ran(
        shown: dict[str, Any], series: str, field: str) -> None:
    (c,) = [c for c in shown["charts"] if c["series"] == series]
    targets = {t["i"]: t for t in c["targets"]}
    wanted = [getattr(d, field + "_target") for d in DRILLS]
    assert [targets[i]["seconds"] for i in range(len(DRILLS))] == wanted
    for p in c["points"]:
        seg = targets[p["i"]]
        # the segment spans the point's column, and the point sits above it iff over its target
        assert seg["box"]["l"] <= (p["box"]["l"] + p["box"]["r"]) / 2 <= seg["box"]["r"]
        over = getattr(DRILLS[p["i"]], field) > wanted[p["i"]]
        assert (centre_y(p["box"]) < centre_y(seg["box"])) == over, (series, p)
    # the tightened target is drawn lower than the first one
    assert centre_y(targets[len(DRILLS) - 1]["box"]) > centre_y(targets[0]["box"]) + 3


def test_the_failed_drill_is_marked_in_both_charts_the_legend_and_the_table(
        shown: dict[str, Any]) -> None:
    failed = [i for i, d in enumerate(DRILLS) if d.codes]
    for c in shown["charts"]:
        marked = [p for p in c["points"] if "pt-failed" in p["cls"]]
        assert [p["i"] for p in marked] == failed
        assert all(p["crossed"] for p in marked)
        others = {p["fill"] for p in c["points"] if p["i"] not in failed}
        assert marked[0]["fill"] not in others
    assert "drill failed" in shown["legend"]
    rows = shown["rows"]
    assert len(rows) == len(DRILLS)
    assert [r["cls"] for r in rows].count("failed") == 1
    (bad,) = [r for r in rows if r["cls"] == "failed"]
    assert "RTO_EXCEEDED" in bad["text"] and "41m 0s / 30m 0s" in bad["text"]


def test_x_labels_show_date_and_time_and_none_is_clipped_or_overlapping(
        shown: dict[str, Any]) -> None:
    for c in shown["charts"]:
        labels = [t for t in c["labels"] if t["cls"] == "xlabel"]
        assert len(labels) >= 3
        assert all(re.fullmatch(r"\d\d:\d\d2026-12-07", t["text"]) for t in labels), labels
        assert len({t["text"] for t in labels}) == len(labels)
        assert all(inside(t["box"], c["svg"]) for t in c["labels"])
        boxes = sorted((t["box"] for t in labels), key=lambda b: b["l"])
        assert all(a["r"] <= b["l"] for a, b in itertools.pairwise(boxes))


def test_hovering_a_point_tells_its_value_target_time_and_verdict(
        shown: dict[str, Any]) -> None:
    (rto,) = [c for c in shown["charts"] if c["series"] == "rto_seconds"]
    failed = next(p for p in rto["points"] if "pt-failed" in p["cls"])
    assert failed["title"].splitlines()[:2] == [
        "RTO 41m 0s (target rto 30m 0s)", "2026-12-07 12:06 UTC · failed: RTO_EXCEEDED"]
    first = next(p for p in rto["points"] if p["i"] == 0)
    assert first["title"].startswith("RTO 2.1s (target rto 30m 0s)\n2026-12-07 09:05 UTC")


def test_the_page_is_self_contained(page: Path) -> None:
    html = page.read_text()
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert json.dumps("acme")[1:-1] in html


def test_sixty_drills_over_two_months_stay_inside_and_legible_on_a_phone(tmp_path: Path) -> None:
    """The chart's limit (history.CHART_LAST drills): a failure every 9th drill, one that could
    not verify, an RPO of 0 (a backup of unknown age), an old line without targets."""
    state = LocalState(tmp_path / "state")
    for n in range(history.CHART_LAST + 5):
        codes = ("RESTORE_FAILED",) if n % 9 == 4 else ()
        line = record(n, n * 24 * 60, 2.0 + (n % 7) * 40, 0.0 if n == 30 else 60.0 * (n % 13 + 1),
                      1800, 93600, codes)
        if n == 20:
            line.update(verdict="could not verify", exit_code=3, codes=["DATABASE_UNREACHABLE"])
        if n == 10:
            del line["rto_target_seconds"]
        history.append(state, line)
    page = history.write_trend(state)
    out = chromium.render(page, 375, 812, MEASURE, tmp_path / "trend-60-375.png", mobile=True)
    shown = out.value
    assert shown["scrollWidth"] <= shown["innerWidth"] == 375
    assert len(shown["rows"]) == history.CHART_LAST
    assert "could not verify" in shown["legend"]
    for c in shown["charts"]:
        assert len(c["points"]) == history.CHART_LAST
        assert all(inside(p["box"], c["plot"]) for p in c["points"]), c["series"]
        assert sum("pt-unverified" in p["cls"] for p in c["points"]) == 1
        labels = sorted((t["box"] for t in c["labels"] if t["cls"] == "xlabel"),
                        key=lambda b: b["l"])
        assert len(labels) >= 3
        assert all(a["r"] <= b["l"] for a, b in itertools.pairwise(labels))
        assert all(inside(t["box"], c["svg"]) for t in c["labels"])
    (rto,) = [c for c in shown["charts"] if c["series"] == "rto_seconds"]
    assert len(rto["targets"]) == history.CHART_LAST - 1  # the line without a target has none


def test_an_empty_history_renders_a_page() -> None:
    html = trend.render([])
    assert "0 drill(s)" in html and html.count('<svg class="chart"') == 2


def test_every_text_from_a_record_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    line = record(0, 0, 2.0, 5.0, 1800, 93600, (hostile,))
    line.update(project=hostile, run_id='"><img src=x onerror=alert(1)>', backup_key=hostile)
    html = trend.render([line])
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
