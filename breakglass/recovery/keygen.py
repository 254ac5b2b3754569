"""`breakglass keygen`: a new age X25519 identity (the private key that decrypts backups) and its
recipient (the public key they are encrypted to), in age-keygen's file format.

The identity is written with O_CREAT|O_EXCL at mode 0600 and never replaces a file: a lost
identity is every encrypted backup lost, so overwriting one is not offered at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from breakglass.errors import UsageError


@dataclass(frozen=True)
class NewKey:
    path: Path
    recipient: str  # public: "age1…"


def write_identity(path: str | os.PathLike[str]) -> NewKey:
    import pyrage

    target = Path(path).expanduser().absolute()
    if target.exists() or target.is_symlink():
        raise UsageError(f"{target} already exists; breakglass never overwrites an identity "
                         "(backups encrypted to it would be lost): choose another --path")
    parent = target.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise UsageError(f"cannot create {parent}: {exc.strerror or exc}") from None
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    # The format of age-keygen's output, which `age -i FILE` and parse_identities both read.
    created = datetime.now(UTC).isoformat(timespec="seconds")
    text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return NewKey(target, recipient)
