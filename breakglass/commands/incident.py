"""`breakglass incident.open / incident.note / incident.timeline / incident.close`
(docs/incidents.md).

Exit codes: 0 done; 1 a record does not verify (the incident's or a tagged run's journal was
edited: the timeline is still printed, marked TAMPERED; a note or a close is refused when the
incident's own record is the one edited); 2 bad input (no open incident, a closed or unknown
one, an empty title, note or summary, a bad severity) with nothing written; 3 the state could
not be reached.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import FORMAT_HELP, STATE_HELP, App, handle_errors, write_json
from breakglass.errors import EXIT_FINDING, EXIT_OK

if TYPE_CHECKING:
    from breakglass.engine.hooks import Delivery
    from breakglass.incidents.record import Incident
    from breakglass.incidents.timeline import Timeline
    from breakglass.state.base import State

_READ_HELP = {"config": "path to breakglass.toml", "json_": "the same as --format json",
              "format_": FORMAT_HELP, "id": "the incident (INC-…); default: the one open"}
_HELP = {**_READ_HELP, "local_state": STATE_HELP["local_state"]}
_ID_HELP = dict(_HELP)
del _HELP["id"]


def _state(app: App) -> State:
    from breakglass.state import open_state

    return open_state(app.config)


def _record_deliveries(app: App, state: State, incident: Incident,
                       got: list[Delivery]) -> None:
    from breakglass.incidents import record

    for d in got:
        record.append(state, app.redactor, incident.id, "delivery",
                      {"event": "incident", **d.to_dict()})
    failed = [d for d in got if not d.ok]
    if not app.json_output:
        told = len(got) - len(failed)
        app.console.print(f"told {told} of {len(got)} incident_response channel(s)")
        for d in failed:
            app.console.print(f"notice not delivered: {d.person} via {d.channel}: {d.error}")


def _tell(app: App, incident: Incident, status: str, message: str) -> list[Delivery]:
    from breakglass.incidents.tell import notice, tell
    from breakglass.notify import build_notifier

    notifier = build_notifier(app.config, app.secrets, app.redactor)
    return tell(notifier, notice(app.config, incident, status, message))


def _doc(app: App, body: dict[str, Any]) -> None:
    from breakglass.engine.results import document

    write_json(app, document("incident", body))


@task(help={**_HELP, "title": "what is happening, in a line",
            "severity": "sev1 (harm or exposure now), sev2 (real threat, major function "
                        "down), sev3 (limited, contained) or sev4 (suspicion, near miss)"})
@handle_errors
def open_(c: Context, title: str, severity: str = "", config: str | None = None,
          json_: bool = False, format_: str = "", local_state: bool = False) -> None:
    """Open an incident: every run, notice and override from now on carries its id, and the
    owners of incident_response are told. One incident is open at a time."""
    from breakglass.incidents import record

    title, severity = record.validate_open(title, severity)
    app = App(config, json_, fmt=format_, local_state=local_state)
    cfg = app.config
    state = _state(app)
    incident = record.open_new(state, app.redactor, title, severity, cfg.project.name,
                               cfg.project.environment)
    if not app.json_output:
        app.console.print(f"incident {incident.id} opened ({severity}): {title}")
        app.console.print("runs started from now on are tagged with it; add what you learn "
                          "with `breakglass incident.note \"…\"`, end it with `breakglass "
                          "incident.close --summary \"…\"`", soft_wrap=True)
    got = _tell(app, incident, f"opened ({severity})",
                f"Opened by {incident.opened_by} on {socket.gethostname()}. Runs started "
                "now are tagged with it.")
    _record_deliveries(app, state, incident, got)
    if app.json_output:
        _doc(app, {"incident": record.read(state, incident.id, sync=False).to_dict(),
                   "deliveries": [d.to_dict() for d in got], "exit_code": EXIT_OK})


@task(help={**_ID_HELP, "text": "the line to add: what was seen or decided",
            "by": "who says it (default: your login name)"})
@handle_errors
def note(c: Context, text: str, id: str = "", by: str = "", config: str | None = None,
         json_: bool = False, format_: str = "", local_state: bool = False) -> None:
    """Add a person's line to the open incident's timeline."""
    from breakglass.incidents import record
    from breakglass.state.base import whoami

    text = record.validate_text(text, "note")
    app = App(config, json_, fmt=format_, local_state=local_state)
    state = _state(app)
    incident = record.choose(state, id.strip() or None, for_change=True)
    ev = record.append(state, app.redactor, incident.id, "note",
                       {"by": by.strip() or whoami(), "text": text})
    if app.json_output:
        _doc(app, {"incident": record.read(state, incident.id, sync=False).to_dict(),
                   "exit_code": EXIT_OK})
    else:
        app.console.print(f"note added to incident {incident.id} at {ev['ts']}")


@task(help=_READ_HELP)
@handle_errors
def timeline(c: Context, id: str = "", config: str | None = None, json_: bool = False,
             format_: str = "") -> None:
    """The incident's story in order, from its record and the journals of the runs tagged with
    it: UTC and local time, who, what, result, run id. Exit 1 when a record does not verify."""
    from breakglass.incidents import record
    from breakglass.incidents.timeline import build

    app = App(config, json_, fmt=format_)
    state = _state(app)
    tl = build(state, record.choose(state, id.strip() or None, for_change=False))
    code = EXIT_OK if tl.intact else EXIT_FINDING
    if app.json_output:
        _doc(app, _timeline_body(tl, code))
    else:
        _print_timeline(app, tl)
    if code:
        raise Exit(code=code)


@task(help={**_ID_HELP, "summary": "what happened and how it ended, for the postmortem"})
@handle_errors
def close(c: Context, summary: str = "", id: str = "", config: str | None = None,
          json_: bool = False, format_: str = "", local_state: bool = False) -> None:
    """Close the open incident and write its postmortem draft (Markdown and HTML under
    state_dir/incidents/ID/, and in the shared state): summary, timeline, what was changed and
    its evidence, time to containment, follow-ups, checklist items touched."""
    from breakglass.checklist.model import CheckContext
    from breakglass.engine.journal import utc_now
    from breakglass.incidents import followups, postmortem, record
    from breakglass.incidents.timeline import build
    from breakglass.state.base import whoami

    summary = record.validate_text(summary, "summary", limit=5000)
    app = App(config, json_, fmt=format_, local_state=local_state)
    state = _state(app)
    incident = record.choose(state, id.strip() or None, for_change=True)
    if incident.problems:
        from breakglass.errors import JournalTampered

        raise JournalTampered(f"the record of incident {incident.id} does not verify "
                              f"({incident.problems[0]}); not closed. See `breakglass "
                              f"incident.timeline --id {incident.id}`")
    tl = build(state, incident)
    touched = followups.touched_items(tl.runs)
    checks = CheckContext(config=app.config, secrets=app.secrets, state_dir=state.local_dir,
                          redactor=app.redactor)
    open_items = followups.collect(followups.Facts(tl, checks, touched))
    by = whoami()
    doc = postmortem.build(tl, open_items, touched, summary, utc_now(), by)
    bodies = {k: app.redactor.redact(v.decode()).encode()
              for k, v in postmortem.bodies(doc).items()}
    names = record.postmortem_names(incident.id)
    paths = {fmt: state.put_blob(name, bodies[fmt], evidence=True) for fmt, name in names.items()}
    record.append(state, app.redactor, incident.id, "incident_closed", {
        "by": by, "summary": summary,
        "postmortem": {**names, **{f"{k}_sha256": postmortem.sha256(v)
                                   for k, v in bodies.items()}}})
    ttc = doc["containment"]
    said = f"time to containment {ttc['text']}" if ttc else "no containment run succeeded"
    if not app.json_output:
        app.console.print(f"incident {incident.id} closed; {said}; {len(open_items)} "
                          "follow-up(s)")
        app.console.print(f"postmortem draft: {paths['html']} (also .md)", soft_wrap=True)
        for f in open_items:
            app.console.print(f"  follow-up {f.code}: {f.what}; next: {f.action}",
                              soft_wrap=True)
        if not tl.intact:
            app.console.print(f"TAMPERED: {tl.problems[0]} (the postmortem says so)",
                              soft_wrap=True)
    got = _tell(app, incident, "closed", f"Closed by {by}: {summary} ({said}; "
                f"{len(open_items)} follow-up(s)). Postmortem draft: "
                f"{state.blob_link(names['html']) or paths['html']}")
    _record_deliveries(app, state, incident, got)
    code = EXIT_OK if tl.intact else EXIT_FINDING
    if app.json_output:
        _doc(app, {"incident": record.read(state, incident.id, sync=False).to_dict(),
                   "postmortem": {"paths": {k: str(v) for k, v in paths.items()},
                                  "containment": ttc, "followups": doc["followups"],
                                  "checklist": doc["checklist"]},
                   "deliveries": [d.to_dict() for d in got], "exit_code": code})
    if code:
        raise Exit(code=code)


def _timeline_body(tl: Timeline, code: int) -> dict[str, Any]:
    return {"incident": tl.incident.to_dict(), "timeline": [e.to_dict() for e in tl.entries],
            "runs": [s.run_id for s in tl.runs], "intact": tl.intact,
            "problems": tl.problems, "exit_code": code}


def _print_timeline(app: App, tl: Timeline) -> None:
    from rich.text import Text

    from breakglass.engine import render

    inc = tl.incident
    state = f"closed {inc.closed}" if inc.closed else "open"
    app.console.print(Text(f"incident {inc.id} ({inc.severity}, {state}): {inc.title}",
                           style="bold"), soft_wrap=True)
    for p in tl.problems:
        app.console.print(Text(f"TAMPERED: {p}", style="bold red"), soft_wrap=True)
    # `what` last: the one column that may wrap in a table; a run id is never cut.
    render.rows(app.console, ("UTC", "local", "who", "run", "result", "what"),
                ([Text(e.utc()), Text(e.local()), Text(e.who), Text(e.run_id or "-"),
                  Text(e.result or "-"), Text(e.what)] for e in tl.entries), app.tables)
