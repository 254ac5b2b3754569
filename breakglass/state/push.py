"""`breakglass state.push`: share what this machine holds and the shared state does not.

Two uses, one rule: runs journaled with `--local-state` while S3 was unreachable ("not shared
yet"), and a whole local state_dir from before the team moved its state to S3. Every journal is
verified before it goes (a chain that does not verify is left where it is, named, never
uploaded as evidence), and created with `If-None-Match: *`: what the bucket already holds is
never overwritten; the same bytes there count as pushed, different ones are a conflict to look
at. Records go one object each, reports as evidence (Object Lock retention where set up),
incident records like journals (breakglass/incidents/), and lockout snapshots only sealed with
age to `[project] state_recipients` (refused, and named, without recipients: they hold password
hashes and session ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from breakglass.connectors.s3objects import Conflict
from breakglass.engine import journal as jr
from breakglass.errors import UsageError
from breakglass.state import jsonl
from breakglass.state.base import SEALED
from breakglass.state.local import private_files
from breakglass.state.s3 import S3State

#: the local record files of a state_dir and the record names they become
RECORD_FILES = ("checklist/attestations", "drills/history", "drills/scenarios")
#: the folders of private blobs (lockout prior-state snapshots), pushed sealed
PRIVATE_FOLDERS = ("lockout/",)


@dataclass
class PushResult:
    pushed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one line each: what and why
    records: int = 0
    reports: int = 0
    private: int = 0
    incidents: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused


def push(state: S3State) -> PushResult:
    state.check()
    result = PushResult()
    shared = {item.key[len("runs/"):-len(".jsonl")]
              for item in state.bucket.listing("runs/") if item.key.endswith(".jsonl")}
    for path in sorted(state.runs_dir().glob("*.jsonl")):
        run_id = path.stem
        marker = state.runs_dir() / f"{run_id}.unshared"
        if run_id in shared and not marker.exists():
            continue
        problems = jr.verify(path)
        if problems:
            result.refused.append(f"run {run_id}: its journal does not verify ({problems[0]}); "
                                  "not pushed (see `breakglass runs.verify`)")
            continue
        body = path.read_bytes()
        try:
            state.bucket.put(f"runs/{run_id}.jsonl", body, create_only=True,
                             retain_until=state.retain_until())
            result.pushed.append(run_id)
        except Conflict:
            there = state.bucket.get(f"runs/{run_id}.jsonl")
            if there is None or there.body != body:
                result.refused.append(f"run {run_id}: the bucket holds a different journal "
                                      "under this id; both kept, compare them by hand")
                continue
            result.already.append(run_id)
        marker.unlink(missing_ok=True)
    for name in RECORD_FILES:
        for record in jsonl.read_records(state.local_dir / f"{name}.jsonl"):
            result.records += state.append_record(name, record)
    reports = state.local_dir / "reports"
    have = {item.key for item in state.bucket.listing("reports/")}
    for path in sorted(p for p in reports.rglob("*") if p.is_file()) if reports.is_dir() else []:
        name = path.relative_to(state.local_dir).as_posix()
        if name not in have:
            state.put_blob(name, path.read_bytes(), evidence=True)
            result.reports += 1
    _push_private(state, result)
    _push_incidents(state, result)
    return result


def _push_incidents(state: S3State, result: PushResult) -> None:
    """Incident records (`incidents/ID.jsonl`, breakglass/incidents/record.py) opened or added
    to with --local-state: verified, then created where the bucket has none, or written over
    the bucket's copy only when this one extends it (If-Match: notes added here while S3 was
    down). Their postmortem drafts go like reports."""
    folder = state.local_dir / "incidents"
    if not folder.is_dir():
        return
    have = {item.key for item in state.bucket.listing("incidents/")}
    for path in sorted(folder.glob("*.jsonl")):
        name = f"incidents/{path.name}"
        problems = jr.verify(path)
        if problems:
            result.refused.append(f"{name}: it does not verify ({problems[0]}); not pushed")
            continue
        body = path.read_bytes()
        there = state.bucket.get(name) if name in have else None
        if there is not None and there.body == body:
            continue
        if there is not None and not body.startswith(there.body):
            result.refused.append(f"{name}: the bucket holds a different record; both kept, "
                                  "compare them by hand")
            continue
        try:
            state.bucket.put(name, body, create_only=there is None,
                             if_match=there.etag if there is not None else None)
        except Conflict:
            result.refused.append(f"{name}: written by another machine meanwhile; run "
                                  "`breakglass state.push` again")
            continue
        result.incidents += 1
    for path in sorted(folder.glob("*/postmortem.*")):
        name = path.relative_to(state.local_dir).as_posix()
        if name not in have:
            state.put_blob(name, path.read_bytes(), evidence=True)
            result.reports += 1


def _push_private(state: S3State, result: PushResult) -> None:
    for folder in PRIVATE_FOLDERS:
        have = {item.key for item in state.bucket.listing(folder)}
        for name in private_files(state.local_dir, folder):
            if name + SEALED in have:
                continue
            try:
                sealed = state.seal((state.local_dir / name).read_bytes())
            except UsageError as exc:
                result.refused.append(f"{name}: not pushed: {exc}")
                continue
            try:
                state.bucket.put(name + SEALED, sealed, create_only=True)
            except Conflict:
                continue  # sealed by another machine meanwhile (the same snapshot's run)
            result.private += 1
