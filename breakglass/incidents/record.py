"""An incident's record: `incidents/ID.jsonl` in the state, a hash-chained journal written by
engine/journal.py like a run's (so `verify` catches an edited, removed or reordered event), and
with the state on S3 written through to the bucket with If-Match before the local copy.

    incident_opened   {id, title, severity, by, host, project, environment}
    note              {by, text}
    delivery          {event, person, channel, ok, error}   the owners' notice of open / close
    incident_closed   {by, summary, postmortem: {md, html, md_sha256}}

One incident is open at a time: `open_new` refuses a second. Two machines opening one at the
same moment can still both succeed (the check and the write are two requests); then every
command asks for `--id`, and runs are tagged with the first one opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.engine import journal as jr
from breakglass.errors import JournalTampered, StateLost, UsageError
from breakglass.state.base import whoami

if TYPE_CHECKING:
    from breakglass.engine.redaction import Redactor
    from breakglass.state.base import State

#: what a severity means, for the help and the error that lists them
SEVERITIES: Mapping[str, str] = {
    "sev1": "customers harmed or data exposed now",
    "sev2": "a real threat or a major function down",
    "sev3": "limited impact, contained",
    "sev4": "no impact yet: a suspicion, a near miss",
}
FOLDER = "incidents/"
MAX_TITLE = 200
MAX_NOTE = 2000
_ID = re.compile(r"^INC-[0-9]{8}-[0-9]{4}-[0-9a-f]{4}$")
#: parallel fetches of incident records a machine has not seen closed
_FETCHERS = 8
#: tries of an append that another machine's append beat (S3 If-Match): notes do not conflict
_APPEND_TRIES = 5


def chain_name(incident_id: str) -> str:
    return f"{FOLDER}{incident_id}.jsonl"


def postmortem_names(incident_id: str) -> dict[str, str]:
    return {fmt: f"{FOLDER}{incident_id}/postmortem.{fmt}" for fmt in ("md", "html")}


def new_id(now: datetime | None = None) -> str:
    """`INC-20261207-0312-a3f9`: the UTC date and minute it opened (sorts by time, short enough
    to say on a call) and a random part."""
    at = now or datetime.now(UTC)
    return f"INC-{at:%Y%m%d-%H%M}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Note:
    at: str
    by: str
    text: str


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    severity: str
    opened: str  # ISO 8601 UTC: the incident_opened event's time
    opened_by: str
    closed: str | None
    closed_by: str
    summary: str
    notes: tuple[Note, ...]
    events: tuple[dict[str, Any], ...]
    path: Path
    #: engine/journal.verify's problems with the record; () when intact
    problems: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.closed is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity,
                "opened": self.opened, "opened_by": self.opened_by, "closed": self.closed,
                "closed_by": self.closed_by or None, "summary": self.summary or None,
                "notes": [{"at": n.at, "by": n.by, "text": n.text} for n in self.notes],
                "record": str(self.path), "intact": not self.problems,
                "problems": list(self.problems)}


def _fold(incident_id: str, path: Path, events: list[dict[str, Any]],
          problems: list[str]) -> Incident:
    opened: dict[str, Any] = {}
    opened_at, closed_at, closed = "", None, {}
    notes: list[Note] = []
    for ev in events:
        d, t = ev.get("data") or {}, ev.get("type")
        if not isinstance(d, dict):
            continue
        if t == "incident_opened":
            opened, opened_at = d, str(ev.get("ts"))
        elif t == "note":
            notes.append(Note(str(ev.get("ts")), str(d.get("by", "?")), str(d.get("text", ""))))
        elif t == "incident_closed":
            closed, closed_at = d, str(ev.get("ts"))
    return Incident(incident_id, str(opened.get("title", "?")),
                    str(opened.get("severity", "?")), opened_at, str(opened.get("by", "?")),
                    closed_at, str(closed.get("by", "")), str(closed.get("summary", "")),
                    tuple(notes), tuple(events), path, tuple(problems))


def _local(state: State, incident_id: str) -> Path:
    return state.local_dir / chain_name(incident_id)


def read(state: State, incident_id: str, *, sync: bool = True) -> Incident:
    """The incident `incident_id` from its record, the chain checked (`problems`); a usage
    error for a malformed or unknown id."""
    check_id(incident_id)
    if sync:
        state.sync_chain(chain_name(incident_id))
    path = _local(state, incident_id)
    if not path.is_file():
        raise UsageError(f"no incident {incident_id} in {state.label} (`breakglass "
                         "incident.timeline` without --id shows the open one)")
    return _fold(incident_id, path, jr.read_events(path), jr.verify(path))


def check_id(incident_id: str) -> None:
    if not _ID.match(incident_id):
        raise UsageError(f"--id {incident_id!r} is not an incident id (like "
                         "INC-20261207-0312-a3f9, as incident.open printed it)")


def ids(state: State) -> list[str]:
    """Every incident of the state, oldest first (ids sort by the time they opened)."""
    out = []
    for name in state.names(FOLDER):
        rest = name[len(FOLDER):]
        if "/" not in rest and rest.endswith(".jsonl") and _ID.match(rest[:-len(".jsonl")]):
            out.append(rest[:-len(".jsonl")])
    return sorted(out)


def open_incidents(state: State) -> list[Incident]:
    """The incidents still open, oldest first. A record whose local copy says closed is not
    fetched again: a closed incident never reopens (its record only grows)."""
    maybe_open = [i for i in ids(state) if not _says_closed(_local(state, i))]
    if len(maybe_open) > 1:
        # A machine new to the state knows none closed yet: fetch them side by side (the
        # state's client is shared by threads, as in S3State.sync_runs).
        with ThreadPoolExecutor(min(_FETCHERS, len(maybe_open))) as pool:
            list(pool.map(lambda i: state.sync_chain(chain_name(i)), maybe_open))
    elif maybe_open:
        state.sync_chain(chain_name(maybe_open[0]))
    found = []
    for incident_id in maybe_open:
        path = _local(state, incident_id)
        if path.is_file() and not _says_closed(path):
            found.append(_fold(incident_id, path, jr.read_events(path), []))
    return found


def _says_closed(path: Path) -> bool:
    # The bytes, not the parsed events: every run start asks this of every incident there
    # is (tag_for); an event is canonical JSON, so its type is written exactly so.
    try:
        return b'"type":"incident_closed"' in path.read_bytes()
    except FileNotFoundError:
        return False


def tag_for(state: State) -> str | None:
    """The id a run started now is tagged with: the open incident (the first opened, if a race
    left two), None when none is open. The chains are not verified here: a damaged record must
    never stop a containment run; incident.timeline reports it."""
    found = open_incidents(state)
    return found[0].id if found else None


def choose(state: State, incident_id: str | None, *, for_change: bool) -> Incident:
    """The incident a command means: `incident_id`, else the one open. `for_change` (a note, a
    close): it must be open. Every refusal is a usage error naming the way on."""
    if incident_id:
        incident = read(state, incident_id)
        if for_change and not incident.is_open:
            raise UsageError(f"incident {incident.id} is closed (since {incident.closed}); "
                             "notes and a close go to an open incident: open a new one with "
                             "`breakglass incident.open \"title\" --severity sevN`")
        return incident
    found = open_incidents(state)
    if not found:
        known = ids(state)
        hint = (f"; past incidents: {', '.join(known[-3:])} (give one with --id)"
                if known and not for_change else "")
        raise UsageError("no open incident: open one with `breakglass incident.open \"title\" "
                         f"--severity sev1..sev4`{hint}")
    if len(found) > 1:
        raise UsageError(f"{len(found)} incidents are open ({', '.join(i.id for i in found)}): "
                         "say which with --id")
    return read(state, found[0].id, sync=False)


def validate_open(title: str, severity: str) -> tuple[str, str]:
    """(title, severity) cleaned, or a usage error naming what is wrong."""
    title = " ".join(title.split())
    if not title:
        raise UsageError("give the incident a title: `breakglass incident.open \"what is "
                         "happening\" --severity sev2`")
    if len(title) > MAX_TITLE:
        raise UsageError(f"the title is {len(title)} characters; keep it under {MAX_TITLE} "
                         "(details go into `breakglass incident.note`)")
    sev = severity.strip().lower()
    if sev not in SEVERITIES:
        listed = "; ".join(f"{k}: {v}" for k, v in SEVERITIES.items())
        given = f"--severity {severity!r} is not one of sev1..sev4" if severity.strip() else \
            "give --severity"
        raise UsageError(f"{given} ({listed})")
    return title, sev


def validate_text(text: str, what: str, limit: int = MAX_NOTE) -> str:
    clean = text.strip()
    if not clean:
        raise UsageError(f"the {what} is empty: say what happened, e.g. `breakglass "
                         "incident.note \"customer reports logins from Brazil\"`")
    if len(clean) > limit:
        raise UsageError(f"the {what} is {len(clean)} characters; keep it under {limit}")
    return clean


def open_new(state: State, redactor: Redactor, title: str, severity: str, project: str,
             environment: str) -> Incident:
    """Start a new incident's record; refused while another incident is open."""
    title, severity = validate_open(title, severity)
    found = open_incidents(state)
    if found:
        first = found[0]
        raise UsageError(f"incident {first.id} is open ({first.title!r}, {first.severity}): "
                         "add to it with `breakglass incident.note \"…\"`, or close it first "
                         "with `breakglass incident.close --summary \"…\"`")
    incident_id = new_id()
    name = chain_name(incident_id)
    journal = jr.Journal.create_at(state.local_dir / name, redactor,
                                   state.chain_writer(name, create=True))
    journal.append("incident_opened", {"id": incident_id, "title": title,
                                       "severity": severity, "by": whoami(),
                                       "host": socket.gethostname(), "project": project,
                                       "environment": environment})
    return read(state, incident_id, sync=False)


def append(state: State, redactor: Redactor, incident_id: str, type_: str,
           data: Mapping[str, Any]) -> dict[str, Any]:
    """Add one event to the incident's record. Another writer's append in between (a note from
    another machine) is not an error: the chain is read again and this event goes after it."""
    name = chain_name(incident_id)
    for attempt in range(_APPEND_TRIES):
        with _locked(_local(state, incident_id)):
            remote = state.chain_writer(name, create=False)
            path = _local(state, incident_id)
            problems = jr.verify(path)
            if problems:
                raise JournalTampered(f"the record of incident {incident_id} does not verify "
                                      f"({problems[0]}); nothing added. See `breakglass "
                                      f"incident.timeline --id {incident_id}`")
            if type_ in ("note", "incident_closed") and _says_closed(path):
                raise UsageError(f"incident {incident_id} was closed meanwhile (by another "
                                 "machine?); see `breakglass incident.timeline --id "
                                 f"{incident_id}`")
            journal = jr.Journal.reopen(path, redactor, remote)
            try:
                event = journal.append(type_, data)
                # One append per call: no later event will carry one the journal holds back
                # for its next write (a delivery record; engine/journal.py SHARED_WITH_NEXT).
                journal.flush()
                return event
            except StateLost as exc:
                if exc.code != "JOURNAL_CONFLICT" or attempt == _APPEND_TRIES - 1:
                    raise
    raise AssertionError("unreachable")  # the loop returns or raises


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time on this machine (two notes typed at once in two terminals)."""
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
