"""Whose session is this? Django's session payloads decoded without importing Django.

Database sessions (`django_session.session_data`), Django >= 3.1: `signing.dumps(obj,
salt="django.contrib.sessions.SessionStore", serializer=JSONSerializer, compress=True)`, i.e.
`[.]BASE64URL:TIMESTAMP:SIGNATURE` where a leading "." means the JSON is zlib-compressed
(django/core/signing.py, `TimestampSigner.sign_object`). Older rows (Django < 3.1) are
`base64(HASH ":" JSON)` (django/contrib/sessions/backends/base.py, `_legacy_decode`).

The signature is not checked: breakglass does not hold SECRET_KEY, and the row comes from the
app's own database. The worst a forged row can do is be revoked with the user's sessions.

Cache sessions: the cache backend pickles the session dict (django/core/cache/backends/redis.py,
`RedisSerializer`). Unpickling data from a possibly compromised cache must not run code, so the
unpickler refuses every global: a session dict of strings and numbers loads, anything else is
"undecodable" and left alone (counted, never guessed).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from typing import Any

AUTH_USER_ID = "_auth_user_id"  # django/contrib/auth/__init__.py SESSION_KEY


def _b64(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


def decode_db(session_data: str) -> dict[str, Any] | None:
    """The session dict of a django_session row, or None when it is not a Django payload."""
    try:
        head = session_data.split(":", 1)[0]
        if head and ":" in session_data:
            compressed = head.startswith(".")
            raw = _b64(head[1:] if compressed else head)
            if compressed:
                raw = zlib.decompress(raw)
            value = json.loads(raw)
        else:  # legacy: base64("hash:json")
            _, _, payload = _b64(session_data).partition(b":")
            value = json.loads(payload)
    except (ValueError, binascii.Error, zlib.error, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")


def decode_cache(value: bytes) -> dict[str, Any] | None:
    """The session dict of a cache entry, or None (not a plain dict, or it needs a global)."""
    try:
        if value.isdigit():  # RedisSerializer stores ints as digits; not a session
            return None
        loaded = _NoGlobals(io.BytesIO(value)).load()
    except Exception:  # any malformed pickle: undecodable, never fatal
        return None
    return loaded if isinstance(loaded, dict) else None


def owner(session: dict[str, Any] | None) -> str | None:
    """The user id a decoded session is logged in as (Django stores it as a string)."""
    if session is None or AUTH_USER_ID not in session:
        return None
    return str(session[AUTH_USER_ID])
