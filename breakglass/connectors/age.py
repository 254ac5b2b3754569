"""age encryption (https://age-encryption.org/v1) of small payloads through pyrage: the shared
state's private blobs (lockout prior-state snapshots). Backups stream through pyrage themselves
(recovery/take.py, recovery/archive.py); the key parsing is shared from here.

pyrage's errors are translated here: a bad key or a payload that will not open is a ValueError
whose message never echoes key material.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def parse_recipients(keys: Sequence[str]) -> list[Any]:
    """age recipients from config: X25519 public keys (age1…) or SSH public keys."""
    import pyrage

    try:
        return [pyrage.x25519.Recipient.from_str(k) if k.startswith("age1")
                else pyrage.ssh.Recipient.from_str(k) for k in keys]
    except pyrage.RecipientError:
        raise ValueError("not a valid age recipient") from None


def parse_identities(text: str) -> list[Any]:
    """age X25519 identities from an identity file's text (comments and blank lines allowed).
    Raises ValueError (never echoing the text) when none is valid."""
    import pyrage

    keys = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("AGE-SECRET-KEY-")]
    if not keys:
        raise ValueError("no AGE-SECRET-KEY-1… line in the configured identity")
    try:
        return [pyrage.x25519.Identity.from_str(k) for k in keys]
    except pyrage.IdentityError:
        raise ValueError("the configured identity is not a valid age X25519 identity") from None


def seal(data: bytes, recipients: Sequence[Any]) -> bytes:
    import pyrage

    try:
        return bytes(pyrage.encrypt(data, list(recipients)))
    except pyrage.EncryptError as exc:
        raise ValueError(f"age: {exc}") from None


def unseal(data: bytes, identities: Sequence[Any]) -> bytes:
    import pyrage

    try:
        return bytes(pyrage.decrypt(data, list(identities)))
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            raise ValueError("the identity cannot decrypt it (it was sealed to other "
                             "recipients)") from None
        raise ValueError(f"age: {exc} (damaged)") from None
