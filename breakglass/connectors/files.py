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
