"""What a notice says, written for the person who must act (docs/notifications.md).

One `Notice` (breakglass.engine.hooks: the facts, from the run's journal) becomes, per channel:

    title      "Failed: drill.restore on backups.main (acme, production)"
    text       plain text wrapped at 80 columns: e-mail, SMS and any channel without Markdown
    markdown   the same, as Markdown: chat channels (Slack, Teams, Discord, Matrix, …)
    payload    a JSON document for webhooks (json://): run id, runbook, target, environment,
               verdict, exit code, findings, numbers, changes, links — the fields Rundeck's and
               AWS SSM's run notifications carry

The body reads top-down in the order a person acts: the verdict in one sentence, what failed
(code, what was seen, what to do), the key numbers, what was changed and what was not, then how
to see more. A run's status becomes words in one place, `verdict_of`: a drill whose disposable
copy was removed after a failure "failed" (the engine's "rolled back" reads as if production
had been rolled back).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from breakglass.engine.findings import Finding
from breakglass.engine.hooks import ENDINGS, Notice

WIDTH = 80
#: failing findings shown in full before "… and N more"; notes (INFO) after them
MAX_FAILING = 8
MAX_NOTES = 4
#: version of the JSON document's shape; raised on an incompatible change
PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class Verdict:
    word: str      # for machines and the first sentence: "failed", "could not verify"
    title: str     # for the title: "Failed"
    more: str = ""  # a second sentence: what the verdict means for the reader


def verdict_of(n: Notice) -> Verdict:
    """The only place where an event and the engine's status become words."""
    status = n.status
    if n.event == "start":
        said = "started" if status == "started" else status
        return Verdict(said, said[:1].upper() + said[1:],
                       "" if n.mutating else "It is read-only: it changes nothing.")
    if n.event == "approval":
        return Verdict("went past a failing check", "Check overridden", f"{status[:1].upper()}"
                       f"{status[1:]}: the run goes on without it.")
    if n.event == "test":
        return Verdict("test", "Test notice", "No action is needed.")
    if n.event == "incident":  # status: "opened (sev1)", "closed"
        return Verdict(status, f"Incident {status}")
    if n.event == "unverified":
        return Verdict("could not verify", "Could not verify", "Something it needed did not "
                       "answer, so this is NOT a pass: fix what is named below and run it again.")
    if n.event == "success":
        if status == "undone":
            return Verdict("undone", "Undone", "Its changes were undone as requested.")
        if not n.mutating:
            return Verdict("passed", "Passed")
        return Verdict("succeeded", "Succeeded", "Every change was made and verified.")
    if status.startswith("blocked"):
        item = status.removeprefix("blocked by precondition").strip()
        return Verdict("blocked", "Blocked", f"It did not start: precondition {item} failed, so "
                       "nothing was changed.")
    if "undo incomplete" in status:
        return Verdict("failed", "Failed, undo incomplete", "Undoing its changes failed too: "
                       "see Changes below.")
    if status == "rolled back":
        return Verdict("failed", "Failed", "What this run had set up or changed was undone; "
                       "nothing else was touched.")
    return Verdict("failed", "Failed")


def title(n: Notice) -> str:
    if n.event == "test":
        return f"breakglass test notice ({n.project}, {n.environment})"
    # An incident's id leads, so that a channel's notices of one incident read as one thread.
    tag = f"[{n.incident}] " if n.incident else ""
    if n.event == "incident":
        return f"{tag}{verdict_of(n).title}: {n.target} ({n.project}, {n.environment})"
    return (f"{tag}{verdict_of(n).title}: {n.runbook} on {n.target} ({n.project}, "
            f"{n.environment})")


def _failing(n: Notice) -> list[Finding]:
    return _unique(f for f in n.findings if f.counts)


def _notes(n: Notice) -> list[Finding]:
    return _unique(f for f in n.findings if not f.counts)


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.code, f.message), f)
    return list(seen.values())


def _lead(n: Notice) -> str:
    if n.event == "test":
        return f"A test notice for {n.project} ({n.environment})."
    if n.event == "incident":
        return f"Incident {n.incident} {n.status}: {n.target}."
    v = verdict_of(n)
    code = f" (exit {n.exit_code})" if n.exit_code is not None else ""
    return f"{n.runbook} on {n.target} {v.word}{code}." + (f" {v.more}" if v.more else "")


# A row of a section: what it is, its label, its text. "finding": a finding's code (and
# subject) then what was seen, with its next action in "action"; "field": a label and a
# value; "line": a sentence; "command": a command to paste, never wrapped.
Row = tuple[str, str, str]


def _sections(n: Notice) -> list[tuple[str, list[Row]]]:
    """(heading, rows) in the order a person acts on them."""
    out: list[tuple[str, list[Row]]] = []
    failing, notes = _failing(n), _notes(n)
    if failing:
        rows: list[Row] = []
        for f in failing[:MAX_FAILING]:
            rows += [("finding", f.code + (f" ({f.subject})" if f.subject else ""), f.message),
                     ("action", "what to do", f.action)]
        if len(failing) > MAX_FAILING:
            rows.append(("line", "", f"… and {len(failing) - MAX_FAILING} more: see runs.show "
                                     "below"))
        out.append(("What could not be checked" if n.event == "unverified" else "What is wrong",
                    rows))
    if n.message:
        out.append(("What happened", [("line", "", n.message)]))
    if n.figures:
        out.append(("Key numbers", [("field", fig.label, fig.text) for fig in n.figures]))
    if n.event in ENDINGS:
        out.append(("Changes", _changes(n)))
    if notes and n.event != "start":
        rows = [("finding", f.code, f.message) for f in notes[:MAX_NOTES]]
        if len(notes) > MAX_NOTES:
            rows.append(("line", "", f"… and {len(notes) - MAX_NOTES} more notes"))
        out.append(("Notes", rows))
    more: list[Row] = []
    if n.show:
        more.append(("command", "", n.show))
    if n.report:
        where = f" (on {n.host})" if n.host and "://" not in n.report else ""
        more.append(("field", "report", n.report + where))
    if n.anchor:
        more += [("field", "journal hash", n.anchor),
                 ("line", "", "Keep this notice: with the hash, this proves the journal was "
                              "not rewritten since:"),
                 ("command", "", f"breakglass runs.verify {n.run_id} --anchor {n.anchor}")]
    if more:
        out.append(("See more", more))
    return out


def _changes(n: Notice) -> list[Row]:
    if not n.mutating:
        return [("line", "", "None: this runbook only reads.")]
    rows: list[Row] = [("field", "applied", "; ".join(n.applied) or "nothing")]
    if n.undone:
        rows.append(("field", "undone", "; ".join(n.undone)))
    if n.not_applied:
        rows.append(("field", "not applied", "; ".join(n.not_applied)))
    return rows


def text(n: Notice) -> str:
    """Plain text, every line within 80 columns except a command to paste."""
    lines = _wrap(_lead(n), "")
    if n.event not in ("test", "incident"):
        lines.append(f"run {n.run_id}")
    for heading, rows in _sections(n):
        lines += ["", heading]
        for kind, label, value in rows:
            if kind == "command":
                lines.append(f"  {value}")
            elif kind == "line":
                lines += _wrap(value, "  ")
            elif kind == "action":
                lines += _wrap(f"{label}: {value}", "    ", "      ")
            else:
                lines += _wrap(f"{label}: {value}", "  ", "    ")
    return "\n".join(lines) + "\n"


def _wrap(value: str, indent: str, rest: str | None = None) -> list[str]:
    return textwrap.wrap(value, WIDTH, initial_indent=indent,
                         subsequent_indent=indent if rest is None else rest,
                         break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]


def markdown(n: Notice) -> str:
    """Markdown for chat channels: codes and commands as code, one bullet per fact."""
    lines = [_md(_lead(n))] + ([f"run `{n.run_id}`"] if n.event not in ("test", "incident")
                               else [])
    for heading, rows in _sections(n):
        lines += ["", f"**{heading}**"]
        for kind, label, value in rows:
            if kind == "command":
                lines.append(f"- `{value}`")
            elif kind == "line":
                lines.append(f"- {_md(value)}")
            elif kind == "finding":
                lines.append(f"- `{label}` {_md(value)}")
            elif kind == "action":
                lines.append(f"  - {label}: {_md(value)}")
            else:
                lines.append(f"- {label}: {_md(value)}")
    return "\n".join(lines) + "\n"


def _md(value: str) -> str:
    # Markdown would eat these (emphasis, links) and turn a plain path or name into markup.
    for ch in "\\*_[]`":
        value = value.replace(ch, "\\" + ch)
    return value


def payload(n: Notice) -> dict[str, Any]:
    """The JSON document for webhooks (docs/notifications.md lists its fields)."""
    v = verdict_of(n)
    numbers: dict[str, Any] = {}
    for fig in n.figures:
        numbers.update(fig.data)
    return {
        "breakglass_notice": PAYLOAD_VERSION, "event": n.event, "run_id": n.run_id,
        "project": n.project, "environment": n.environment, "runbook": n.runbook,
        "target": n.target, "verdict": v.word, "status": n.status, "exit_code": n.exit_code,
        "mutating": n.mutating,
        "findings": [_finding(f) for f in [*_failing(n), *_notes(n)]],
        "numbers": numbers, "figures": [{"label": f.label, "text": f.text} for f in n.figures],
        "changes": {"applied": list(n.applied), "not_applied": list(n.not_applied),
                    "undone": list(n.undone)} if n.mutating and n.event in ENDINGS else None,
        "detail": n.message or None,
        "links": {"runs_show": n.show or None, "report": n.report or None,
                  "host": n.host or None},
        "journal_hash": n.anchor or None,
        "incident": n.incident or None,
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {"code": f.code, "severity": f.severity.value, "outcome": f.outcome.value,
            "counts": f.counts, "subject": f.subject, "message": f.message, "action": f.action}


def test_notice(project: str, environment: str, responsibilities: Sequence[str]) -> Notice:
    """The notice `breakglass notify.test` sends."""
    return Notice(event="test", run_id="-", project=project, environment=environment,
                  runbook="notify.test", target="owners", mutating=False, status="test",
                  message="This is a test notice from `breakglass notify.test`. You are an "
                          f"owner of: {', '.join(responsibilities) or 'nothing yet'}. No action "
                          "is needed.")
