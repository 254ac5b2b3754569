"""What a `check` run found, item by item: the table for people, the JSON items, JUnit XML for CI,
and the item catalog table of docs/check.md.

Everything is rebuilt from the run's journal (runs.summarize plus the "evidence" notes each step
journals), never from live objects: the journal is redacted as it is written, so these outputs
cannot carry a secret the journal does not, and they agree with `runs.show` and the reports.

    rows(summary)               one ItemRow per selected item, in checklist order
    table(console, rows)        item, title, verdict, one-line detail
    items_json(rows)            the per-item list of `check --json`
    junit_xml(summary, rows)    one testsuite, one testcase per item (and per failing precondition)
    catalog_markdown()          the catalog table docs/check.md holds between its markers

`python -m breakglass.checklist.report docs/check.md` rewrites that table after items.py changes
(tests/checklist/test_items.py fails until it is done).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.checklist import items as catalog
from breakglass.checklist.model import Item
from breakglass.checklist.runbook import ALLOWED, EVIDENCE, parse_gate, select
from breakglass.engine import journal
from breakglass.engine.findings import Finding, Outcome, verdict
from breakglass.errors import UsageError
from breakglass.text import one_line

if TYPE_CHECKING:
    from rich.console import Console

    from breakglass.engine.runs import RunSummary

PASSED, FAILED, UNVERIFIED, ALLOWED_V, NOT_RUN = (
    "passed", "failed", "could not verify", "allowed", "not run")


@dataclass
class ItemRow:
    id: str
    title: str
    verdict: str
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    #: the catalog item (None for a precondition row, e.g. owners.release_signoff)
    item: Item | None = None

    @property
    def detail(self) -> str:
        """One line: the codes of what failed (the findings table below says what was seen and
        what to do, so the message is not repeated), or who attested it until when."""
        counting = [f.code for f in self.findings if f.counts]
        if counting:
            return ", ".join(dict.fromkeys(counting))
        allowed = [f.code for f in self.findings if f.evidence.get(ALLOWED)]
        if allowed:
            return "allowed: " + ", ".join(dict.fromkeys(allowed))
        if self.verdict == NOT_RUN:
            return "the run stopped before this item"
        if "by" in self.evidence and "expires" in self.evidence:
            return f"attested by {self.evidence['by']} until {str(self.evidence['expires'])[:10]}"
        return ""


def verdict_of(findings: Sequence[Finding]) -> str:
    """The engine's verdict (passed / failed / could not verify), or "allowed" for a pass that
    holds only because --allow-unverified turned what could not be looked at into notes."""
    v = verdict(findings)
    if v == PASSED and any(f.evidence.get(ALLOWED) for f in findings):
        return ALLOWED_V
    return v


def _evidence(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for ev in journal.read_events(path):
        data = ev.get("data") or {}
        inner = data.get("data") or {}
        if ev.get("type") == "log" and data.get("message") == EVIDENCE and "item" in inner:
            found[str(inner["item"])] = dict(inner.get("evidence") or {})
    return found


def selected(summary: RunSummary) -> list[Item]:
    """The items a run selected, from its journaled params (ids the catalog no longer has are
    left out: a report of an old run still renders)."""
    p = summary.params
    try:
        return select(parse_gate(p.get("gate")), p.get("only"))
    except UsageError:
        return [catalog.BY_ID[s] for s in summary.steps if s in catalog.BY_ID]


def rows(summary: RunSummary) -> list[ItemRow]:
    evidence = _evidence(summary.path)
    out = []
    for item in selected(summary):
        rec = summary.steps.get(item.id)
        if rec is None or (rec.status in ("pending", "running") and not rec.findings):
            out.append(ItemRow(item.id, item.title, NOT_RUN, item=item))
            continue
        out.append(ItemRow(item.id, item.title, verdict_of(rec.findings), list(rec.findings),
                           evidence.get(item.id, {}), rec.seconds, item))
    # The engine's own preconditions (an owner of release_signoff who is told) count in a
    # read-only run: a failing one is a row, or the exit code would have no row to explain it.
    for name, pre in summary.preconditions.items():
        found = [Finding.from_dict(f) for f in pre.get("findings") or []]
        if any(f.counts for f in found):
            out.append(ItemRow(name, f"precondition: {pre.get('title', '')}", verdict_of(found),
                               found))
    return out


# -- people -------------------------------------------------------------------------------------
_STYLE = {PASSED: "green", FAILED: "bold red", UNVERIFIED: "yellow", ALLOWED_V: "cyan",
          NOT_RUN: "dim"}


def table(console: Console, items: Iterable[ItemRow], tables: bool) -> None:
    """One row per item: a rich table (`tables`) or one line per item (engine/render.rows). The
    title is left out of the lines: the id names the item, and a row stays one line."""
    from rich.text import Text

    from breakglass.engine import render

    # Text, never markup: a bracket in a header value must not restyle the table.
    def cells(r: ItemRow) -> list[Text]:
        row = [Text(r.id), Text(r.verdict, style=_STYLE.get(r.verdict, "")),
               Text(r.detail, style="dim")]
        return [row[0], Text(r.title), *row[1:]] if tables else row

    headers = ("item", "title", "verdict", "detail") if tables else ("item", "verdict", "detail")
    render.rows(console, headers, (cells(r) for r in items), tables)


def counts(items: Iterable[ItemRow]) -> str:
    tally: dict[str, int] = {}
    for r in items:
        tally[r.verdict] = tally.get(r.verdict, 0) + 1
    order = (PASSED, FAILED, UNVERIFIED, ALLOWED_V, NOT_RUN)
    return ", ".join(f"{tally[v]} {v}" for v in order if tally.get(v))


# -- machines -----------------------------------------------------------------------------------
def items_json(items: Iterable[ItemRow]) -> list[dict[str, Any]]:
    out = []
    for r in items:
        if r.item is None:
            continue
        d = r.item.to_dict()
        d.update(verdict=r.verdict, findings=[f.to_dict() for f in r.findings],
                 evidence=r.evidence)
        out.append(d)
    return out


def preconditions_json(items: Iterable[ItemRow]) -> list[dict[str, Any]]:
    return [{"id": r.id, "title": r.title, "verdict": r.verdict,
             "findings": [f.to_dict() for f in r.findings]} for r in items if r.item is None]


# XML 1.0 allows only these characters (https://www.w3.org/TR/xml/#charsets); a control byte in a
# header value would make the whole report unparseable for the CI server.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _findings_text(found: Iterable[Finding]) -> str:
    return _x("\n".join(f"{f.code} ({f.label}, {f.subject}): {f.message}\n  next: {f.action}"
                        for f in found))


def junit_xml(summary: RunSummary, items: Sequence[ItemRow]) -> bytes:
    """JUnit XML as CI servers read it (the de-facto schema of Ant's JUnit task / the Jenkins
    JUnit plugin): one <testsuite>, one <testcase> per item, classname = its section.

    failed -> <failure>. Could not verify -> <error>, NOT <skipped>: CI systems (GitHub, GitLab,
    Jenkins) show skipped tests as green, and an item nobody could look at must never look like
    a pass (DESIGN principle 1). Only an item allowed with --allow-unverified is <skipped>, with
    the reason, because someone decided so on the command line."""
    tally = {v: sum(r.verdict == v for r in items) for v in (FAILED, UNVERIFIED, ALLOWED_V,
                                                             NOT_RUN)}
    name = f"breakglass check {summary.target}"
    seconds = sum(r.seconds or 0.0 for r in items)
    attrs = {"tests": str(len(items)), "failures": str(tally[FAILED]),
             "errors": str(tally[UNVERIFIED] + tally[NOT_RUN]), "skipped": str(tally[ALLOWED_V]),
             "time": f"{seconds:.3f}"}
    root = ET.Element("testsuites", {"name": "breakglass check", **attrs})
    suite = ET.SubElement(root, "testsuite", {"name": _x(name), **attrs,
                                              "timestamp": _x(summary.started or "")})
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", summary.run_id), ("gate", summary.target),
                       ("exit_code", summary.computed_exit_code()),
                       ("journal", summary.path)):
        ET.SubElement(props, "property", {"name": key, "value": _x(value)})
    for r in items:
        classname = (f"checklist.section{r.item.section:02d}" if r.item
                     else "checklist.preconditions")
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _x(r.id),
                                                 "time": f"{r.seconds or 0.0:.3f}"})
        counting = [f for f in r.findings if f.counts]
        first = counting[0] if counting else None
        message = _x(f"{first.code}: {one_line(first.message)}") if first else ""
        if r.verdict == FAILED:
            failed = [f for f in counting if f.outcome is Outcome.FAILED]
            el = ET.SubElement(case, "failure", {
                "message": _x(f"{failed[0].code}: {one_line(failed[0].message)}"),
                "type": _x(failed[0].code)})
            el.text = _findings_text(counting)
        elif r.verdict == UNVERIFIED and first is not None:
            el = ET.SubElement(case, "error", {"message": message, "type": _x(first.code)})
            el.text = _findings_text(counting)
        elif r.verdict == NOT_RUN:
            ET.SubElement(case, "error", {"message": "not run: the run stopped before this item",
                                          "type": "NOT_RUN"})
        elif r.verdict == ALLOWED_V:
            allowed = [f for f in r.findings if f.evidence.get(ALLOWED)]
            ET.SubElement(case, "skipped", {"message": _x(
                "; ".join(f"{f.code}: {one_line(f.message)}" for f in allowed))})
        if r.evidence:
            import json

            out = ET.SubElement(case, "system-out")
            out.text = _x(json.dumps(r.evidence, indent=2, ensure_ascii=False, default=str))
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


# -- docs ---------------------------------------------------------------------------------------
CATALOG_BEGIN = ("<!-- catalog: generated by `python -m breakglass.checklist.report "
                 "docs/check.md` -->")
CATALOG_END = "<!-- end of catalog -->"


def catalog_markdown() -> str:
    lines = ["| item | what | § | final | severity | owners | gates | verified by |",
             "|---|---|---|---|---|---|---|---|"]
    for i in catalog.ITEMS:
        how = "check" if i.check else f"attestation ({i.attest_days}d)"
        final = ", ".join(str(n) for n in i.final) or "-"
        title = i.title.replace("|", "\\|")  # a pipe would end the cell
        lines.append(f"| `{i.id}` | {title} | {i.section} | {final} | {i.severity.value} | "
                     f"{i.responsibility} | {', '.join(i.gate_names)} | {how} |")
    return "\n".join(lines)


def with_catalog(doc: str) -> str:
    """`doc` with the text between the catalog markers replaced by catalog_markdown()."""
    head, sep, rest = doc.partition(CATALOG_BEGIN)
    _, sep2, tail = rest.partition(CATALOG_END)
    if not sep or not sep2:
        raise ValueError("the catalog markers are missing")
    return f"{head}{CATALOG_BEGIN}\n{catalog_markdown()}\n{CATALOG_END}{tail}"


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/check.md")
    target.write_text(with_catalog(target.read_text("utf-8")), "utf-8")
    print(f"{target}: catalog table rewritten ({len(catalog.ITEMS)} items)")
