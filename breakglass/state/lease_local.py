"""The local backend's lease: `state_dir/locks/<runbook>__<target>.lock`, one machine only.

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
import socket
from datetime import UTC, datetime
from pathlib import Path

from breakglass.connectors.files import private_dir
from breakglass.errors import LockHeld
from breakglass.state.base import Holder, Lease, lease_name, whoami


def lock_path(state_dir: Path, runbook: str, target: str) -> Path:
    return state_dir / "locks" / f"{lease_name(runbook, target)}.lock"


class FileLease(Lease):
    def __init__(self, state_dir: Path, runbook: str, target: str) -> None:
        super().__init__(runbook, target)
        self.path = lock_path(state_dir, runbook, target)
        self._fd: int | None = None

    def acquire(self, run_id: str, *, take_over: bool = False) -> Holder | None:
        # take_over has nothing to do here: a dead holder's flock is gone already, and a live
        # one on this machine is a process the user can see and stop.
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.parse(_read_all(fd))
            os.close(fd)
            who = holder.describe() if holder else "another process"
            raise LockHeld(f"{self.runbook} on {self.target} is locked by {who}; wait for it "
                           f"to finish, or check it with `breakglass runs.show "
                           f"{holder.run_id if holder else 'ID'}`") from None
        stale = Holder.parse(_read_all(fd))
        info = Holder(os.getpid(), run_id, socket.gethostname(),
                      datetime.now(UTC).isoformat(timespec="seconds"), whoami())
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


def live_holder(state_dir: Path, runbook: str, target: str) -> Holder | None:
    """The holder while some live process holds the lock (runs.list's "running"), else None.
    A live holder whose metadata is not written yet is named "another process"."""
    path = lock_path(state_dir, runbook, target)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.parse(_read_all(fd)) or Holder(0, "?", "?", "?", "another process")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
