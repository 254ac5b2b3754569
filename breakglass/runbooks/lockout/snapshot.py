"""The prior state of a locked-out account: what `unlock` restores.

It holds a password hash and the sessions/tokens the proof replays, so it is not journaled: a
hash can be cracked offline and a session id logs in, and the journal is evidence meant to be
shared. It is a private blob of the state (breakglass/state/): `state_dir/lockout/RUN_ID.json`
(0600 in a 0700 folder), and with `[project] state = "s3://…"` also a copy sealed with age to
`[project] state_recipients` (`lockout/RUN_ID.json.age`; the S3 backend refuses to store it
without recipients), which `unlock` on another machine opens with `[project] state_identity`.
The local file is the cache. The journal records the SHA-256 of the plaintext, so `unlock`
refuses a snapshot that was edited after the lockout, wherever it was read from (the journal's
hash chain protects the digest; `runs.verify` checks the chain).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.engine import journal as jr
from breakglass.errors import UsageError
from breakglass.state import open_state
from breakglass.state.base import SEALED

if TYPE_CHECKING:
    from breakglass.engine.runbook import StepContext

SNAPSHOT_STEP = "snapshot"
FOLDER = "lockout/"


def name_of(run_id: str) -> str:
    return f"{FOLDER}{run_id}.json"


def path_of(state_dir: Path, run_id: str) -> Path:
    """The local file (the cache, with a shared state)."""
    return state_dir / name_of(run_id)


def sealed_copy(ctx: StepContext) -> str | None:
    """Where this run's sealed copy goes (None: the state is local)."""
    state = open_state(ctx.config)
    return f"{state.label}{name_of(ctx.run_id)}{SEALED}" if state.shared else None


def where(ctx: StepContext) -> str:
    """Where the snapshots are, for people."""
    state = open_state(ctx.config)
    local = str(state.local_dir / FOLDER)
    return f"{local} and {state.label}{FOLDER}" if state.shared else local


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(ctx: StepContext, content: dict[str, Any]) -> str:
    """Store the snapshot of this run (sealed when it leaves the machine); returns the digest
    of its plaintext."""
    data = json.dumps(content, sort_keys=True, indent=1, default=str).encode()
    open_state(ctx.config).put_private(name_of(ctx.run_id), data)
    return digest(data)


def _identity(ctx: StepContext) -> Callable[[], str] | None:
    """The state's age identity, resolved (and registered with the redactor) only when a sealed
    snapshot must be opened."""
    ref = ctx.config.project.state_identity
    return None if ref is None else (lambda: ctx.secret(ref))


def _bytes(ctx: StepContext, run_id: str) -> bytes | None:
    return open_state(ctx.config).get_private(name_of(run_id), _identity(ctx))


def read(ctx: StepContext, run_id: str) -> dict[str, Any] | None:
    data = _bytes(ctx, run_id)
    if data is None:
        return None
    loaded: dict[str, Any] = json.loads(data)
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


def before_lockout(ctx: StepContext, user_id: str) -> tuple[str, dict[str, Any]] | None:
    """(run id, snapshot) of the newest lockout of `user_id` taken while the account was still
    active — a second lockout of a locked account records the locked state, which unlock must
    not "restore". Each candidate's digest must match its journal."""
    state = open_state(ctx.config)
    for name in reversed(state.private_names(FOLDER)):
        run_id = Path(name).stem
        data = _bytes(ctx, run_id)
        if data is None:
            continue
        content = json.loads(data)
        if str(content.get("user_id")) != user_id:
            continue
        state.sync_runs([run_id])
        if journaled_digest(state.local_dir, run_id) != digest(data):
            raise UsageError(f"the lockout snapshot {path_of(state.local_dir, run_id)} does not "
                             f"match the digest in run {run_id}'s journal (edited, or the run "
                             "was not journaled); refusing to restore from it")
        if content.get("prior", {}).get("is_active") is not False:
            return run_id, content
    return None
