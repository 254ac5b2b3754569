"""The shared backend: the state under `s3://bucket/prefix/`, with state_dir as its cache.

Every write that two machines could race on is conditional (connectors/s3objects.py):

* A **lease** is `locks/RUNBOOK__TARGET.json`, created with `If-None-Match: *` and renewed by a
  heartbeat thread with `If-Match: ETAG` every third of `[project] lease_ttl`. Whoever finds it
  expired (or released, or held by a dead process on the same machine) replaces it with
  `If-Match` on the ETag it read: of two machines taking over at once, one wins. A holder
  whose renewal fails (taken over, or S3 gone past the expiry) has lost the lease; the run
  stops before its next change.
* A **journal** is `runs/RUN_ID.jsonl`, the whole chain, replaced on each append with
  `If-Match` on the ETag of the version it extends (`If-None-Match: *` for the first event).
  Two writers can never fork a chain: the second one's append fails and its run stops.
  Each append goes to S3 before the local cache, and an event that is not written cannot be
  followed by the change it announces (a step's progress events ride along with the step's
  next append: engine/journal.py SHARED_WITH_NEXT).
* **Records** (attestations, drill and scenario histories) are one object each, created with
  `If-None-Match: *`: nothing to merge, and immutable objects cache forever.
* **Reports** and journals get an Object Lock retention date when the bucket has Object Lock
  and `[project] evidence_retention` is set.
* **Private blobs** (lockout prior-state snapshots: password hashes, session ids) leave this
  machine only sealed with age to `[project] state_recipients` (`NAME.age`); without recipients
  they are refused. Another machine opens them with `[project] state_identity`. The plaintext
  stays only in the 0600 local cache.

`breakglass-state.json` at the prefix marks it as breakglass state and records the format: a
prefix holding other objects is refused, and so is state written by a newer breakglass.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from breakglass.connectors import age, aws
from breakglass.connectors.files import private_dir, write_private
from breakglass.connectors.s3objects import Bucket, Conflict, Listed, Obj
from breakglass.errors import CouldNotVerify, LockHeld, StateLost, UsageError
from breakglass.state import jsonl
from breakglass.state.base import (
    FORMAT,
    SEALED,
    EvidenceLock,
    Holder,
    Lease,
    RemoteJournal,
    State,
    lease_name,
    safe_name,
    whoami,
)
from breakglass.state.local import private_files

MARKER = "breakglass-state.json"
#: parallel downloads when the cache is filled (a first runs.list on a new machine)
FETCHERS = 16


#: how long a presigned link to a report works (the longest SigV4 allows)
LINK_SECONDS = 7 * 24 * 3600

def _now() -> datetime:
    return datetime.now(UTC)


class S3State(State):
    shared = True

    def __init__(self, url: str, local_dir: Path, settings: aws.AwsSettings | None, *,
                 lease_ttl: timedelta, evidence_retention: timedelta | None,
                 recipients: Sequence[str] = ()) -> None:
        import urllib.parse

        parsed = urllib.parse.urlsplit(url)
        prefix = parsed.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = Bucket(settings, parsed.netloc, prefix, url)
        self.local_dir = local_dir
        self.label = url
        self.lease_ttl = lease_ttl
        self.evidence_retention = evidence_retention
        self.recipients = tuple(recipients)
        self._checked = False
        self._object_lock: bool | None = None
        #: leases this process holds: while a run goes on, what it lists is listed once
        self._runs_held = 0
        #: records folder -> its listing, kept while a run goes on (`records`): a run reads
        #: the same history several times (each observe of a step); its own append, or the
        #: run's end, drops it
        self._run_listings: dict[str, list[Listed]] = {}

    # -- the prefix itself -------------------------------------------------------------------
    def check(self) -> None:
        """Once per process: the prefix is breakglass state of a format we read (or empty, and
        then marked as ours)."""
        if self._checked:
            return
        marker = self.bucket.get(MARKER)
        if marker is None:
            if self.bucket.any_object():
                raise UsageError(f"[project] state: {self.label} holds other objects and no "
                                 f"{MARKER}; point it at an empty prefix (e.g. "
                                 f"{self.label.rstrip('/')}/breakglass/)")
            doc = {"format": FORMAT, "created": _now().isoformat(timespec="seconds")}
            with contextlib.suppress(Conflict):  # another machine marked it first: fine
                self.bucket.put(MARKER, json.dumps(doc).encode(), create_only=True)
        else:
            try:
                fmt = int(json.loads(marker.body)["format"])
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"[project] state: {self.label}{MARKER} is not breakglass's; "
                                 "point [project] state at another prefix") from None
            if fmt > FORMAT:
                raise UsageError(f"[project] state: {self.label} was written by a newer "
                                 f"breakglass (state format {fmt}, this one reads {FORMAT}); "
                                 "upgrade breakglass on this machine")
        self._checked = True

    def retain_until(self) -> datetime | None:
        if self.evidence_retention is None:
            return None
        if self._object_lock is None:
            self._object_lock = self.bucket.facts().object_lock
        return _now() + self.evidence_retention if self._object_lock else None

    # -- leases ------------------------------------------------------------------------------
    def lease(self, runbook: str, target: str) -> Lease:
        self.check()
        return S3Lease(self.bucket, runbook, target, self.lease_ttl,
                       memo_dir=self.local_dir / "locks", on_hold=self._held)

    def _held(self, holding: bool) -> None:
        self._runs_held += 1 if holding else -1
        if not self._runs_held:
            self._run_listings.clear()

    def holder(self, runbook: str, target: str) -> Holder | None:
        obj = self.bucket.get(f"locks/{lease_name(runbook, target)}.json")
        return live_holder(obj) if obj is not None else None

    # -- journals ----------------------------------------------------------------------------
    def remote_journal(self, run_id: str, *, create: bool) -> RemoteJournal | None:
        self.check()
        key = f"runs/{run_id}.jsonl"
        if create:
            return S3Journal(self, key, None)
        current = self.bucket.get(key)
        if current is None:
            raise UsageError(f"run {run_id} is not in {self.label}; if it was journaled with "
                             "--local-state, share it first with `breakglass state.push`")
        # The local copy becomes exactly the version the next append extends.
        self._cache_journal(run_id, current.body)
        return S3Journal(self, key, current)

    def sync_runs(self, run_ids: Collection[str] | None = None, newest: int | None = None,
                  since: str | None = None) -> None:
        self.check()
        index_path = self.runs_dir() / ".etags.json"
        try:
            index: dict[str, str] = json.loads(index_path.read_text("utf-8"))
        except (OSError, ValueError):
            index = {}
        if run_ids is not None:
            # One key each (runs.show/resume/verify): never the whole team's history.
            listed = {r: etag for run_id in run_ids
                      for r, etag in self._listed_runs(f"{run_id}.jsonl").items()}
        elif since is not None:
            # Run ids start with their start time: the listing starts at `since`.
            listed = self._listed_runs(after=since)
        else:
            listed = self._newest_listed(index, newest) if newest else {}
            if not newest or len(listed) < newest:
                listed = self._listed_runs()
        wanted = sorted(listed)
        if newest is not None:
            wanted = wanted[-newest:] if newest else []
        stale = [r for r in wanted if index.get(r) != listed[r]
                 or not (self.runs_dir() / f"{r}.jsonl").exists()]
        if not stale:
            return
        with ThreadPoolExecutor(min(FETCHERS, len(stale))) as pool:
            got = list(pool.map(lambda r: (r, self.bucket.get(f"runs/{r}.jsonl")), stale))
        for run_id, obj in got:
            if obj is not None:
                self._cache_journal(run_id, obj.body)
                index[run_id] = obj.etag
        write_private(index_path, json.dumps(index, sort_keys=True).encode())

    def _listed_runs(self, sub: str = "", after: str = "") -> dict[str, str]:
        """{run id: ETag} of the journals under runs/ whose names start with `sub` (and sort
        after run `after`)."""
        return {item.key[len("runs/"):-len(".jsonl")]: item.etag
                for item in self.bucket.listing(f"runs/{sub}",
                                                after=f"runs/{after}" if after else "")
                if item.key.endswith(".jsonl")}

    def _newest_listed(self, index: Mapping[str, str], newest: int) -> dict[str, str]:
        """The journals from the `newest`-th newest run this cache knows of onwards (StartAfter
        "runs/ID" keeps "runs/ID.jsonl"). Run ids start with their start time, so the newest
        runs in the bucket are there unless runs were deleted: then fewer come back and the
        caller lists everything, as on a new machine that knows no runs. Why: botocore alone
        takes about half a second to parse a 1,000-key listing on a busy 2-core machine, and
        runs.list shows 50 (bench/state_s3.py)."""
        known = sorted(index)
        return self._listed_runs(after=known[-newest]) if len(known) >= newest else {}

    def _cache_journal(self, run_id: str, body: bytes) -> None:
        from breakglass.engine import journal as jr

        if self._cache_chain(jr.journal_path(self.local_dir, run_id), body):
            (self.runs_dir() / f"{run_id}.unshared").unlink(missing_ok=True)

    def _cache_chain(self, path: Path, body: bytes) -> bool:
        """Make the local copy of a chain the bucket's `body`; False when it was kept (see
        below)."""
        from breakglass.engine import journal as jr

        private_dir(path.parent)
        try:
            local = path.read_bytes()
        except FileNotFoundError:
            local = b""
        if len(local) > len(body) and local.startswith(body):
            # This machine's copy extends the bucket's: events a run going on here holds back
            # for its next write (journal.SHARED_WITH_NEXT), or that a killed run wrote last.
            # They are chained events of the same run; replacing the file would cut them out
            # from under the writer and fork its chain. Its next write shares them.
            return False
        write_private(path, body)
        # S3 replaces the whole object at once, so its last event is its head.
        events = jr.read_events(path)
        head = {"seq": events[-1]["seq"], "hash": events[-1]["hash"]} if events else None
        if head is not None:
            write_private(jr.head_path(path), jr.canonical(head).encode())
        return True

    def sync_chain(self, name: str) -> None:
        self.check()
        current = self.bucket.get(name)
        if current is not None:
            self._cache_chain(self.local_dir / name, current.body)

    def chain_writer(self, name: str, *, create: bool) -> RemoteJournal | None:
        self.check()
        if create:
            return S3Journal(self, name, None)
        current = self.bucket.get(name)
        if current is None:
            raise UsageError(f"{name} is not in {self.label}; if it was written with "
                             "--local-state, it stays on this machine")
        self._cache_chain(self.local_dir / name, current.body)
        return S3Journal(self, name, current)

    def names(self, folder: str) -> list[str]:
        self.check()
        return sorted(item.key for item in self.bucket.listing(folder))

    def journal_problems(self, run_id: str) -> list[str]:
        """What the bucket's versions of a journal say, one line each: every version must extend
        the one before it (with versioning, a rewrite or a cut leaves its trace)."""
        key = f"runs/{run_id}.jsonl"
        problems: list[str] = []
        previous = b""
        for vid, _size in self.bucket.versions(key):
            body = self.bucket.get_version(key, vid)
            if not body.startswith(previous):
                problems.append(f"version {vid} of {key} does not extend the version before "
                                "it (the journal was rewritten or cut in the bucket)")
            previous = body
        return problems

    def evidence_lock(self, run_id: str) -> EvidenceLock:
        key = f"runs/{run_id}.jsonl"
        try:
            until = self.bucket.retention(key)
            if until is not None:
                until = until.astimezone(UTC)
                return EvidenceLock(True, until, f"evidence locked until {until:%Y-%m-%d %H:%M} "
                                    f"UTC (Object Lock retention of {self.label}{key})")
            lock = self.bucket.facts().object_lock
        except CouldNotVerify as exc:
            return EvidenceLock(False, None, f"evidence lock unknown: {exc}")
        if not lock:
            why = "the bucket has no Object Lock"
        elif self.evidence_retention is None:
            why = "no [project] evidence_retention set"
        else:
            why = "its journal has no retention date (written before evidence_retention was set)"
        return EvidenceLock(False, None, f"evidence not locked: {why}")

    # -- records and blobs -------------------------------------------------------------------
    def _records_dir(self, name: str) -> Path:
        return self.local_dir / "records" / name

    def records(self, name: str) -> list[dict[str, Any]]:
        self.check()
        folder = private_dir(self._records_dir(name))
        listed = self._run_listings.get(name) if self._runs_held else None
        if listed is None:
            listed = self.bucket.listing(f"records/{name}/")
            if self._runs_held:
                self._run_listings[name] = listed
        missing = [item.key for item in listed if not (folder / Path(item.key).name).exists()]
        if missing:
            with ThreadPoolExecutor(min(FETCHERS, len(missing))) as pool:
                got = list(pool.map(self.bucket.get, missing))
            for obj in got:
                if obj is not None:
                    write_private(folder / Path(obj.key).name, obj.body)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for path in sorted(folder.glob("*.json")):
            for record in jsonl.read_records(path):
                # one record per run: an older breakglass keyed records by time and run id,
                # so a run resumed across an upgrade may have one of each
                run_id = str(record.get("run_id") or "")
                if run_id and run_id in seen:
                    continue
                seen.add(run_id)
                out.append(record)
        return out

    def append_record(self, name: str, record: Mapping[str, Any]) -> bool:
        self.check()
        run_id = record.get("run_id")
        # Keyed by run id and created with If-None-Match: a resumed run's second write is
        # refused by S3 itself, no listing first. Run ids start with their start time, so the
        # keys sort oldest first; a record without a run id gets the time and a random tail.
        stem = (str(run_id) if run_id
                else f"{_now().strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(8)}")
        key = f"records/{name}/{safe_name(stem)}.json"
        body = json.dumps(dict(record), sort_keys=True, default=str).encode() + b"\n"
        try:
            self.bucket.put(key, body, create_only=True)
        except Conflict:
            return False
        finally:
            # the next read lists afresh: it sees this record and every other machine's since
            self._run_listings.pop(name, None)
        folder = private_dir(self._records_dir(name))
        write_private(folder / Path(key).name, body)
        return True

    def put_blob(self, name: str, data: bytes, *, evidence: bool = False) -> Path:
        self.check()
        self.bucket.put(name, data, retain_until=self.retain_until() if evidence else None)
        path = self.local_dir / name
        private_dir(path.parent)
        write_private(path, data)
        return path

    def put_blobs(self, blobs: Mapping[str, bytes], *, evidence: bool = False
                  ) -> dict[str, Path]:
        # A run's reports go up at once: one round trip's wait instead of three.
        self.check()
        self.retain_until()  # read the bucket's settings once, not from each thread
        with ThreadPoolExecutor(min(FETCHERS, len(blobs) or 1)) as pool:
            paths = pool.map(lambda item: self.put_blob(*item, evidence=evidence),
                             blobs.items())
            return dict(zip(blobs, paths, strict=True))

    def blob_link(self, name: str) -> str | None:
        # Presigned for SigV4's longest, 7 days (shorter with temporary credentials): the
        # notice's reader gets the report without AWS access of their own.
        return self.bucket.presigned_get(name, LINK_SECONDS)

    def get_blob(self, name: str) -> bytes | None:
        path = self.local_dir / name
        if path.is_file():
            return path.read_bytes()
        self.check()
        obj = self.bucket.get(name)
        if obj is None:
            return None
        private_dir(path.parent)
        write_private(path, obj.body)
        return obj.body

    def record_label(self, name: str) -> str:
        return f"{self.label}records/{name}/"

    # -- private blobs -----------------------------------------------------------------------
    def require_private(self) -> None:
        if not self.recipients:
            raise UsageError(f"[project] state_recipients is empty: the shared state "
                             f"{self.label} keeps lockout snapshots (password hashes, sessions) "
                             "only age-encrypted; add the team's age public key(s) (age1…)")

    def seal(self, data: bytes) -> bytes:
        self.require_private()
        try:
            return age.seal(data, age.parse_recipients(self.recipients))
        except ValueError as exc:
            raise UsageError(f"[project] state_recipients: {exc}") from None

    def put_private(self, name: str, data: bytes) -> Path:
        self.check()
        self.bucket.put(name + SEALED, self.seal(data))
        path = self.local_dir / name
        private_dir(path.parent)
        write_private(path, data)
        return path

    def get_private(self, name: str, identity: Callable[[], str] | None) -> bytes | None:
        path = self.local_dir / name
        if path.is_file():
            return path.read_bytes()
        self.check()
        obj = self.bucket.get(name + SEALED)
        if obj is None:
            return None
        if identity is None:
            raise UsageError(f"{name} is only in {self.label} (age-encrypted): set [project] "
                             "state_identity to a secret ref to the age identity of one of "
                             "state_recipients")
        try:
            data = age.unseal(obj.body, age.parse_identities(identity()))
        except ValueError as exc:
            raise UsageError(f"[project] state_identity cannot open {self.label}{obj.key}: "
                             f"{exc}") from None
        private_dir(path.parent)
        write_private(path, data)
        return data

    def private_names(self, folder: str) -> list[str]:
        self.check()
        shared = {item.key[:-len(SEALED)] for item in self.bucket.listing(folder)
                  if item.key.endswith(SEALED)}
        return sorted(shared | set(private_files(self.local_dir, folder)))


class S3Journal(RemoteJournal):
    def __init__(self, state: S3State, key: str, current: Obj | None) -> None:
        self.state, self.key = state, key
        self.etag = current.etag if current is not None else None
        self.size = len(current.body) if current is not None else 0

    def write(self, content: bytes) -> None:
        try:
            self.etag = self.state.bucket.put(
                self.key, content, create_only=self.etag is None, if_match=self.etag,
                retain_until=self.state.retain_until())
            self.size = len(content)
        except Conflict:
            raise StateLost(f"the shared journal {self.state.label}{self.key} was appended by "
                            "another writer; this run stops here so the chain cannot fork",
                            code="JOURNAL_CONFLICT",
                            action="see who with `breakglass runs.show RUN_ID`; resume from "
                                   "one machine only") from None
        except CouldNotVerify as exc:
            raise StateLost(f"cannot journal to {self.state.label}: {exc}; nothing more is "
                            "changed", code="STATE_UNREACHABLE",
                            action="when S3 answers again, `breakglass runs.resume RUN_ID` "
                                   "finishes the run") from exc


def _lease_doc(obj: Obj) -> dict[str, Any]:
    try:
        doc = json.loads(obj.body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _dead_here(holder: Holder) -> bool:
    """The holder ran on this machine and its process is gone: no need to wait out the TTL."""
    if holder.host != socket.gethostname() or holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def live_holder(obj: Obj) -> Holder | None:
    """The holder a lease object names while it holds; None when released or expired."""
    doc = _lease_doc(obj)
    holder = Holder.parse(doc)
    if holder is None or doc.get("released"):
        return None
    try:
        expired = datetime.fromisoformat(holder.expires) <= _now()
    except ValueError:
        expired = True
    return None if expired or _dead_here(holder) else holder


class S3Lease(Lease):
    def __init__(self, bucket: Bucket, runbook: str, target: str, ttl: timedelta, *,
                 memo_dir: Path | None = None,
                 on_hold: Callable[[bool], None] | None = None) -> None:
        super().__init__(runbook, target)
        self.bucket = bucket
        self.key = f"locks/{lease_name(runbook, target)}.json"
        self.ttl = ttl
        #: where this machine notes the ETag of the released lease it left (`release`)
        self._memo = memo_dir / f"{lease_name(runbook, target)}.released" if memo_dir else None
        #: told True when the lease is taken, False when it is given up
        self._on_hold = on_hold
        self._etag: str | None = None
        self._valid_until = _now()
        self._info: Holder | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    @property
    def lost(self) -> str | None:
        # Checked against the clock here, not only by the heartbeat thread: that thread may be
        # stuck in retries past the expiry, and from then on another machine may take over.
        if self._lost is None and self._thread is not None and _now() >= self._valid_until:
            return "the lease could not be renewed before it expired"
        return self._lost

    def _write(self, *, released: bool = False, **condition: Any) -> None:
        """Write the lease doc under `condition` (create_only / if_match). It counts from
        before the request left: the others read the expiry we wrote, so ours is never later."""
        assert self._info is not None
        sent = _now()
        # Milliseconds, not seconds: rounding down would end the lease early for all but us.
        doc = {**self._info.to_dict(), "expires": (sent + self.ttl).isoformat(
                   timespec="milliseconds"), "released": released,
               # unique per write: a retried PUT recognises its own landed write by its bytes
               "nonce": secrets.token_hex(8)}
        self._etag = self.bucket.put(self.key, json.dumps(doc, sort_keys=True).encode(),
                                     **condition)
        self._valid_until = sent + self.ttl

    def acquire(self, run_id: str, *, take_over: bool = False) -> Holder | None:
        self._info = Holder(os.getpid(), run_id, socket.gethostname(),
                            _now().isoformat(timespec="seconds"), whoami())
        # When this machine released the lease last, the object is most likely still that
        # released one: If-Match on its ETag takes it in one request (a released lease is
        # nobody's). Anyone's write since changed the ETag, and then we read what is there.
        expected = self._recall_released()
        for _ in range(5):
            try:
                if expected is None:
                    self._write(create_only=True)
                else:
                    self._write(if_match=expected)
            except Conflict:
                pass  # there is another lease object (or none): whose, and is it live?
            else:
                self._start()
                return None
            expected = None
            current = self.bucket.get(self.key)
            if current is None:
                continue  # released and deleted by hand in between: try to create again
            doc = _lease_doc(current)
            previous = Holder.parse(doc)
            live = live_holder(current)
            if live is not None and not take_over:
                raise LockHeld(f"{self.runbook} on {self.target} is held by {live.describe()}"
                               f", lease valid until {live.expires}; wait for it, or if that "
                               "machine is gone, run again with --take-over")
            try:
                self._write(if_match=current.etag)
            except Conflict:
                continue  # another machine took it over first: look again
            self._start()
            return None if doc.get("released") else previous
        raise LockHeld(f"{self.runbook} on {self.target}: the lease keeps changing hands; "
                       "wait a minute and try again")

    def _recall_released(self) -> str | None:
        """The ETag of the released lease this machine wrote last (see `release`), forgotten
        as it is read: it serves one acquire."""
        if self._memo is None:
            return None
        try:
            etag = self._memo.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        self._memo.unlink(missing_ok=True)
        return etag or None

    def _start(self) -> None:
        if self._renew_in() <= 0:
            # The write took most of the TTL (S3 slow, retries): its expiry is close for the
            # others already. Renew once before the run relies on it.
            self._write(if_match=self._etag)
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease {self.key}",
                                        daemon=True)
        self._thread.start()
        if self._on_hold is not None:  # held from here until `release`
            self._on_hold(True)

    def _renew_in(self) -> float:
        """Seconds until the next renewal: when a third of the TTL has gone since the expiry we
        last wrote was counted (at once if a slow write used more)."""
        left = (self._valid_until - _now()).total_seconds()
        return max(0.0, left - self.ttl.total_seconds() * 2 / 3)

    def _heartbeat(self) -> None:
        wait = self._renew_in()
        while not self._stop.wait(wait):
            with self._mutex:
                if self._stop.is_set():
                    return
                try:
                    self._write(if_match=self._etag)
                    wait = self._renew_in()
                except Conflict:
                    self._lost = "another machine took the lease over"
                    return
                except (CouldNotVerify, UsageError) as exc:
                    if _now() >= self._valid_until:
                        self._lost = f"the lease could not be renewed before it expired ({exc})"
                        return
                    wait = self.ttl.total_seconds() / 3

    def release(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        with self._mutex:
            thread, self._thread = self._thread, None
            if self._lost is None:
                # A tombstone, not a delete: the next run takes it with If-Match on this ETag,
                # and an unconditional delete could remove a lease someone took meanwhile.
                with contextlib.suppress(Conflict, CouldNotVerify, UsageError):
                    self._write(released=True, if_match=self._etag)
                    self._remember_released()
        thread.join(timeout=5)
        if self._on_hold is not None:
            self._on_hold(False)

    def _remember_released(self) -> None:
        """Note the released lease's ETag for this machine's next acquire. Only a released
        one: a live lease's ETag must never let a later run skip reading who holds it."""
        if self._memo is None or self._etag is None:
            return
        with contextlib.suppress(OSError):
            private_dir(self._memo.parent)
            write_private(self._memo, self._etag.encode("ascii"))
