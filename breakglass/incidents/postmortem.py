"""The postmortem draft `incident.close` writes: `incidents/ID/postmortem.{md,html}` in the
state (0600 files under state_dir; with the state on S3 also objects there, kept as evidence
like run reports).

Built only from the journals (the incident's record and the tagged runs'), never from live
systems, except the follow-up that re-checks the checklist items the incident touched:

    summary              what the person closing it wrote
    time to containment  from the incident_opened event to the run_finished event of the first
                         lockout, rotate or rollback tagged with the incident that succeeded
                         (journal timestamps, both UTC)
    what was changed     each tagged run that could change something: its steps applied, its
                         final hash and where that hash was sent, whether its journal verifies
                         now, and the `runs.verify --anchor` line that proves it later
    follow-ups           incidents/followups.py
    checklist items      touched by the incident's runs, with their last result
    timeline             incidents/timeline.py
"""

from __future__ import annotations

import hashlib
import html
from datetime import datetime
from typing import Any

from breakglass.checklist.items import BY_ID
from breakglass.engine import journal as jr
from breakglass.engine.render import status_words
from breakglass.engine.report import html_page, html_rows
from breakglass.engine.runs import RunSummary
from breakglass.incidents.followups import FollowUp, changes_made
from breakglass.incidents.timeline import Timeline
from breakglass.text import human_duration

#: the runbooks that contain an incident: the first one that succeeds ends "time to containment"
CONTAINMENT = ("lockout", "rotate", "rollback")


def containment(tl: Timeline) -> dict[str, Any] | None:
    """When the first containment run succeeded, and how long after the incident opened."""
    done = [s for s in changes_made(tl.runs)
            if s.runbook in CONTAINMENT and s.status == "succeeded" and s.finished]
    if not done or not tl.incident.opened:
        return None
    first = min(done, key=lambda s: datetime.fromisoformat(str(s.finished)))
    seconds = (datetime.fromisoformat(str(first.finished))
               - datetime.fromisoformat(tl.incident.opened)).total_seconds()
    return {"seconds": round(seconds, 3), "text": human_duration(seconds),
            "from": tl.incident.opened, "to": first.finished, "run_id": first.run_id,
            "runbook": first.runbook, "target": first.target}


def _change(s: RunSummary) -> dict[str, Any]:
    problems = jr.verify(s.path)
    sent = [a for a in s.anchors if a.get("ok") and a.get("hash") == s.final_hash]
    return {
        "run_id": s.run_id, "runbook": s.runbook, "target": s.target,
        "status": status_words(s.status), "started": s.started, "finished": s.finished,
        "applied": [r.title or r.name for r in s.steps.values()
                    if r.applied and r.status != "undone"],
        "undone": [r.title or r.name for r in s.steps.values() if r.status == "undone"],
        "journal": str(s.path), "final_hash": s.final_hash,
        "verify": f"TAMPERED: {problems[0]}" if problems else f"journal intact ({s.path})",
        "hash_sent_to": list(dict.fromkeys(str(a["to"]) for a in sent)),
        "prove": (f"breakglass runs.verify {s.run_id} --anchor {s.final_hash}"
                  if s.final_hash else f"breakglass runs.verify {s.run_id}"),
    }


def build(tl: Timeline, followups: list[FollowUp], touched: dict[str, str], summary: str,
          closed: str, closed_by: str) -> dict[str, Any]:
    inc = tl.incident
    head = inc.events[-1].get("hash") if inc.events else None
    return {
        "id": inc.id, "title": inc.title, "severity": inc.severity, "opened": inc.opened,
        "opened_by": inc.opened_by, "closed": closed, "closed_by": closed_by,
        "summary": summary, "containment": containment(tl),
        "changes": [_change(s) for s in changes_made(tl.runs)],
        "followups": [f.to_dict() for f in followups],
        "checklist": [{"item": k, "title": BY_ID[k].title, "result": v}
                      for k, v in touched.items()],
        "timeline": [e.to_dict() for e in tl.entries],
        "record": {"path": str(inc.path), "head_hash": head, "intact": tl.intact,
                   "problems": tl.problems},
    }


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _when(doc: dict[str, Any]) -> str:
    c = doc["containment"]
    if c is None:
        return ("not reached: no lockout, rotate or rollback tagged with this incident "
                "succeeded")
    return (f"{c['text']} ({c['seconds']} s: opened {c['from']}, {c['runbook']} on "
            f"{c['target']} succeeded {c['to']}, run {c['run_id']})")


def to_markdown(doc: dict[str, Any]) -> str:
    out = [f"# Postmortem draft: {doc['title']} ({doc['id']}, {doc['severity']})", "",
           f"- opened: {doc['opened']} by {doc['opened_by']}",
           f"- closed: {doc['closed']} by {doc['closed_by']}",
           f"- time to containment: {_when(doc)}",
           f"- record: `{doc['record']['path']}` (head `{doc['record']['head_hash']}`)", "",
           "## Summary", "", doc["summary"], "", "## What was changed", ""]
    if not doc["changes"]:
        out += ["nothing: no run that changes things was tagged with this incident", ""]
    for c in doc["changes"]:
        out += [f"### {c['runbook']} on {_md(c['target'])}: {c['status']}", "",
                f"- run `{c['run_id']}`, {c['started']} → {c['finished'] or 'unfinished'}",
                f"- applied: {_md('; '.join(c['applied']) or 'nothing')}"]
        if c["undone"]:
            out.append(f"- undone: {_md('; '.join(c['undone']))}")
        sent = ", ".join(c["hash_sent_to"]) or "nobody (no notice carrying it was delivered)"
        out += [f"- evidence: {_md(c['verify'])}; final hash `{c['final_hash']}` sent to "
                f"{_md(sent)}", f"- prove it later: `{c['prove']}`", ""]
    out += ["## Follow-ups", ""]
    out += [f"- **{f['code']}** {_md(f['what'])} — next: {_md(f['action'])}"
            for f in doc["followups"]] or ["none found"]
    out += ["", "## Checklist items touched", ""]
    out += [f"- `{c['item']}` ({_md(c['title'])}): {c['result']}" for c in doc["checklist"]] \
        or ["none"]
    out += ["", "## Timeline", "", "| UTC | local | who | what | result | run |",
            "|---|---|---|---|---|---|"]
    out += [f"| {t['utc']} | {t['local']} | {_md(t['who'])} | {_md(t['what'])} | "
            f"{_md(t['result'])} | {t['run_id'] or ''} |" for t in doc["timeline"]]
    if doc["record"]["problems"]:
        out += ["", "## TAMPERED records", ""] + [f"- {_md(p)}" for p in
                                                  doc["record"]["problems"]]
    return "\n".join(out) + "\n"


def _nowrap(cell: str) -> str:
    """A time or a run id kept on one line (people copy them)."""
    return f'<span class="nowrap">{cell}</span>'


def _style(result: str) -> str:
    return "ok" if result in ("ok", "attested", "succeeded") else "failed"


def to_html(doc: dict[str, Any]) -> str:
    e = html.escape
    facts = html_rows([[k, v] for k, v in [
        ("incident", f"<code>{e(doc['id'])}</code> ({e(doc['severity'])})"),
        ("opened", f"{e(doc['opened'])} by {e(doc['opened_by'])}"),
        ("closed", f"{e(doc['closed'])} by {e(doc['closed_by'])}"),
        ("time to containment", e(_when(doc))),
        ("record", f"<code>{e(doc['record']['path'])}</code>, head "
                   f"<code>{e(str(doc['record']['head_hash']))}</code>"),
    ]])
    changes = html_rows([[
        _nowrap(f"<code>{e(c['run_id'])}</code>"), e(f"{c['runbook']} on {c['target']}"),
        f'<span class="{_style(c["status"])}">{e(c["status"])}</span>',
        e("; ".join(c["applied"]) or "nothing")
        + (f"<br><span class=\"muted\">undone: {e('; '.join(c['undone']))}</span>"
           if c["undone"] else ""),
        f"{e(c['verify'])}<br>final hash <code>{e(str(c['final_hash']))}</code><br>sent to "
        f"{e(', '.join(c['hash_sent_to']) or 'nobody')}<br><code>{e(c['prove'])}</code>",
    ] for c in doc["changes"]])
    followups = html_rows([[f"<code>{e(f['code'])}</code>", e(f["what"]), e(f["action"])]
                           for f in doc["followups"]])
    checklist = html_rows([[f"<code>{e(c['item'])}</code>", e(c["title"]),
                            f'<span class="{_style(c["result"])}">{e(c["result"])}</span>']
                           for c in doc["checklist"]])
    timeline = html_rows([[_nowrap(e(t["utc"])), _nowrap(e(t["local"])), e(t["who"]),
                           e(t["what"]), e(t["result"]),
                           _nowrap(f"<code>{e(t['run_id'] or '')}</code>")]
                          for t in doc["timeline"]])
    tampered = "".join(f"<li>{e(p)}</li>" for p in doc["record"]["problems"])

    def table(head: str, rows: str) -> str:
        if not rows:
            return '<p class="muted">none</p>'
        cols = "".join(f"<th>{h}</th>" for h in head.split("|"))
        return f"<table><tr>{cols}</tr>{rows}</table>"

    body = f"""<h1>Postmortem draft: {e(doc['title'])}</h1>
{f'<p class="failed">TAMPERED records:</p><ul>{tampered}</ul>' if tampered else ''}
<table>{facts}</table>
<h2>Summary</h2><p>{e(doc['summary'])}</p>
<h2>What was changed</h2>{table("run|runbook|result|applied|evidence", changes)}
<h2>Follow-ups</h2>{table("code|what is open|next", followups)}
<h2>Checklist items touched</h2>{table("item|title|result", checklist)}
<h2>Timeline</h2>{table("UTC|local|who|what|result|run", timeline)}"""
    return html_page(f"postmortem {doc['id']}: {doc['title']}", body)


def bodies(doc: dict[str, Any]) -> dict[str, bytes]:
    md = to_markdown(doc).encode("utf-8")
    return {"md": md, "html": to_html(doc).encode("utf-8")}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
