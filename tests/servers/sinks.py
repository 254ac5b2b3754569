"""Sinks for outbound notices: an HTTP sink (apprise `json://`, Sentry envelopes) and an SMTP sink
(apprise `mailto://`), both real servers on 127.0.0.1 free ports, started once per session.

The HTTP sink records every request (method, path, headers, raw body) and answers 200 `{}`, which
is what apprise's json:// plugin and sentry-sdk's transport expect. A path beginning with
`/status/NNN` is answered with that status instead, so a test gets a refusing channel by URL
(`http_sink.apprise_url_status(500)`) without touching shared state other tests rely on.
`down_url` points at a port with nothing listening: the sink holds it bound (never listening) for
its lifetime, so a connection is refused and no server started later can take the port.
`hang_apprise_url` (and `hang_mailto_url`) point at a port that accepts every connection and
never answers a byte: a notice channel that hangs (a stuck proxy, a firewall that drops replies).

Tests run with xdist keep one sink per worker (session scope is per worker); tests that assert on
recorded requests call `clear()` first or filter by a unique path/marker.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

from tests.servers._util import LOOPBACK, free_port

T = TypeVar("T")


def _wait(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """Undo the Content-Encoding a client applied (sentry-sdk gzips envelopes, or uses brotli
    when the `brotli` module is importable)."""
    enc = (encoding or "").strip().lower()
    if enc == "gzip":
        return gzip.decompress(body)
    if enc == "deflate":
        return zlib.decompress(body)
    if enc == "br":
        import brotli  # type: ignore[import-not-found]  # only when the SDK chose it

        return bytes(brotli.decompress(body))
    return body


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: bytes  # raw, as received
    at: float = field(default_factory=time.time)  # when it arrived (UTC epoch seconds)

    @property
    def decoded(self) -> bytes:
        """The body with any Content-Encoding undone (what a secret search must look at)."""
        return decode_body(self.body, self.headers.get("content-encoding"))

    def json(self) -> Any:
        return json.loads(self.decoded)


@dataclass(frozen=True)
class EnvelopeItem:
    type: str
    headers: dict[str, Any]
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True)
class Envelope:
    headers: dict[str, Any]
    items: list[EnvelopeItem] = field(default_factory=list)

    def of_type(self, item_type: str) -> list[EnvelopeItem]:
        return [i for i in self.items if i.type == item_type]


def parse_envelope(data: bytes) -> Envelope:
    """Parse a Sentry envelope: a JSON header line, then per item a JSON header line and a payload
    of `length` bytes (or up to the next newline when the header has no length).
    https://develop.sentry.dev/sdk/data-model/envelopes/"""
    header_line, _, rest = data.partition(b"\n")
    env = Envelope(json.loads(header_line))
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_headers = json.loads(item_line)
        length = item_headers.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            if rest.startswith(b"\n"):
                rest = rest[1:]
        env.items.append(EnvelopeItem(str(item_headers.get("type", "")), item_headers, payload))
    return env


class HttpSink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.apprise_url = f"json://{LOOPBACK}:{self.port}/"
        self.sentry_dsn = f"http://publickey@{LOOPBACK}:{self.port}/1"
        # Bound, never listening: the kernel refuses connections (ECONNREFUSED), and the port
        # cannot be handed to another test's server while this sink lives (a freed port was:
        # moto took it under load, and "down" answered HTTP 500).
        self._down = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._down.bind((LOOPBACK, 0))
        self.down_port = int(self._down.getsockname()[1])
        self.down_url = f"http://{LOOPBACK}:{self.down_port}/"
        self.down_apprise_url = f"json://{LOOPBACK}:{self.down_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-sink",
                                        daemon=True)
        self._hang = _Hanging()
        self.hang_port = self._hang.port
        self.hang_apprise_url = f"json://{LOOPBACK}:{self.hang_port}/"

    def hang_mailto_url(self, to: str) -> str:
        """An SMTP channel to the hanging port: connected, and never greeted."""
        return (f"mailto://{LOOPBACK}:{self.hang_port}?mode=insecure&smtp={LOOPBACK}"
                f"&from=breakglass%40example.test&to={quote(to)}")

    @property
    def hung_connections(self) -> int:
        """Connections the hanging port has accepted so far (each one a notice held up)."""
        return self._hang.accepted

    def wait_hung(self, count: int, timeout: float = 30.0) -> None:
        """Until the hanging port has accepted `count` connections (a liveness wait)."""
        _wait(lambda: True if self._hang.accepted >= count else None, timeout,
              f"{count} connection(s) to the hanging port")

    def apprise_url_status(self, status: int) -> str:
        """An apprise json:// URL this sink answers with `status` (e.g. 500)."""
        return f"json://{LOOPBACK}:{self.port}/status/{status}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = RecordedRequest(self.command, self.path,
                                      {k.lower(): v for k, v in self.headers.items()}, body)
                with sink._lock:
                    sink._requests.append(rec)
                status = 200
                parts = self.path.split("/")
                if len(parts) > 2 and parts[1] == "status" and parts[2].isdigit():
                    status = int(parts[2])
                reply = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        return Handler

    def start(self) -> HttpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._down.close()
        self._hang.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(self, predicate: Callable[[list[RecordedRequest]], bool],
                 timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until `predicate(requests)` holds; returns the requests seen then."""
        def probe() -> list[RecordedRequest] | None:
            reqs = self.requests
            return reqs if predicate(reqs) else None
        return _wait(probe, timeout, "the HTTP sink to receive the expected requests")

    def sentry_envelopes(self) -> list[Envelope]:
        return [parse_envelope(r.decoded) for r in self.requests
                if r.method == "POST" and r.path.startswith("/api/") and "/envelope/" in r.path]

    def all_bytes(self) -> bytes:
        """Every path, header and (decoded) body received: what a canary search looks at."""
        chunks: list[bytes] = []
        for r in self.requests:
            chunks.append(r.path.encode())
            chunks.extend(f"{k}: {v}".encode() for k, v in r.headers.items())
            chunks.append(r.body)
            chunks.append(r.decoded)
        return b"\n".join(chunks)


class _Hanging:
    """Accepts connections on a loopback port and holds them open without answering."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="hang-sink", daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._held)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed by stop()
                return
            with self._lock:
                self._held.append(conn)

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # wakes the blocked accept() (Linux)
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()
        self._thread.join(timeout=5)


class SmtpSink:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._raw: list[bytes] = []
        self.host = LOOPBACK
        self.port = free_port()
        self._controller = Controller(_Recorder(self), hostname=self.host, port=self.port)

    def _record(self, raw: bytes) -> None:
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self._raw.append(raw)
            self._messages.append(msg)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def raw_messages(self) -> list[bytes]:
        with self._lock:
            return list(self._raw)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._raw.clear()

    def wait_for(self, predicate: Callable[[list[EmailMessage]], bool],
                 timeout: float = 5.0) -> list[EmailMessage]:
        def probe() -> list[EmailMessage] | None:
            msgs = self.messages
            return msgs if predicate(msgs) else None
        return _wait(probe, timeout, "the SMTP sink to receive the expected messages")

    def mailto_url(self, to: str, sender: str = "breakglass@example.test") -> str:
        """An apprise URL that sends plain SMTP to this sink: `mode=insecure` turns off TLS
        (apprise's default is STARTTLS) and no user means no AUTH; `smtp=` names the server
        explicitly so apprise does not derive it from the sender's domain."""
        return (f"mailto://{self.host}:{self.port}?mode=insecure&smtp={self.host}"
                f"&from={quote(sender)}&to={quote(to)}")


class _Recorder:
    """aiosmtpd handler: accept every message and record its bytes."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        self._sink._record(data if isinstance(data, bytes) else str(data).encode())
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
