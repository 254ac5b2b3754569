"""A strict local fake of CloudTrail's LookupEvents (moto has no CloudTrail event history), for
the real boto3 client pointed at it through `[aws] service_endpoints.cloudtrail`.

It answers exactly one call, the way cloudtrail.REGION.amazonaws.com does
(https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html):

    POST /  X-Amz-Target: …CloudTrail_20131101.LookupEvents   (JSON 1.1, SigV4 for cloudtrail)
        LookupAttributes  exactly [{"AttributeKey": "AccessKeyId", "AttributeValue": KEY}]
        StartTime         required here (breakglass always bounds the window)
        EndTime, MaxResults (1..50), NextToken   optional

Events of `events[KEY]` with StartTime <= time <= EndTime are answered newest first, in pages.
Strict: any other target, attribute, parameter or a request unsigned for cloudtrail is answered
400 and recorded in `unexpected` — the fixture fails the test when it is not empty. `denied`
answers AccessDeniedException (a policy without cloudtrail:LookupEvents).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.servers._util import LOOPBACK

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
_PARAMS = {"LookupAttributes", "StartTime", "EndTime", "MaxResults", "NextToken"}


@dataclass
class CloudTrailFake:
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    denied: bool = False
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def add(self, key_id: str, at: datetime, name: str, ip: str, agent: str,
            source: str = "iam.amazonaws.com") -> None:
        """A call made with `key_id` at `at` (timezone-aware)."""
        n = sum(len(v) for v in self.events.values())
        self.events.setdefault(key_id, []).append({
            "EventId": f"ev-{n}", "EventName": name, "EventTime": at.timestamp(),
            "EventSource": source, "Username": "ci-deploy", "AccessKeyId": key_id,
            "CloudTrailEvent": json.dumps({"eventName": name, "sourceIPAddress": ip,
                                           "userAgent": agent, "eventSource": source,
                                           "userIdentity": {"accessKeyId": key_id}})})

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("X-Amz-Target") != TARGET:
            return self._bad(f"target {headers.get('X-Amz-Target')!r}")
        if "/cloudtrail/aws4_request" not in (headers.get("Authorization") or ""):
            return self._bad("a request not signed for cloudtrail")
        req = json.loads(body or b"{}")
        self.calls.append(req)
        extra = set(req) - _PARAMS
        attrs = req.get("LookupAttributes")
        if extra:
            return self._bad(f"parameters {sorted(extra)}")
        if not (isinstance(attrs, list) and len(attrs) == 1
                and attrs[0].get("AttributeKey") == "AccessKeyId"
                and attrs[0].get("AttributeValue")):
            return self._bad(f"LookupAttributes {attrs!r}")
        if "StartTime" not in req:
            return self._bad("no StartTime")
        size = int(req.get("MaxResults", 50))
        if not 1 <= size <= 50:
            return self._bad(f"MaxResults {size}")
        if self.denied:
            return 400, {"__type": "AccessDeniedException", "message": "User is not "
                         "authorized to perform: cloudtrail:LookupEvents"}
        start, end = float(req["StartTime"]), float(req.get("EndTime", 1e12))
        found = sorted((e for e in self.events.get(attrs[0]["AttributeValue"], [])
                        if start <= e["EventTime"] <= end), key=lambda e: -e["EventTime"])
        at = int(req.get("NextToken") or 0)
        page = found[at:at + size]
        doc: dict[str, Any] = {"Events": [{k: v for k, v in e.items() if k != "AccessKeyId"}
                                          for e in page]}
        if at + size < len(found):
            doc["NextToken"] = str(at + size)
        return 200, doc

    def _bad(self, what: str) -> tuple[int, dict[str, Any]]:
        self.unexpected.append(what)
        return 400, {"__type": "InvalidParameterException", "message": f"fake: {what}"}


def start(fake: CloudTrailFake) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                status, doc = fake.handle(self.headers, body)
            except Exception as exc:  # a bug in the fake: still an answer, and recorded
                fake.unexpected.append(repr(exc))
                status, doc = 500, {"__type": "InternalFailure", "message": "fake crashed"}
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, fake.port), Handler)
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def cloudtrail() -> Iterator[CloudTrailFake]:
    """A fresh, empty fake per test; the test fails if breakglass made a call it does not
    answer."""
    fake = CloudTrailFake()
    server = start(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
    assert fake.unexpected == [], f"unexpected calls to the CloudTrail fake: {fake.unexpected}"
