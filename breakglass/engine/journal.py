"""The run journal: append-only JSONL, each event hash-chained to the one before it.

    state_dir/runs/<run_id>.jsonl   one canonical JSON object per line:
                                    {"data", "hash", "prev", "seq", "ts", "type"}
    state_dir/runs/<run_id>.head    {"seq", "hash"} of the last event, replaced atomically

`hash` is sha256 over the canonical JSON of (seq, ts, type, data, prev) and `prev` is the previous
event's hash, so editing, inserting or reordering any event breaks the chain. Removing *trailing*
events leaves a valid shorter chain; the head file catches that. Because the event is appended
before the head is replaced, a crash between the two leaves the head exactly one event behind:
`verify` accepts that (and only that) lag, and the next append repairs it. An event past the head
is *unconfirmed* (`confirmed_seq`): it may be the last write before a crash, or a forgery, so it
is never a run's outcome (breakglass/engine/runs.py does not take a `run_finished` past the head).

Each line must also be byte-identical to the canonical serialisation of what it parses to, so an
edit that keeps the JSON meaning (an added space, an escaped character) is still detected.

What the chain and the head can prove, and what they cannot:

  * They catch accidents and careless edits: a changed byte, a removed, inserted or reordered
    event, a journal cut short while its head still names the old end.
  * They prove nothing against someone who can write the state folder. There is no secret key:
    anyone can recompute every hash and rewrite the head, so a rewritten journal, one extra
    correctly chained event, or a journal cut by one event with its head moved back all pass
    `verify`. The last two are limited (the extra or newly-last event is unconfirmed: it is not
    the run's end, a step done or a confirmation; runs.py) but not detected.
  * Only a hash kept elsewhere proves a journal: each finished run sends its final hash (the
    hash of its `run_finished` event) out with the owners' notice and to Sentry, and
    `breakglass runs.verify ID --anchor HASH` checks that an event with that hash is in the
    chain (`find_event`). A journal that matches is, up to that event, the one that existed when
    the notice went out; events after it (the records of the notices themselves) are not covered.

Every event's data passes through the run's redactor before it is hashed or written: a journal
never holds a secret. Directories are created 0700 and files 0600 whatever the umask, and every
append is fsync'd (a journal is evidence and the source of truth for `runs.resume`) — except in
the journal of a read-only run (its `run_started` says `"mutating": false`), which is fsync'd
once, at its `run_finished`: such a run changes nothing, so there is nothing to resume, and three
fsyncs per event made `breakglass check` of eleven web items spend ~0.8 s on fsync
(bench/check_observatory.py). Its head is still replaced atomically after every event, so a
killed process leaves the same consistent journal; only a power loss mid-run can lose its tail.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.connectors.files import fsync_dir, private_dir, write_private
from breakglass.engine.events import check_event
from breakglass.engine.redaction import Redactor

if TYPE_CHECKING:
    from breakglass.state.base import RemoteJournal

GENESIS = "0" * 64
#: Events that announce no change of their own: a shared journal sends them to S3 with the next
#: event that does (the commit points: a run's start or resume, `step_apply_started` before each
#: apply, a failure, an undo, a takeover, the run's end) or with `flush()`, which the engine
#: calls before the run's report and when the run lets go. A step's progress, its end, a
#: precondition's result, the confirmation, delivery and monitoring records: one S3 write per
#: change (a restore drill: 10 journal writes, not 21; bench/state_s3.py counts them). The local
#: file has them at once; when the write that was to carry them is refused they are cut from it
#: again, so the local copy never holds an event the bucket lacks past a refusal. A kill between
#: loses them in the bucket only (a resumed step re-observes: a step whose end was lost is
#: observed done and not applied twice). Any type not named here is a commit point.
SHARED_WITH_NEXT = frozenset({"step_started", "step_planned", "step_noop", "step_applied",
                              "step_verified", "step_done", "precondition", "confirmed",
                              "run_closing", "delivery", "anchor", "checkin", "log"})
_KEYS = {"seq", "ts", "type", "data", "prev", "hash"}


def canonical(obj: Any) -> str:
    """Stable JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(seq: int, ts: str, type_: str, data: Any, prev: str) -> str:
    body = canonical({"seq": seq, "ts": ts, "type": type_, "data": data, "prev": prev})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def runs_dir(state_dir: Path) -> Path:
    return state_dir / "runs"


def journal_path(state_dir: Path, run_id: str) -> Path:
    return runs_dir(state_dir) / f"{run_id}.jsonl"


def head_path(journal: Path) -> Path:
    return journal.with_suffix(".head")


class Journal:
    """Appends events to one run's journal. Not thread-safe; one writer (the lock holder)."""

    def __init__(self, path: Path, redactor: Redactor, seq: int = 0, last_hash: str = GENESIS,
                 remote: RemoteJournal | None = None):
        self.path = path
        self.redactor = redactor
        self.seq = seq
        self.last_hash = last_hash
        #: the shared copy (state on S3), written before the local file
        self.remote = remote
        #: (size, seq, hash) of the local file as last written to the shared copy
        self._shared = _shared_part(path, remote)
        #: fsync every event (False for a read-only run: see the module docstring)
        self.durable = True

    @classmethod
    def create(cls, state_dir: Path, run_id: str, redactor: Redactor,
               remote: RemoteJournal | None = None) -> Journal:
        return cls.create_at(journal_path(state_dir, run_id), redactor, remote)

    @classmethod
    def create_at(cls, path: Path, redactor: Redactor,
                  remote: RemoteJournal | None = None) -> Journal:
        """A new, empty chain at `path` (a run's, or another record kept the same way: an
        incident's, breakglass/incidents/record.py). Refuses an existing file."""
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
        fsync_dir(path.parent)
        return cls(path, redactor, remote=remote)

    @classmethod
    def reopen(cls, path: Path, redactor: Redactor,
               remote: RemoteJournal | None = None) -> Journal:
        """Continue an existing journal (resume). The caller verifies it first."""
        events = read_events(path)
        if not events:
            return cls(path, redactor, remote=remote)
        last = events[-1]
        journal = cls(path, redactor, int(last["seq"]), str(last["hash"]), remote)
        journal.durable = _durable(events[0])
        return journal

    def append(self, type_: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        check_event(type_, data)  # docs/runs.md lists them: a new one goes in engine/events.py
        # Redact, then round-trip through JSON so what is hashed is exactly what a reader parses
        # back (tuples become lists, enums their values via default=str).
        clean = json.loads(json.dumps(self.redactor.redact_obj(dict(data or {})), default=str))
        seq, ts, prev = self.seq + 1, utc_now(), self.last_hash
        digest = event_hash(seq, ts, type_, clean, prev)
        event = {"seq": seq, "ts": ts, "type": type_, "data": clean, "prev": prev, "hash": digest}
        line = (canonical(event) + "\n").encode("utf-8")
        if type_ not in SHARED_WITH_NEXT:
            # Shared first: an event only this machine holds could announce a change the
            # team's journal never records (and a refused write must leave no local trace).
            self._share(line)
        if type_ == "run_started":
            self.durable = _durable(event)
        sync = self.durable or type_ == "run_finished"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self.seq, self.last_hash = seq, digest
        write_private(head_path(self.path), canonical({"seq": seq, "hash": digest}).encode(),
                      durable=sync)
        if self.remote is not None and type_ not in SHARED_WITH_NEXT:
            self._shared = (self.path.stat().st_size, seq, digest)
        return event

    def flush(self) -> None:
        """Send the events held back for the next commit point (SHARED_WITH_NEXT) to the
        shared copy now: before the run's report is built from the journal, and when the run
        lets go (its last events are delivery records). Raises as `append` does."""
        if self.remote is None or self.path.stat().st_size == self._shared[0]:
            return
        self._share(b"")
        self._shared = (self.path.stat().st_size, self.seq, self.last_hash)

    def _share(self, line: bytes) -> None:
        """Write the local file plus `line` to the shared copy; on refusal, cut the held
        events from the local file (nothing stays here that the bucket refused)."""
        if self.remote is None:
            return
        try:
            self.remote.write(self.path.read_bytes() + line)
        except BaseException:
            self._cut_to_shared()
            raise

    def _cut_to_shared(self) -> None:
        """Drop the SHARED_WITH_NEXT events that the refused write was to share."""
        size, seq, digest = self._shared
        if self.path.stat().st_size == size:
            return
        os.truncate(self.path, size)
        self.seq, self.last_hash = seq, digest
        write_private(head_path(self.path), canonical({"seq": seq, "hash": digest}).encode())


def _durable(first: Mapping[str, Any]) -> bool:
    """Whether a journal whose first event is `first` fsyncs every event: all but a read-only
    run's (a journal that does not start with `run_started` keeps the safe default)."""
    data = first.get("data")
    return not (first.get("type") == "run_started" and isinstance(data, Mapping)
                and data.get("mutating") is False)


def _shared_part(path: Path, remote: RemoteJournal | None) -> tuple[int, int, str]:
    """(size, seq, hash) of the part of the local file that the shared copy holds: all of it,
    unless the shared copy is shorter (a run killed here held events back; resumed here, those
    are sent with its next write, and cut again if that write is refused)."""
    size = path.stat().st_size if path.exists() else 0
    shared = size if remote is None or remote.size is None else min(size, remote.size)
    events = read_events_of(path.read_bytes()[:shared]) if shared else []
    if not events:
        return shared, 0, GENESIS
    return shared, int(events[-1]["seq"]), str(events[-1]["hash"])


def read_events(path: Path) -> list[dict[str, Any]]:
    """Parse a journal without checking it (`verify` does that). Unparseable lines are skipped."""
    return read_events_of(path.read_bytes())


def read_events_of(raw: bytes) -> list[dict[str, Any]]:
    """The events of a journal's bytes, as `read_events`."""
    events: list[dict[str, Any]] = []
    for line in raw.split(b"\n"):
        if not line:
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return events


def verify(path: Path) -> list[str]:
    """Every problem with a journal's hash chain and head, one line each; [] when intact."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [f"{path}: cannot read: {exc.strerror or exc}"]
    problems: list[str] = []
    if raw and not raw.endswith(b"\n"):
        problems.append("journal does not end with a newline (last line edited or cut)")
    prev, seq = GENESIS, 0
    hashes: dict[int, str] = {}
    for lineno, line in enumerate(raw.split(b"\n")[:-1] if raw.endswith(b"\n") else
                                  raw.split(b"\n"), start=1):
        where = f"line {lineno}"
        try:
            text = line.decode("utf-8")
            ev = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            problems.append(f"{where}: not valid JSON")
            prev, seq = "?", seq + 1
            continue
        if not isinstance(ev, dict) or set(ev) != _KEYS:
            problems.append(f"{where}: not a journal event (keys differ)")
            prev, seq = "?", seq + 1
            continue
        seq += 1
        if canonical(ev) != text:
            problems.append(f"{where}: not in canonical form (edited)")
        if ev["seq"] != seq:
            problems.append(f"{where}: seq {ev['seq']!r}, expected {seq} (event removed, "
                            "inserted or reordered)")
        if ev["prev"] != prev and prev != "?":
            problems.append(f"{where}: prev does not match the hash of the event before it")
        try:
            expected = event_hash(ev["seq"], ev["ts"], ev["type"], ev["data"], ev["prev"])
        except (TypeError, ValueError):
            expected = ""
        if ev["hash"] != expected:
            problems.append(f"{where}: hash does not match the event's content (edited)")
        prev = ev["hash"] if isinstance(ev["hash"], str) else "?"
        hashes[seq] = prev
    problems.extend(_check_head(path, seq, hashes))
    return problems


def read_head(path: Path) -> tuple[int, str] | None:
    """(seq, hash) that the head file of journal `path` records; None when it is missing or
    unreadable."""
    try:
        head = json.loads(head_path(path).read_text("utf-8"))
        return int(head["seq"]), str(head["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def confirmed_seq(path: Path) -> int:
    """The last event the head confirms; later events are unconfirmed (see the module
    docstring). 0 when the head is missing or unreadable: then nothing is confirmed."""
    head = read_head(path)
    return head[0] if head is not None else 0


def find_event(path: Path, digest: str) -> dict[str, Any] | None:
    """The event of journal `path` whose hash is `digest` (an anchor), None when there is none.
    Only meaningful on a journal that verifies."""
    return next((ev for ev in read_events(path) if ev.get("hash") == digest), None)


def _check_head(path: Path, last_seq: int, hashes: Mapping[int, str]) -> list[str]:
    hp = head_path(path)
    head = read_head(path)
    if head is None:
        if not hp.exists():
            return [] if last_seq == 0 else [f"head file {hp.name} is missing"]
        return [f"head file {hp.name} is unreadable"]
    head_seq, head_hash = head
    if head_seq > last_seq:
        return [f"journal ends at event {last_seq} but its head records event {head_seq} "
                "(trailing events removed)"]
    if head_seq < last_seq - 1:
        return [f"head records event {head_seq} but the journal has {last_seq} events "
                "(events appended outside breakglass)"]
    if head_seq > 0 and hashes.get(head_seq) != head_hash:
        return [f"event {head_seq}'s hash differs from the head (event replaced)"]
    # head_seq == last_seq - 1: the one-event window of a crash between append and head update;
    # the chain itself (checked above) still proves those events were not edited. That last
    # event is unconfirmed (confirmed_seq): readers do not take it as the run's outcome.
    return []
