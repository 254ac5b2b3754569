"""The prior state of a locked-out account: what `unlock` restores.

It holds a password hash and the sessions/tokens the proof replays, so it is not journaled: a
hash can be cracked offline and a session id logs in, and the journal is evidence meant to be
shared. It goes to `state_dir/lockout/RUN_ID.json` (0600 in a 0700 folder); the journal records
its SHA-256, so `unlock` refuses a file that was edited after the lockout (the journal's hash
chain protects the digest; `runs.verify` checks the chain).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from breakglass.connectors import files
from breakglass.engine import journal as jr
from breakglass.errors import UsageError

SNAPSHOT_STEP = "snapshot"


def folder(state_dir: Path) -> Path:
    return state_dir / "lockout"


def path_of(state_dir: Path, run_id: str) -> Path:
    return folder(state_dir) / f"{run_id}.json"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(state_dir: Path, run_id: str, content: dict[str, Any]) -> str:
    """Write the snapshot (0600, atomically); returns its digest."""
    files.private_dir(folder(state_dir))
    data = json.dumps(content, sort_keys=True, indent=1, default=str).encode()
    files.write_private(path_of(state_dir, run_id), data)
    return digest(data)


def read(state_dir: Path, run_id: str) -> dict[str, Any] | None:
    path = path_of(state_dir, run_id)
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_bytes())
    return loaded


def journaled_digest(state_dir: Path, run_id: str) -> str | None:
    """The digest the lockout run journaled for its snapshot (None: not journaled)."""
    path = jr.journal_path(state_dir, run_id)
    if not path.is_file():
        return None
    for ev in jr.read_events(path):
        data = ev.get("data") or {}
        if ev.get("type") == "step_applied" and data.get("step") == SNAPSHOT_STEP:
            got = (data.get("result") or {}).get("digest")
            return str(got) if got else None
    return None


def before_lockout(state_dir: Path, user_id: str) -> tuple[str, dict[str, Any]] | None:
    """(run id, snapshot) of the newest lockout of `user_id` taken while the account was still
    active — a second lockout of a locked account records the locked state, which unlock must
    not "restore". Each candidate's digest must match its journal."""
    if not folder(state_dir).is_dir():
        return None
    for path in sorted(folder(state_dir).glob("*.json"), reverse=True):
        run_id = path.stem
        data = path.read_bytes()
        content = json.loads(data)
        if str(content.get("user_id")) != user_id:
            continue
        if journaled_digest(state_dir, run_id) != digest(data):
            raise UsageError(f"the lockout snapshot {path} does not match the digest in run "
                             f"{run_id}'s journal (edited, or the run was not journaled); "
                             "refusing to restore from it")
        if content.get("prior", {}).get("is_active") is not False:
            return run_id, content
    return None
