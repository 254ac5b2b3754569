"""Run reports (JSON, Markdown, HTML): the state's blobs `reports/<run_id>.*` — 0600 files under
state_dir, and with the state on S3 also objects there, written as evidence (an Object Lock
retention date where the bucket has Object Lock and `[project] evidence_retention` is set).

Built only from the journal (through runs.summarize), never from live objects: the journal is
redacted as it is written, so a report cannot carry a secret the journal does not, and report and
journal always tell the same story. The HTML is one self-contained file (inline CSS, no scripts,
no external resources) that an auditor can open offline; every value in it is escaped.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.engine.results import measures
from breakglass.engine.runs import RunSummary, report_names, summarize

if TYPE_CHECKING:
    from breakglass.state.base import State


def build(summary: RunSummary) -> dict[str, Any]:
    d = summary.to_dict()
    return {
        "run_id": d["run_id"], "runbook": d["runbook"], "title": d["title"],
        "target": d["target"], "params": d["params"], "mutating": d["mutating"],
        "dry_run": d["dry_run"], "status": d["status"], "verdict": d["verdict"],
        "exit_code": d["exit_code"], "started": d["started"], "finished": d["finished"],
        "steps": [{k: s[k] for k in ("step", "title", "status", "plan", "applied", "started",
                                     "finished", "seconds", "error")} for s in d["steps"]],
        # What failed or could not be verified first: the reader's first question.
        "findings": sorted(({k: f[k] for k in ("code", "severity", "outcome", "subject",
                                               "message", "action", "evidence")}
                            for f in d["findings"]), key=lambda f: _ORDER[f["outcome"]]),
        "measures": measures(summary),
        "deliveries": d["deliveries"], "lock_takeovers": d["lock_takeovers"], "undo": d["undo"],
        "journal": {"path": d["journal"], "events": d["events"], "head_hash": d["journal_head"]},
    }


_ORDER = {"failed": 0, "unverified": 1, "note": 2, "ok": 3}
#: how a finding's outcome reads in a report
_SAYS = {"ok": "ok", "note": "note", "unverified": "could not verify"}


def _says(f: dict[str, Any]) -> str:
    """"ok", "note", "could not verify", or "failed, SEVERITY"."""
    return _SAYS.get(f["outcome"], f"failed, {f['severity']}")


def write_reports(state: State, run_id: str, journal_path: Path) -> dict[str, Path]:
    """Store the three reports of the run in `state`; returns their local copies by format."""
    data = build(summarize(journal_path, run_id))
    bodies = {"json": (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode(),
              "md": to_markdown(data).encode("utf-8"), "html": to_html(data).encode("utf-8")}
    names = report_names(run_id)
    stored = state.put_blobs({names[fmt]: body for fmt, body in bodies.items()}, evidence=True)
    return {fmt: stored[name] for fmt, name in names.items()}


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    if not plan.get("actions"):
        return [f"no change: {plan.get('noop_reason') or 'nothing to do'}"]
    return [("DESTRUCTIVE " if a.get("destructive") else "") + a.get("description", "")
            + (f" -> {a['target']}" if a.get("target") else "") for a in plan["actions"]]


def _md(text: Any) -> str:
    # Table cells: pipes and newlines would break the row.
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(r: dict[str, Any]) -> str:
    out = [f"# {r['runbook']} on {r['target']} — {r['status'] or 'unfinished'}", "",
           f"- run: `{r['run_id']}`", f"- verdict: **{r['verdict']}** (exit {r['exit_code']})",
           f"- started: {r['started']}", f"- finished: {r['finished']}",
           f"- mutating: {r['mutating']}, dry run: {r['dry_run']}",
           f"- journal: `{r['journal']['path']}` ({r['journal']['events']} events, head "
           f"`{r['journal']['head_hash']}`)", "", "## Steps", "",
           "| step | status | seconds | plan |", "|---|---|---|---|"]
    for s in r["steps"]:
        secs = "" if s["seconds"] is None else f"{s['seconds']:.2f}"
        out.append(f"| {_md(s['step'])} | {_md(s['status'])} | {secs} | "
                   f"{_md('; '.join(_plan_lines(s['plan'])))} |")
    out += ["", "## Findings", ""]
    if not r["findings"]:
        out.append("none")
    for f in r["findings"]:
        nxt = f" — next: {_md(f['action'])}" if f["outcome"] != "ok" else ""
        out.append(f"- **{_md(f['code'])}** ({_says(f)}) {_md(f['subject'])}: "
                   f"{_md(f['message'])}{nxt}")
        if f["evidence"]:
            out.append(f"  - evidence: `{_md(json.dumps(f['evidence'], ensure_ascii=False))}`")
    if r["measures"]:
        out += ["", "## Measured", ""]
        for m in r["measures"]:
            values = ", ".join(f"{k} {v}" for k, v in m.items()
                               if k not in ("subject", "key") and v is not None)
            key = f" (`{_md(m['key'])}`)" if m.get("key") else ""
            out.append(f"- {_md(m['subject'])}{key}: {_md(values) or 'nothing measured'}")
    out += ["", "## Notifications", ""]
    if not r["deliveries"]:
        out.append("none")
    for d in r["deliveries"]:
        ok = "delivered" if d.get("ok") else f"FAILED: {_md(d.get('error', ''))}"
        out.append(f"- {d.get('event')} -> {_md(d.get('person'))} via "
                   f"{_md(d.get('channel'))}: {ok}")
    for t in r["lock_takeovers"]:
        out.append(f"\n> {_md(t)}")
    return "\n".join(out) + "\n"


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}code{font-size:90%}
.failed,.FAILED{color:#b00020;font-weight:600}.passed,.succeeded,.ok{color:#0a7d28;font-weight:600}
.unverified{color:#a15c00;font-weight:600}.note{color:#555}
.destructive{color:#b00020;font-weight:600}.muted{color:#777}.nowrap{white-space:nowrap}"""


def html_rows(cells: list[list[str]]) -> str:
    """Table rows of cells that are already HTML (escape every value first)."""
    return "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells)


def html_page(title: str, body: str) -> str:
    """One self-contained page (inline CSS, no script, nothing fetched): a run's report, an
    incident's postmortem (breakglass/incidents/postmortem.py). `body` is HTML already."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            f"{body}\n</body></html>\n")


def to_html(r: dict[str, Any]) -> str:
    e = html.escape

    rows = html_rows

    def plan_html(plan: dict[str, Any]) -> str:
        if not plan.get("actions"):
            reason = plan.get("noop_reason") or "nothing to do"
            return f'<span class="muted">no change: {e(reason)}</span>'
        items = []
        for a in plan["actions"]:
            mark = '<span class="destructive">DESTRUCTIVE</span> ' if a.get("destructive") else ""
            tgt = f" → <code>{e(str(a['target']))}</code>" if a.get("target") else ""
            items.append(f"<li>{mark}{e(str(a.get('description', '')))}{tgt}</li>")
        return "<ul>" + "".join(items) + "</ul>"

    steps = rows([[e(s["step"]), f'<span class="{e(s["status"])}">{e(s["status"])}</span>',
                   "" if s["seconds"] is None else f"{s['seconds']:.2f}", plan_html(s["plan"]),
                   e(s["error"])] for s in r["steps"]])
    findings = rows([[f"<code>{e(f['code'])}</code>",
                      f'<span class="{e(f["outcome"])}">{e(_says(f))}</span>',
                      e(f["subject"]), e(f["message"]), e(f["action"]),
                      f"<code>{e(json.dumps(f['evidence'], ensure_ascii=False))}</code>"]
                     for f in r["findings"]])
    deliveries = rows([[e(str(d.get("event"))), e(str(d.get("person"))),
                        e(str(d.get("channel"))),
                        '<span class="ok">delivered</span>' if d.get("ok")
                        else f'<span class="failed">failed</span> {e(str(d.get("error", "")))}']
                       for d in r["deliveries"]])
    status = e(str(r["status"] or "unfinished"))
    measured = "".join(
        f"<h2>Measured: {e(m['subject'])}</h2><table>"
        + rows([[e(k), f"<code>{e(str(v))}</code>"] for k, v in m.items()
                if k != "subject" and v is not None]) + "</table>"
        for m in r["measures"])
    facts = rows([[k, v] for k, v in [
        ("run", f"<code>{e(r['run_id'])}</code>"),
        ("verdict", f'<span class="{e(r["verdict"])}">{e(r["verdict"])}</span> '
                    f"(exit {e(str(r['exit_code']))})"),
        ("started", e(str(r["started"]))), ("finished", e(str(r["finished"]))),
        ("mutating / dry run", f"{r['mutating']} / {r['dry_run']}"),
        ("journal", f"<code>{e(r['journal']['path'])}</code> ({r['journal']['events']} events)"),
        ("journal head", f"<code>{e(r['journal']['head_hash'])}</code>"),
    ]] + [["lock", e(t)] for t in r["lock_takeovers"]])
    return html_page(f"breakglass {r['runbook']} {r['run_id']}", f"""\
<h1>{e(r['runbook'])} on {e(r['target'])} — <span class="{status}">{status}</span></h1>
<table>{facts}</table>
<h2>Steps</h2><table><tr><th>step</th><th>status</th><th>seconds</th><th>plan</th><th>error</th>
</tr>{steps}</table>
<h2>Findings</h2>{'<table><tr><th>code</th><th>result</th><th>subject</th>'
'<th>message</th><th>next action</th><th>evidence</th></tr>' + findings + '</table>'
if r['findings'] else '<p class="muted">none</p>'}{measured}
<h2>Notifications</h2>{'<table><tr><th>event</th><th>person</th><th>channel</th><th>result</th>'
'</tr>' + deliveries + '</table>' if r['deliveries'] else '<p class="muted">none</p>'}""")
