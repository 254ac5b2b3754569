"""The redactor: every secret value seen in a run is registered here, and every output passes
through it (stdout/stderr streams, journal events, reports, notifications, Sentry events).

Values are matched literally, together with the encodings a value commonly takes on the way out
(URL-quoted, JSON-escaped, base64), so that `postgresql://u:p%40ss@h/db` is caught as well as
`p@ss`. Values shorter than MIN_LEN are refused at registration: masking every "1" or "ab" in the
output would make it unreadable and protects nothing.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, TextIO

MIN_LEN = 4
MASK = "«redacted»"


def mask_hint(value: str) -> str:
    """A recognisable but harmless hint of a value, e.g. 'AKIA…7QX' (prefix of 4, suffix of 3) for
    long values, for plans like "key AKIA…7QX already inactive". Short values are fully masked."""
    if len(value) < 16:
        return MASK
    return f"{value[:4]}…{value[-3:]}"


class Redactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str | bytes | None) -> None:
        """Register a secret value. Empty and too-short values are ignored."""
        if value is None:
            return
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        value = value.strip("\r\n")
        if len(value) < MIN_LEN:
            return
        forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
        forms.add(json.dumps(value)[1:-1])
        forms.add(base64.b64encode(value.encode()).decode().rstrip("="))
        # Multi-line secrets (PEM keys, age identities): each long line is secret on its own.
        for line in value.splitlines():
            if len(line.strip()) >= 16:
                forms.add(line.strip())
        with self._lock:
            before = len(self._values)
            self._values.update(f for f in forms if len(f) >= MIN_LEN)
            if len(self._values) != before:
                # Longest first so that a value containing another is masked whole.
                alts = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(a) for a in alts))

    def register_many(self, values: Iterable[str | bytes | None]) -> None:
        for v in values:
            self.register(v)

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact_obj(self, obj: Any) -> Any:
        """Redact every string in a JSON-like structure (keys included)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self.redact_obj(k): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj


class RedactingStream(io.TextIOBase):
    """A text stream that redacts what is written before passing it on. Installed over
    sys.stdout/sys.stderr by the CLI so that nothing (rich output, warnings, a traceback) can
    carry a registered secret out. Redaction is per write; rich and print write whole segments,
    and a secret split across two writes is additionally caught by buffering until newline."""

    def __init__(self, inner: TextIO, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor
        self._buf = ""

    def write(self, s: str) -> int:
        self._buf += s
        if "\n" in self._buf:
            head, _, self._buf = self._buf.rpartition("\n")
            self._inner.write(self._redactor.redact(head + "\n"))
        return len(s)

    def flush(self) -> None:
        if self._buf:
            self._inner.write(self._redactor.redact(self._buf))
            self._buf = ""
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    def writable(self) -> bool:
        return True
