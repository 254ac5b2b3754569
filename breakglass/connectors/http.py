"""HTTP, the one way breakglass speaks it: httpx clients are built here, and httpx's errors stop
here (nothing above the connectors catches an httpx exception).

TLS is always verified (DESIGN principle 5): `verify` is True (the system's CAs) or an
SSLContext a caller built for a private CA; never False.

    could not get an answer             Unreachable (CouldNotVerify) with `kind`:
        certificate   the server's certificate does not verify
        tls           the TLS handshake failed otherwise
        timeout       no answer in time (connect, read or write)
        connect       refused, no route, DNS
        other         the connection broke, a protocol error
    an answer, any status               the httpx Response (the caller judges the status)

The caller gives the finding `code` and `action` of an Unreachable (or catches it and says
more: a scenario drill tells a deadline from a dead app by `kind`). httpx is imported when a
request is made: `breakglass --help` imports the modules that import this one.
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    import httpx

Kind = Literal["certificate", "tls", "timeout", "connect", "other"]


class Unreachable(CouldNotVerify):
    """No HTTP answer. `detail` is httpx's exception name and first words (never a header or
    a body: a request may carry a token)."""

    def __init__(self, message: str, *, kind: Kind, detail: str, code: str,
                 action: str) -> None:
        super().__init__(message, code=code, action=action)
        self.kind = kind
        self.detail = detail


def client(*, timeout: float, verify: bool | ssl.SSLContext = True,
           follow_redirects: bool = False) -> httpx.Client:
    """A client (its own cookie jar); close it, or use it in a `with`. Redirects are not
    followed unless asked: a redirect is often the evidence (a login page, http -> https)."""
    import httpx

    return httpx.Client(verify=verify, timeout=timeout, follow_redirects=follow_redirects)


def _kind(exc: Exception) -> Kind:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        if isinstance(exc.__context__, ssl.SSLCertVerificationError) \
                or "CERTIFICATE" in str(exc):
            return "certificate"
        return "tls" if isinstance(exc.__context__, ssl.SSLError) else "connect"
    return "other"


_SAID = {"certificate": "TLS certificate does not verify", "tls": "TLS handshake failed",
         "timeout": "no answer in time", "connect": "cannot connect",
         "other": "the connection failed"}


@contextmanager
def translated(what: str, *, code: str = "HTTP_UNREACHABLE",
               action: str = "check that it is up and reachable from here") -> Iterator[None]:
    """httpx errors inside the block become Unreachable("WHAT: what happened (detail)")."""
    import httpx

    try:
        yield
    except httpx.HTTPError as exc:
        kind = _kind(exc)
        detail = f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__
        raise Unreachable(f"{what}: {_SAID[kind]} ({detail})", kind=kind, detail=detail,
                          code=code, action=action) from None


def request(method: str, url: str, *, timeout: float, code: str = "HTTP_UNREACHABLE",
            action: str = "check that it is up and reachable from here",
            verify: bool | ssl.SSLContext = True, follow_redirects: bool = False,
            **kw: Any) -> httpx.Response:
    """One request on a client of its own (no cookies kept); `kw` are httpx's (headers,
    content, data, json). Unreachable when no answer came."""
    with translated(url, code=code, action=action), \
            client(timeout=timeout, verify=verify, follow_redirects=follow_redirects) as c:
        return c.request(method, url, **kw)


@dataclass(frozen=True)
class Answer:
    """An answer read by `light_request`: every header in order, names lower-cased (Set-Cookie
    may repeat), and at most `limit` bytes of the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    charset: str | None


def light_request(method: str, url: str, *, timeout: float, verify: ssl.SSLContext,
                  headers: Mapping[str, str] | None = None, content: bytes | None = None,
                  limit: int, code: str = "HTTP_UNREACHABLE",
                  action: str = "check that it is up and reachable from here") -> Answer:
    """One request with the standard library's client, for `breakglass check`'s web items:
    importing httpx (with click installed — apprise needs it — httpx also imports its command
    line) and building a client per request cost a check of one site ~0.4 s of ~2 s
    (bench/check_observatory.py). Redirects are not followed and any status is an answer;
    proxies come from the environment as with httpx (HTTP(S)_PROXY, NO_PROXY). Unreachable
    (with the same kinds) when no answer came."""
    from http.client import HTTPException
    from urllib import error as urlerror
    from urllib import request as urlrequest

    # Only these handlers: no redirect handler, no error processor (a 301 or a 404 comes back
    # as it came), and no scheme but http and https (anything else is a URLError).
    opener = urlrequest.OpenerDirector()
    for handler in (urlrequest.ProxyHandler(), urlrequest.HTTPHandler(),
                    urlrequest.HTTPSHandler(context=verify)):
        opener.add_handler(handler)
    req = urlrequest.Request(url, data=content, headers=dict(headers or {}),  # noqa: S310
                             method=method)
    try:
        with opener.open(req, timeout=timeout) as resp:
            return Answer(resp.status, tuple((k.lower(), v) for k, v in resp.headers.items()),
                          resp.read(limit), resp.headers.get_content_charset())
    except (urlerror.URLError, OSError, HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urlerror.URLError) else exc
        kind: Kind
        if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE" in str(reason):
            kind = "certificate"
        elif isinstance(reason, ssl.SSLError):
            kind = "tls"
        elif isinstance(reason, TimeoutError):
            kind = "timeout"
        elif isinstance(reason, OSError) and isinstance(exc, urlerror.URLError):
            kind = "connect"
        else:
            kind = "other"
        name = type(reason).__name__
        detail = f"{name}: {str(reason)[:200]}" if str(reason) else name
        host = urllib.parse.urlsplit(url).hostname or url
        raise Unreachable(f"{host}: {_SAID[kind]} ({detail})", kind=kind, detail=detail,
                          code=code, action=action) from None
