"""A strict local fake of the two vulnerability services `deps.audit` asks, for the real
pip-audit and the real npm pointed at it.

No real advisory server can run here: OSV's API (https://osv.dev) runs on Google Cloud and
pip-audit has no local vulnerability database (its --cache-dir is an HTTP cache of PyPI
answers); npm's audit is answered by the registry (registry.npmjs.org), and the local registries
(verdaccio) forward audits to it. So this answers exactly what the tools send, the way the
services do, with real advisory records:

    POST /v1/query                              OSV query (https://google.github.io/osv.dev/
                                                post-v1-query/): {"package": {"name",
                                                "ecosystem": "PyPI"}, "version"} -> {"vulns":
                                                [OSV records]} or {} (OSV's "none known")
    POST /-/npm/v1/security/advisories/bulk     npm's bulk advisory endpoint (gzip JSON
                                                {name: [versions]}) -> {name: [advisories]}
    GET  /<name>                                the packument npm reads to compute fixes

Strict: any other method, path or body shape is answered 500 and recorded in `unexpected`; the
block fails the test when it is not empty.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers._util import LOOPBACK

# GHSA-x84v-xcm2-53pg as osv.dev serves it (abridged: fields pip-audit does not read dropped).
REQUESTS_2_19 = {
    "schema_version": "1.6.0", "id": "GHSA-x84v-xcm2-53pg",
    "aliases": ["CVE-2018-18074", "PYSEC-2018-28"],
    "summary": "Insufficiently Protected Credentials in Requests",
    "published": "2018-10-29T19:07:41Z", "modified": "2024-09-26T18:44:36Z",
    "affected": [{"package": {"ecosystem": "PyPI", "name": "requests",
                              "purl": "pkg:pypi/requests"},
                  "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}]}],
}
# GHSA-vh95-rmgr-6w4m as the npm registry's bulk endpoint returns it.
MINIMIST = {
    "id": 1179, "url": "https://github.com/advisories/GHSA-vh95-rmgr-6w4m",
    "title": "Prototype Pollution in minimist", "severity": "moderate",
    "vulnerable_versions": "<0.2.1 || >=1.0.0 <1.2.3", "cwe": ["CWE-1321"],
    "cvss": {"score": 5.6, "vectorString": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:L"},
}


@dataclass
class AdvisoryFake:
    #: (name, version) -> OSV records
    osv: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: npm name -> advisories (returned whatever versions are asked about, like the registry)
    npm: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: npm name -> published versions (the packument)
    versions: dict[str, list[str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        self.calls.append(f"{method} {path}")
        if method == "POST" and path == "/v1/query":
            q = json.loads(body)
            pkg = q.get("package", {})
            if set(q) != {"package", "version"} or pkg.get("ecosystem") != "PyPI":
                return self._refuse(f"OSV query {q}")
            vulns = self.osv.get((pkg.get("name"), q["version"]), [])
            return 200, ({"vulns": vulns} if vulns else {})
        if method == "POST" and path == "/-/npm/v1/security/advisories/bulk":
            asked = json.loads(body)
            if not isinstance(asked, dict) or not all(isinstance(v, list)
                                                      for v in asked.values()):
                return self._refuse(f"bulk body {asked}")
            return 200, {n: self.npm[n] for n in asked if n in self.npm}
        name = path.strip("/")
        if method == "GET" and name in self.versions:
            return 200, {"name": name, "dist-tags": {"latest": self.versions[name][-1]},
                         "versions": {v: {"name": name, "version": v,
                                          "dist": {"tarball": f"{self.url}/{name}-{v}.tgz"}}
                                      for v in self.versions[name]}}
        return self._refuse(f"{method} {path}")

    def _refuse(self, what: str) -> tuple[int, Any]:
        self.unexpected.append(what)
        return 500, {"error": f"advisory fake: unexpected {what}"}


@contextlib.contextmanager
def serve() -> Iterator[AdvisoryFake]:
    """Run the fake on a free loopback port for the block; fail if it saw an unexpected call."""
    fake = AdvisoryFake()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            status, data = fake.answer(self.command, self.path, body)
            out = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not fake.unexpected, f"requests the fake was not prepared for: {fake.unexpected}"
