"""What every state backend offers (docs/state.md): leases, journal storage, records, blobs.

Two backends: `local` (a folder, `[project] state_dir`; the embedded default) and `s3`
(`[project] state = "s3://bucket/prefix/"`, shared by the team; state_dir is then its cache).
The engine and the runbooks talk to a `State`; which one is in use is decided once, by
`breakglass.state.open_state`.

Layout, the same in a folder and under an S3 prefix:

    runs/RUN_ID.jsonl            a run's hash-chained journal (engine/journal.py)
    locks/RUNBOOK__TARGET.json   the lease of the run going on (S3; a flock'd .lock file locally)
    records/NAME/...             append-only records: checklist/attestations, drills/history,
                                 drills/scenarios (locally NAME.jsonl, one line each)
    reports/RUN_ID.{json,md,html}  run reports; reports/drill-restore-trend.html
    incidents/ID.jsonl           an incident's hash-chained record (breakglass/incidents/);
                                 incidents/ID/postmortem.{md,html} its postmortem draft
    lockout/RUN_ID.json          lockout prior-state snapshots: private (on S3 only sealed with
                                 age, as lockout/RUN_ID.json.age; the local file is the cache)
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

#: raised to the format of the state a newer breakglass writes; older code refuses it
FORMAT = 1
#: the suffix of a private blob's sealed (age) copy in a shared state
SEALED = ".age"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: enough for a refused run to name them."""

    pid: int
    run_id: str
    host: str
    started: str
    user: str = ""
    #: when an S3 lease lapses without a heartbeat (ISO 8601, UTC); "" for a local lock
    expires: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        who = f" as {self.user}" if self.user else ""
        return f"run {self.run_id} (pid {self.pid} on {self.host}{who}, since {self.started})"

    @classmethod
    def parse(cls, raw: bytes | Mapping[str, Any]) -> Holder | None:
        try:
            d = raw if isinstance(raw, Mapping) else json.loads(raw.decode("utf-8"))
            return cls(int(d["pid"]), str(d["run_id"]), str(d["host"]), str(d["started"]),
                       str(d.get("user", "")), str(d.get("expires", "")))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
            return None


@dataclass(frozen=True)
class EvidenceLock:
    """Whether a run's journal is retained by Object Lock, as `runs.verify` says it."""

    locked: bool
    #: the retention date of the journal object's current version (None: not locked)
    until: datetime | None
    #: one line for people
    line: str

    def to_dict(self) -> dict[str, Any]:
        return {"locked": self.locked,
                "until": self.until.isoformat() if self.until else None, "line": self.line}


def whoami() -> str:
    """The login name, for a holder's description ("?" where the uid has no passwd entry)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def safe_name(part: str) -> str:
    # Targets come from config keys and params ("backups.main", "s3://b/p"): keep the name
    # readable but never let it climb out of its folder or hit odd characters.
    return re.sub(r"[^A-Za-z0-9._-]", "_", part).strip(".") or "_"


def lease_name(runbook: str, target: str) -> str:
    return f"{safe_name(runbook)}__{safe_name(target)}"


class Lease(ABC):
    """One run per (runbook, target) at a time."""

    def __init__(self, runbook: str, target: str) -> None:
        self.runbook = runbook
        self.target = target

    @abstractmethod
    def acquire(self, run_id: str, *, take_over: bool = False) -> Holder | None:
        """Take the lease for `run_id`. Returns the holder whose dead (or, with `take_over`,
        live) lease was taken over — to be journaled — else None. Raises LockHeld naming a
        live holder."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up; a no-op when not held."""

    @property
    def lost(self) -> str | None:
        """Why the lease was lost while held (taken over, not renewed in time); None while
        it holds. A run checks this before each change."""
        return None


class RemoteJournal(ABC):
    """Where a journal's appends go besides the local file: written before the local file, so
    nothing is applied that the shared journal does not record."""

    #: bytes of the journal the store holds (None: unknown, the local file counts as shared)
    size: int | None = None

    @abstractmethod
    def write(self, content: bytes) -> None:
        """Store `content`, the whole journal after one more append. Raises JournalForked when
        another writer appended since (the chain would fork), CouldNotVerify when the store
        cannot be reached."""


class State(ABC):
    #: the local folder: the whole state (local) or the cache of the shared state (S3)
    local_dir: Path
    #: where the state lives, for people: the folder, or s3://bucket/prefix/
    label: str
    #: the state is shared by the team (S3)
    shared: bool = False

    def runs_dir(self) -> Path:
        return self.local_dir / "runs"

    @abstractmethod
    def lease(self, runbook: str, target: str) -> Lease: ...

    @abstractmethod
    def holder(self, runbook: str, target: str) -> Holder | None:
        """The live holder of (runbook, target), None when nobody holds it."""

    @abstractmethod
    def remote_journal(self, run_id: str, *, create: bool) -> RemoteJournal | None:
        """The shared copy of run `run_id`'s journal to write through (None: local only).
        `create`: a new run, whose journal must not exist yet."""

    def sync_runs(self, run_ids: Collection[str] | None = None,  # noqa: B027
                  newest: int | None = None, since: str | None = None) -> None:
        """Bring the journals of `run_ids` (None: every run; `newest`: only that many of the
        newest; `since`: only runs started then or later, a UTC "YYYYmmddTHHMMSS" — run ids
        start with it) into runs_dir. Local: nothing to do."""

    def sync_chain(self, name: str) -> None:  # noqa: B027 (local: nothing to do)
        """Bring the shared copy of `name`, a hash-chained journal that is not a run's (an
        incident's record, "incidents/ID.jsonl"), into local_dir/name. Local: nothing to do."""

    def chain_writer(self, name: str, *, create: bool) -> RemoteJournal | None:
        """The shared copy of chain `name` to write through, its local copy first brought to
        the version the next append extends (None: local only). `create`: a new chain, which
        must not exist yet."""
        return None

    def names(self, folder: str) -> list[str]:
        """The names of everything stored under `folder` (e.g. "incidents/"), sorted (temp
        files of an interrupted write excepted)."""
        where = self.local_dir / folder
        if not where.is_dir():
            return []
        return sorted(p.relative_to(self.local_dir).as_posix() for p in where.rglob("*")
                      if p.is_file() and not p.name.startswith("."))

    def journal_problems(self, run_id: str) -> list[str]:
        """What the store itself shows about a journal beyond its chain (S3 with versioning:
        a version that does not extend the one before). Local: nothing more."""
        return []

    def evidence_lock(self, run_id: str) -> EvidenceLock | None:
        """Whether run `run_id`'s journal is locked against rewriting (S3 Object Lock); None
        for a local state, where nothing can lock it."""
        return None

    def unshared_runs(self) -> list[str]:
        """Runs journaled with --local-state that `state.push` has not uploaded yet."""
        return sorted(p.stem for p in self.runs_dir().glob("*.unshared"))

    @abstractmethod
    def records(self, name: str) -> list[dict[str, Any]]:
        """The records of `name` (e.g. "attestations"), oldest first."""

    @abstractmethod
    def append_record(self, name: str, record: Mapping[str, Any]) -> bool:
        """Add a record unless one with its run id is there (a resumed run writes once).
        True when it was added."""

    @abstractmethod
    def put_blob(self, name: str, data: bytes, *, evidence: bool = False) -> Path:
        """Store `data` as `name` (e.g. "reports/RUN/report.html"); returns the local copy.
        `evidence`: retained by Object Lock where the bucket has it."""

    def put_blobs(self, blobs: Mapping[str, bytes], *, evidence: bool = False
                  ) -> dict[str, Path]:
        """`put_blob` each of `blobs` (name -> data), at once where the store allows (a run's
        three reports); returns the local copies by name."""
        return {name: self.put_blob(name, data, evidence=evidence)
                for name, data in blobs.items()}

    @abstractmethod
    def get_blob(self, name: str) -> bytes | None:
        """The blob `name`, None when there is none."""

    def blob_link(self, name: str) -> str | None:
        """A URL a person can open to read the blob `name` (an owners' notice links the
        report), None when the state has none to give (a local folder)."""
        return None

    @abstractmethod
    def record_label(self, name: str) -> str:
        """Where the records of `name` live, for people."""

    def cited_records(self, name: str) -> list[dict[str, Any]]:
        """`records(name)` with the journals of the runs they cite in runs_dir, where
        engine/runs.backing_run reads them (a record counts only while its journal backs it)."""
        records = self.records(name)
        cited = {str(r["run_id"]) for r in records if r.get("run_id")}
        if cited:
            self.sync_runs(cited)
        return records

    # -- private blobs: secrets the journal must not hold (lockout prior-state snapshots) -------
    def require_private(self) -> None:  # noqa: B027 (local: always possible)
        """Raise UsageError, before anything is changed, when this state cannot keep private
        blobs (S3 without [project] state_recipients)."""

    @abstractmethod
    def put_private(self, name: str, data: bytes) -> Path:
        """Store `data` as `name`: a 0600 local file, and on a shared state a copy sealed to
        [project] state_recipients. Returns the local file."""

    @abstractmethod
    def get_private(self, name: str, identity: Callable[[], str] | None) -> bytes | None:
        """The private blob `name` (None when there is none): the local copy, else the shared
        copy opened with `identity` (the text of an age identity, asked for only then)."""

    @abstractmethod
    def private_names(self, folder: str) -> list[str]:
        """The names of the private blobs under `folder` (e.g. "lockout/"), sorted."""
