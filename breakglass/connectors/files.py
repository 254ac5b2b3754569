"""Reading a file named by the user (the config, a `file:` secret) without trusting it to be one.

A path can name a FIFO nobody writes (open() blocks forever), /dev/zero or /dev/urandom (read()
never ends, then MemoryError), a directory, or a huge file. So: open without blocking and
without becoming a controlling terminal, judge what was *opened* (fstat of the descriptor, so a
path swapped after a check cannot fool us), accept only a regular file, and read at most a
limit. The caller words the one-line error; `NotAFile` carries the reason.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: the config file and each secret file: far above any real one (a private key is ~3 KiB)
MAX_BYTES = 1 << 20


class NotAFile(Exception):
    """The path is not a regular file of an acceptable size; str() says why, for people."""


def read_regular(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of `path`. Raises NotAFile (a directory, FIFO, device, socket, or more than
    `limit` bytes) or OSError (missing, permission denied, …)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except IsADirectoryError:
        raise NotAFile("is a directory, not a file") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise NotAFile("is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise NotAFile("is not a regular file (a FIFO, socket or device); point it at a file")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise NotAFile(f"is larger than {limit // 1024} KiB; this cannot be the right file")
    return data


# -- writing files: private and durable ----------------------------------------
def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents 0700: chmod, not mkdir's mode, because the umask
    would otherwise decide. Folders that already exist keep their mode (state_dir may be a
    folder the user made on purpose); runs/, locks/ and reports/ are always forced to 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, 0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes, *, mode: int = 0o600, tmp: Path | None = None,
                  durable: bool = True) -> None:
    """Atomically and durably replace `path` with `data`, 0600 (`mode`): a temp file in the same
    folder (`tmp`, default `.NAME.PID.tmp`), fsync, rename, fsync of the folder — so a crash or a
    power cut leaves either the old or the new content, never a torn or empty file (rename(2),
    fsync(2): the rename is durable only once the folder's entry is on disk). The one way
    breakglass writes a file whole; a missing folder is made 0700. `durable=False` leaves out the
    two fsyncs: still atomic for a process that is killed, not across a power loss."""
    if not path.parent.exists():
        private_dir(path.parent)
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode passes through the umask; an old tmp keeps its own
        view = memoryview(data)
        while view:  # os.write may write less than asked (a signal, a full pipe-like target)
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
