"""Fetching the live site for the web checks (tls.*, headers.*, cookies.secure, app.debug_off).

One request per (method, URL, request headers) per check run: `fetch` memoizes through the
CheckContext, so the eight header checks judge the same login-page response. TLS is verified —
against [checklist.web] ca_bundle when set, else the system's CAs (DESIGN principle 5); a
transport failure is CouldNotVerify (SITE_UNREACHABLE), never a pass.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    from breakglass.checklist.model import CheckContext

#: bytes of a body kept for judging (a debug page shows itself in the first few KB)
BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    #: every response header in order, names lower-cased (Set-Cookie may repeat)
    headers: tuple[tuple[str, str], ...]
    body: str

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return ", ".join(values) if values else None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def location(self) -> str | None:
        return self.header("location")


def site(ctx: CheckContext) -> str | None:
    """The base URL the web checks look at: [checklist.web] base_url, else [app] base_url."""
    web = ctx.config.checklist.web
    if web.base_url:
        return web.base_url.rstrip("/")
    return ctx.config.app.base_url.rstrip("/") if ctx.config.app else None


def required_site(ctx: CheckContext) -> str:
    """site(), or "could not verify" (NOT_CONFIGURED) when the config names none."""
    base = site(ctx)
    if base is None:
        raise CouldNotVerify("no site to check: set [app] base_url or [checklist.web] base_url",
                             code="NOT_CONFIGURED", action='add [app] base_url = "https://…"')
    return base


def url_of(ctx: CheckContext, path_or_url: str) -> str:
    if "://" in path_or_url:
        return path_or_url
    base = required_site(ctx)
    return base + (path_or_url if path_or_url.startswith("/") else "/" + path_or_url)


def ssl_context(ctx: CheckContext) -> ssl.SSLContext:
    """The run's one client TLS context (loading the CA store costs more than a handshake;
    an SSLContext may be shared by every request and thread)."""
    bundle = ctx.config.checklist.web.ca_bundle
    return ctx.fact("tls:client-context",
                    lambda: ssl.create_default_context(cafile=str(bundle) if bundle else None))


def fetch(ctx: CheckContext, path_or_url: str, *, method: str = "GET",
          headers: Mapping[str, str] | None = None, content: bytes | None = None) -> Page:
    """One request, redirects not followed (a redirect is itself evidence)."""
    url = url_of(ctx, path_or_url)
    sent = tuple(sorted((headers or {}).items()))
    return ctx.fact(f"web:{method}:{url}:{sent}:{content!r}",
                    lambda: _request(ctx, method, url, dict(sent), content))


def _request(ctx: CheckContext, method: str, url: str, headers: dict[str, str],
             content: bytes | None) -> Page:
    from breakglass.connectors import http

    web = ctx.config.checklist.web
    try:
        # the standard library's client: a check of one site is ~0.4 s faster (http.py)
        answer = http.light_request(method, url, timeout=web.timeout.total_seconds(),
                                    verify=ssl_context(ctx), headers=headers, content=content,
                                    limit=BODY_LIMIT, code="SITE_UNREACHABLE",
                                    action=f"check that {url} is up and reachable from here")
        try:
            text = answer.body.decode(answer.charset or "utf-8", "replace")
        except LookupError:  # a charset Python does not know
            text = answer.body.decode("utf-8", "replace")
        return Page(url, answer.status, answer.headers, text)
    except http.Unreachable as exc:
        if exc.kind != "certificate":
            raise
        # A certificate that does not verify is a finding of tls.certificate; for the other
        # checks it means "could not look safely".
        raise CouldNotVerify(str(exc), code="TLS_UNVERIFIED",
                             action="fix the certificate (see tls.certificate) or set "
                                    "[checklist.web] ca_bundle for a private CA") from None
