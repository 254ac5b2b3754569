"""One run per (runbook, target) at a time: `state_dir/locks/<runbook>__<target>.lock`.

The lock is `flock(LOCK_EX | LOCK_NB)` on that file, held for the run's life. flock belongs to the
open file description, so the kernel releases it when the holder dies, however it dies (SIGKILL
included): a lock file left behind by a dead run is simply taken again, no pid guessing. The file
also holds JSON metadata (pid, run_id, host, started) so that a refused run can name the holder.
A clean release empties the file before unlocking; metadata still present when we take the lock
therefore means the previous holder died, and the caller journals the takeover.

The file is never unlinked: unlinking a flock'd file lets a third process lock a fresh inode while
a second still holds the old one.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from breakglass.engine.journal import private_dir, utc_now
from breakglass.errors import LockHeld


@dataclass(frozen=True)
class LockInfo:
    pid: int
    run_id: str
    host: str
    started: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def parse(cls, raw: bytes) -> LockInfo | None:
        try:
            d = json.loads(raw.decode("utf-8"))
            return cls(int(d["pid"]), str(d["run_id"]), str(d["host"]), str(d["started"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None


def _safe(part: str) -> str:
    # Targets come from config keys and params ("backups.main", "s3://b/p"): keep the name
    # readable but never let it climb out of locks/ or hit odd characters.
    return re.sub(r"[^A-Za-z0-9._-]", "_", part).strip(".") or "_"


def lock_path(state_dir: Path, runbook: str, target: str) -> Path:
    return state_dir / "locks" / f"{_safe(runbook)}__{_safe(target)}.lock"


class RunLock:
    def __init__(self, state_dir: Path, runbook: str, target: str) -> None:
        self.path = lock_path(state_dir, runbook, target)
        self.runbook = runbook
        self.target = target
        self._fd: int | None = None

    def acquire(self, run_id: str) -> LockInfo | None:
        """Take the lock for `run_id`. Returns the metadata of a dead holder whose lock was taken
        over (to be journaled), else None. Raises LockHeld naming the live holder."""
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = LockInfo.parse(_read_all(fd))
            os.close(fd)
            who = (f"run {holder.run_id} (pid {holder.pid} on {holder.host}, since "
                   f"{holder.started})") if holder else "another process"
            raise LockHeld(f"{self.runbook} on {self.target} is locked by {who}; wait for it "
                           f"to finish, or check it with `breakglass runs.show "
                           f"{holder.run_id if holder else 'ID'}`") from None
        stale = LockInfo.parse(_read_all(fd))
        info = LockInfo(os.getpid(), run_id, socket.gethostname(), utc_now())
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info.to_dict()).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return stale

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_all(fd: int) -> bytes:
    return os.pread(fd, 65536, 0)


def is_held(state_dir: Path, runbook: str, target: str) -> bool:
    """True while some live process holds the lock (runs.list's "running")."""
    path = lock_path(state_dir, runbook, target)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def holder(state_dir: Path, runbook: str, target: str) -> LockInfo | None:
    try:
        return LockInfo.parse(lock_path(state_dir, runbook, target).read_bytes())
    except OSError:
        return None
