"""The incident's story in order: its own record (opened, notes, notices, closed) and the events
that matter of every run tagged with it (started, overrides, steps changed or failed, undone,
notices, ended), each chain verified first.

A run is tagged with the incident when its `run_started` event carries the incident's id (the
CLI looks the open incident up for every run; engine/executor.py writes it). Only runs started
after the incident opened can carry it, and run ids start with their start time: on S3 only
those journals are fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.engine import journal as jr
from breakglass.engine.render import status_words
from breakglass.engine.runs import RunSummary, journal_paths, summarize

if TYPE_CHECKING:
    from breakglass.incidents.record import Incident
    from breakglass.state.base import State


@dataclass(frozen=True)
class Entry:
    at: str  # ISO 8601 UTC, from the journal
    who: str
    what: str
    result: str
    run_id: str = ""  # "" for the incident's own events

    def local(self) -> str:
        """The time in this machine's zone (TZ), as people on the call read clocks."""
        return _parse(self.at).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")

    def utc(self) -> str:
        return _parse(self.at).strftime("%Y-%m-%d %H:%M:%S")

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "utc": self.utc(), "local": self.local(), "who": self.who,
                "what": self.what,
                "result": self.result, "run_id": self.run_id or None}


@dataclass
class Timeline:
    incident: Incident
    entries: list[Entry] = field(default_factory=list)
    #: the tagged runs, oldest first
    runs: list[RunSummary] = field(default_factory=list)
    #: one line per record that does not verify (the incident's or a run's journal)
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at)


def _compact(at: str) -> str:
    """A run id's leading "YYYYmmddTHHMMSS" of an ISO time."""
    return _parse(at).strftime("%Y%m%dT%H%M%S")


def build(state: State, incident: Incident) -> Timeline:
    tl = Timeline(incident)
    tl.problems += [f"incident record {incident.path}: {p}" for p in incident.problems]
    tl.entries += _incident_entries(incident)
    since = _compact(incident.opened) if incident.opened else None
    state.sync_runs(since=since)
    for path in tagged_runs(state.local_dir, incident, since):
        summary = summarize(path, path.stem)
        tl.runs.append(summary)
        problems = jr.verify(path)
        tl.problems += [f"run {path.stem}: {p} (`breakglass runs.verify {path.stem}`)"
                        for p in problems[:1]]
        tl.entries += _run_entries(path, summary)
    tl.entries.sort(key=lambda e: _parse(e.at))
    return tl


def tagged_runs(state_dir: Path, incident: Incident, since: str | None) -> list[Path]:
    """The journals whose `run_started` carries the incident's id, oldest first."""
    out = []
    for path in journal_paths(state_dir):
        if since is not None and path.stem[:len(since)] < since:
            continue
        events = jr.read_events(path)
        first = events[0] if events else {}
        data = first.get("data") if first.get("type") == "run_started" else None
        if isinstance(data, dict) and data.get("incident") == incident.id:
            out.append(path)
    return out


def _incident_entries(incident: Incident) -> list[Entry]:
    out = []
    for ev in incident.events:
        d, t, at = ev.get("data") or {}, ev.get("type"), str(ev.get("ts"))
        if not isinstance(d, dict):
            continue
        if t == "incident_opened":
            out.append(Entry(at, str(d.get("by", "?")), f"opened incident {incident.id}: "
                             f"{d.get('title')} ({d.get('severity')})",
                             f"on {d.get('host', '?')}"))
        elif t == "note":
            out.append(Entry(at, str(d.get("by", "?")), f"note: {d.get('text')}", ""))
        elif t == "delivery":
            out.append(_delivery(at, d, "", "the incident's"))
        elif t == "incident_closed":
            out.append(Entry(at, str(d.get("by", "?")), f"closed: {d.get('summary')}",
                             "postmortem draft written"))
    return out


def _delivery(at: str, d: dict[str, Any], run_id: str, about: str) -> Entry:
    ok = "delivered" if d.get("ok") else f"NOT delivered: {d.get('error')}"
    event = "" if d.get("event") == "incident" else f" {d.get('event')}"
    return Entry(at, "breakglass", f"told {d.get('person')} via {d.get('channel')} "
                 f"({about}{event} notice)", ok, run_id)


def _run_entries(path: Path, s: RunSummary) -> list[Entry]:
    """The events of a run that tell the story; plans, observations and verifications are in
    `breakglass runs.show ID`."""
    out: list[Entry] = []
    run_id = s.run_id
    who = "?"
    titles: dict[str, str] = {}
    for ev in jr.read_events(path):
        d, t, at = ev.get("data") or {}, ev.get("type"), str(ev.get("ts"))
        if not isinstance(d, dict):
            continue
        step = str(d.get("step", ""))
        name = titles.get(step) or step
        if t == "run_started":
            who = str(d.get("by") or "?")
            dry = " (dry run)" if d.get("dry_run") else ""
            out.append(Entry(at, who, f"{s.runbook} on {s.target} started{dry}",
                             f"on {d.get('host', '?')}", run_id))
        elif t == "step_planned":
            titles[step] = str(d.get("title") or step)
        elif t == "precondition_overridden":
            out.append(Entry(at, str(d.get("by") or who), f"overrode {d.get('item')}: "
                             f"{d.get('because')}", "went on past a failing check", run_id))
        elif t == "step_done" and d.get("applied"):
            out.append(Entry(at, who, name, "changed", run_id))
        elif t == "step_failed":
            out.append(Entry(at, who, name, f"failed: {d.get('error')}", run_id))
        elif t == "undo_step_done":
            out.append(Entry(at, who, f"undo {name}", "undone", run_id))
        elif t == "undo_step_failed":
            out.append(Entry(at, who, f"undo {name}", f"undo failed: {d.get('error')}", run_id))
        elif t == "lock_takeover":
            out.append(Entry(at, who, str(d.get("message")), "", run_id))
        elif t == "delivery":
            out.append(_delivery(at, d, run_id, s.runbook))
        elif t == "run_finished":
            code = d.get("exit_code")
            out.append(Entry(at, who, f"{s.runbook} on {s.target} ended",
                             f"{status_words(str(d.get('status')))} (exit {code})", run_id))
    return out
