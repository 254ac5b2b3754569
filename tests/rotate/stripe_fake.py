"""A strict local fake of the part of Stripe's API that `kind = "stripe_webhook"` calls.

Stripe's API cannot run here, so this answers exactly these, the way api.stripe.com does
(https://docs.stripe.com/api/webhook_endpoints), for the real `stripe` SDK pointed at it:

    GET    /v1/webhook_endpoints            list (limit; no further pages)
    GET    /v1/webhook_endpoints/{id}       retrieve (404 resource_missing when absent)
    POST   /v1/webhook_endpoints            create: url, enabled_events[], api_version,
                                            description, metadata[...]; the answer is the only
                                            one that carries `secret` (whsec_…)
    POST   /v1/webhook_endpoints/{id}       update: disabled, metadata[...], description
    DELETE /v1/webhook_endpoints/{id}       delete

Strict: any other method or path, and any form parameter not listed above, is answered 500 and
recorded in `unexpected` — the fixture fails the test when it is not empty, so a change in what
breakglass calls shows up here instead of passing against a fake that agrees to anything.
A request without `Authorization: Bearer <api_key>` is answered 401, like Stripe.

`most` is the largest number of endpoints that ever existed at once (the "never more than two"
invariant); `calls` lists "METHOD PATH" in order. `failing` holds "METHOD PATH" pairs answered
500 (an outage at Stripe, for fault tests) until removed.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.servers._util import LOOPBACK

_ITEM = re.compile(r"^/v1/webhook_endpoints/(we_[A-Za-z0-9]+)$")
_CREATE = {"url", "enabled_events", "api_version", "description", "metadata"}
_UPDATE = {"disabled", "metadata", "description"}
_LIST = {"limit"}


@dataclass
class StripeFake:
    api_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(12))
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    most: int = 0
    port: int = 0
    failing: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def add_endpoint(self, url: str, events: list[str], api_version: str | None = None,
                     **extra: Any) -> tuple[str, str]:
        """An existing endpoint (made 'by hand in the dashboard'): (id, signing secret)."""
        with self._lock:
            ep = self._new(url, events, api_version, extra.get("description"),
                           extra.get("metadata") or {})
        return ep["id"], ep["secret"]

    def public(self, endpoint_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.endpoints[endpoint_id].items() if k != "secret"}

    def _new(self, url: str, events: list[str], api_version: str | None,
             description: str | None, metadata: dict[str, str]) -> dict[str, Any]:
        ep: dict[str, Any] = {"id": "we_" + secrets.token_hex(12), "object": "webhook_endpoint",
              "api_version": api_version, "application": None, "created": int(time.time()),
              "description": description, "enabled_events": list(events), "livemode": False,
              "metadata": dict(metadata), "status": "enabled", "url": url,
              "secret": "whsec_" + secrets.token_urlsafe(24)}
        self.endpoints[ep["id"]] = ep
        self.most = max(self.most, len(self.endpoints))
        return ep

    # -- the API ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, body: bytes
               ) -> tuple[int, dict[str, Any]]:
        parsed = urlsplit(path)
        self.calls.append(f"{method} {parsed.path}")
        if f"{method} {parsed.path}" in self.failing:
            return 500, _error("api_error", "An unknown error occurred (the fake's outage)")
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, _error("invalid_request_error", "Invalid API Key provided",
                               code="api_key_invalid")
        query = dict(parse_qsl(parsed.query))
        form = _form(body.decode())
        item = _ITEM.match(parsed.path)
        with self._lock:
            if method == "GET" and parsed.path == "/v1/webhook_endpoints" and not form \
                    and set(query) <= _LIST:
                data = [self.public(i) for i in self.endpoints]
                return 200, {"object": "list", "data": data, "has_more": False,
                             "url": "/v1/webhook_endpoints"}
            if method == "POST" and parsed.path == "/v1/webhook_endpoints" and not query \
                    and set(form) <= _CREATE and "url" in form:
                made = self._new(form["url"], form.get("enabled_events") or [],
                               form.get("api_version"), form.get("description"),
                               form.get("metadata") or {})
                return 200, dict(made)  # the secret: in this answer only
            if item and not query:
                ep_id = item.group(1)
                ep = self.endpoints.get(ep_id)
                if (method in ("GET", "DELETE") and not form) or \
                        (method == "POST" and set(form) <= _UPDATE):
                    if ep is None:
                        return 404, _error("invalid_request_error",
                                           f"No such webhook endpoint: '{ep_id}'",
                                           code="resource_missing", param="id")
                    if method == "GET":
                        return 200, self.public(ep_id)
                    if method == "DELETE":
                        del self.endpoints[ep_id]
                        return 200, {"id": ep_id, "object": "webhook_endpoint",
                                     "deleted": True}
                    if "disabled" in form:
                        ep["status"] = "disabled" if form["disabled"] == "true" else "enabled"
                    if "description" in form:
                        ep["description"] = form["description"]
                    ep["metadata"].update(form.get("metadata") or {})
                    return 200, self.public(ep_id)
        self.unexpected.append(f"{method} {path} {sorted(form)}")
        return 500, _error("api_error", f"the Stripe fake was not prepared for {method} "
                                        f"{parsed.path}")


def _error(kind: str, message: str, **more: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **more}}


def _form(text: str) -> dict[str, Any]:
    """Stripe's form encoding: `a[0]=x&a[1]=y` is a list, `m[k]=v` a dict."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        name, _, sub = key.partition("[")
        if not sub:
            out[name] = value
        elif sub[:-1].isdigit():
            out.setdefault(name, []).append(value)
        else:
            out.setdefault(name, {})[sub[:-1]] = value
    return out


def start(fake: StripeFake) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, doc = fake.handle(self.command, self.path, self.headers, body)
            except Exception as exc:  # a bug in the fake: still a 500, and recorded
                fake.unexpected.append(f"{self.command} {self.path}: {exc!r}")
                status, doc = 500, _error("api_error", "fake crashed")
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + secrets.token_hex(8))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    # The fake's own port once it has one: a fault test stops the server (Stripe down) and
    # starts it again where breakglass's `api_base` points.
    server = ThreadingHTTPServer((LOOPBACK, fake.port), Handler)
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    """A fresh, empty fake per test; the test fails if breakglass made a call it did not
    prepare for."""
    fake = StripeFake()
    server = start(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
    assert fake.unexpected == [], f"unexpected calls to the Stripe fake: {fake.unexpected}"
