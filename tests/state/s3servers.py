"""S3 for the state tests: moto answering one request at a time, and a proxy that breaks it.

``SerialMoto`` — moto's S3 in a werkzeug server with ``threaded=False``, on a thread of the test
process, port 0. moto's PutObject checks If-Match / If-None-Match and then writes in two steps,
so a threaded moto can let two conditional writers both win; served one request at a time,
its conditional writes are atomic, which is what S3's look like from outside
(docs/STATE_API moto caveat). Single-threaded werkzeug also speaks HTTP/1.0, so a client's
keep-alive connection never holds the server for others.

``FaultProxy`` — a threaded HTTP/1.1 proxy on loopback in front of it. Each request is matched
against the armed ``Fault`` rules (method, a regex on the path and optionally one on the body;
the first ``times`` requests that match get the fault): ``"500"`` InternalError, ``"503"``
SlowDown (S3's XML bodies), ``"drop"`` closes the connection without forwarding,
``"drop_after"`` forwards (the write lands) and then closes without answering — the lost
response a retried conditional write must recognise. Everything else is forwarded unchanged.
``seen`` records what each request got, so a test can prove its fault was hit.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.servers._util import LOOPBACK

FaultKind = Literal["500", "503", "drop", "drop_after"]

_ERRORS: dict[str, tuple[int, str, str]] = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
#: hop-by-hop headers (RFC 9110 §7.6.1) plus the framing we redo ourselves
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length",
                  "proxy-connection", "te", "trailer", "upgrade"}


class SerialMoto:
    """moto's S3 served one request at a time on 127.0.0.1:PORT (a daemon thread)."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log(self, type: str, message: str, *args: Any) -> None:
                return

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(LOOPBACK, 0, app, threaded=False, request_handler=Quiet)
        self.endpoint_url = f"http://{LOOPBACK}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="serial moto",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@dataclass
class Fault:
    method: str  # "*": any
    path: str  # a regex searched in the request path (path-style: /BUCKET/KEY?QUERY)
    kind: FaultKind
    times: int = 1
    #: a regex the request body must hold (a journal PUT carries the whole journal, so
    #: `"step":"s2"},[^\n]*"type":"step_apply_started"` picks the append announcing s2 and,
    #: the journal only growing, every append after it)
    body: str = ""
    hit: int = 0

    def take(self, method: str, path: str, body: bytes) -> bool:
        """This request matches and gets the fault (counts it either way)."""
        if self.method not in ("*", method) or not re.search(self.path, path):
            return False
        if self.body and not re.search(self.body.encode(), body):
            return False
        if self.times <= 0:
            return False
        self.times -= 1
        self.hit += 1
        return True


@dataclass
class FaultProxy:
    upstream: str  # host:port
    faults: list[Fault] = field(default_factory=list)
    #: (method, path, what it got: "forwarded" or a fault kind), in arrival order
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    endpoint_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def arm(self, method: str, path: str, kind: FaultKind, times: int = 1,
            body: str = "") -> Fault:
        fault = Fault(method, path, kind, times, body)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()

    def decide(self, method: str, path: str, body: bytes) -> str:
        with self._lock:
            kind = next((f.kind for f in self.faults if f.take(method, path, body)),
                        "forwarded")
            self.seen.append((method, path, kind))
            return kind

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return b"".join(_chunks(self.rfile))
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                kind = proxy.decide(self.command, self.path, body)
                if kind == "drop":
                    self.close_connection = True
                    return
                if kind in _ERRORS:
                    self._error(*_ERRORS[kind])
                    return
                status, headers, answer = proxy.forward(self.command, self.path,
                                                        list(self.headers.items()), body)
                if kind == "drop_after":
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _NOT_FORWARDED:
                        self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            def _error(self, status: int, code: str, message: str) -> None:
                xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                       f"<Message>{message}</Message><RequestId>fault</RequestId></Error>"
                       ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.endpoint_url = f"http://{LOOPBACK}:{server.server_port}"
        threading.Thread(target=server.serve_forever, name="fault proxy", daemon=True).start()

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
                ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _NOT_FORWARDED:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _chunks(rfile: Any) -> Iterator[bytes]:
    """The data of an HTTP/1.1 chunked body (RFC 9112 §7.1), trailers skipped."""
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return
        yield rfile.read(size)
        rfile.readline()
