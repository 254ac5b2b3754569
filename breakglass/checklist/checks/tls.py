"""tls.https_redirect, tls.certificate, tls.expiry, tls.version, tls.hsts (seed §6;
docs/checks/web.md).

The site is [checklist.web] base_url, else [app] base_url; it must be https:// — an http://
base_url means the site is checked without TLS at all, which is itself the finding NO_HTTPS.
The certificate and protocol checks talk TLS directly (breakglass/checklist/tlsprobe.py); the
redirect and HSTS checks judge HTTP responses (breakglass/checklist/web.py).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from breakglass.checklist import tlsprobe, web
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult, check
from breakglass.checklist.tlsprobe import Target
from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.errors import CouldNotVerify

#: RFC 9110 §15.4: 301 and 308 are permanent (browsers and caches remember them); 302, 303 and
#: 307 are temporary, so every plain-HTTP visit asks port 80 again before it is sent on.
PERMANENT = frozenset({301, 308})
TEMPORARY = frozenset({302, 303, 307})


def _finding(item_id: str, code: str, message: str, action: str, subject: str,
             evidence: dict[str, Any], severity: Severity | None = None) -> Finding:
    return Finding(code, message, action, severity or BY_ID[item_id].severity,
                   subject=subject, evidence=evidence)


def _no_https(item_id: str, t: Target) -> CheckResult:
    evidence = {"base_url": t.base_url}
    return CheckResult([_finding(
        item_id, "NO_HTTPS", f"the site is configured as {t.base_url}: it is served without TLS",
        "serve the site over HTTPS (e.g. certbot --nginx) and set base_url to its https:// "
        "URL", t.base_url, evidence)], evidence)


# -- tls.https_redirect ---------------------------------------------------------------------------

def http_url(ctx: CheckContext, t: Target) -> str:
    web_cfg = ctx.config.checklist.web
    host = f"[{t.host}]" if ":" in t.host else t.host
    port = "" if web_cfg.http_port == 80 else f":{web_cfg.http_port}"
    # the same page web.fetch reads over HTTPS (base_url may carry a path prefix)
    https_url = web.url_of(ctx, web_cfg.login_path)
    return f"http://{host}{port}{urllib.parse.urlsplit(https_url).path}"


def _same_https_origin(location: str, t: Target) -> bool:
    parts = urllib.parse.urlsplit(location)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a malformed port is no redirect to us
        return False
    return (parts.scheme == "https" and (parts.hostname or "").lower() == t.host.lower()
            and port == t.port)


@check("tls.https_redirect")
def https_redirect(ctx: CheckContext) -> CheckResult:
    """`GET http://HOST/login` must answer a permanent redirect to https://HOST/… (seed §6:
    `return 301 https://$host$request_uri;`)."""
    item = "tls.https_redirect"
    t = tlsprobe.target(ctx)
    if not t.https:
        return _no_https(item, t)
    url = http_url(ctx, t)
    page = web.fetch(ctx, url)
    # A relative Location resolves against the http:// URL (RFC 9110 §10.2.2): still plain.
    location = urllib.parse.urljoin(url, page.location) if page.location else None
    evidence = {"url": url, "status": page.status, "location": location}
    if page.status not in PERMANENT | TEMPORARY:
        return CheckResult([_finding(
            item, "HTTP_NOT_REDIRECTED", f"{url} answered {page.status} instead of redirecting "
            "to HTTPS: the page is served in plain text", BY_ID[item].action, url, evidence)],
            evidence)
    if location is None or not _same_https_origin(location, t):
        return CheckResult([_finding(
            item, "HTTPS_REDIRECT_WRONG_TARGET", f"{url} redirects ({page.status}) to "
            f"{location or 'nowhere (no Location)'}, not to https://{t.netloc}",
            f"redirect to the https:// URL of the same host: {BY_ID[item].action}", url,
            evidence)], evidence)
    if page.status in TEMPORARY:
        # Accepted (the browser does end up on HTTPS, and HSTS then skips port 80), but noted:
        # a temporary redirect is not cached, so without HSTS every visit starts in plain text.
        return CheckResult([_finding(
            item, "HTTPS_REDIRECT_TEMPORARY", f"{url} redirects to HTTPS with a temporary "
            f"{page.status}; a permanent 301/308 is remembered by browsers",
            "use `return 301 https://$host$request_uri;`", url, evidence, Severity.INFO)],
            evidence)
    return CheckResult([], evidence)


# -- tls.certificate ------------------------------------------------------------------------------

_CERT_ACTIONS = {
    "CERT_EXPIRED": "renew the certificate now (certbot renew) and reload the web server; then "
                    "fix automatic renewal (see tls.expiry)",
    "CERT_NOT_YET_VALID": "check the server's clock and the certificate's notBefore",
    "CERT_SELF_SIGNED": "replace the self-signed certificate with one from a trusted CA (e.g. "
                        "Let's Encrypt); for a private CA set [checklist.web] ca_bundle",
    "CERT_UNKNOWN_CA": "serve the full chain (nginx ssl_certificate = fullchain.pem) of a trusted "
                       "CA; for a private CA set [checklist.web] ca_bundle",
    "CERT_WRONG_HOST": "get a certificate whose names (SANs) include the host name",
}


@check("tls.certificate")
def certificate(ctx: CheckContext) -> CheckResult:
    """A handshake verified against the trust store ([checklist.web] ca_bundle or the system's)
    with the host name checked (Python's ssl: check_hostname, SNI = the host)."""
    item = "tls.certificate"
    t = tlsprobe.target(ctx)
    if not t.https:
        return _no_https(item, t)
    hs = tlsprobe.handshake(ctx)
    evidence: dict[str, Any] = {"host": t.host, "port": t.port, "verified": hs.verified,
                                "version": hs.version,
                                "trust": str(ctx.config.checklist.web.ca_bundle or "system CAs")}
    if hs.cert is not None:
        evidence.update(hs.cert.evidence())
    if hs.verified:
        return CheckResult([], evidence)
    assert hs.verify_code is not None
    code = tlsprobe.verify_finding_code(hs.verify_code)
    evidence.update(verify_code=hs.verify_code, verify_message=hs.verify_message)
    return CheckResult([_finding(
        item, code, f"{t.netloc}: the certificate does not verify: {hs.verify_message} "
        f"(OpenSSL verify code {hs.verify_code})",
        _CERT_ACTIONS.get(code, BY_ID[item].action), t.netloc, evidence)], evidence)


# -- tls.expiry -----------------------------------------------------------------------------------

@check("tls.expiry")
def expiry(ctx: CheckContext) -> CheckResult:
    """notAfter must lie beyond [checklist.web] cert_margin (21 days): Let's Encrypt
    certificates live 90 days and certbot renews at 30 days left, so a certificate closer to
    its end than the margin means renewal (or the reload after it) is not working. Judged on
    the served certificate even when it does not verify (tls.certificate reports that)."""
    item = "tls.expiry"
    t = tlsprobe.target(ctx)
    if not t.https:
        return _no_https(item, t)
    hs = tlsprobe.handshake(ctx)
    if hs.cert is None:
        return CheckResult([unverified(
            "CERT_UNREADABLE", f"{t.netloc}: could not read the served certificate",
            f"check `openssl s_client -connect {t.netloc} -servername {t.host}`", t.netloc)])
    margin = ctx.config.checklist.web.cert_margin
    left = hs.cert.not_after - ctx.now
    days_left = left.days  # floor: 20 days 23 h is "20 days left"
    evidence = {"host": t.host, "not_after": hs.cert.not_after.isoformat(),
                "days_left": days_left, "margin_days": margin.days, "verified": hs.verified}
    if left.total_seconds() <= 0:
        return CheckResult([_finding(
            item, "CERT_EXPIRED", f"{t.netloc}: the certificate expired on "
            f"{hs.cert.not_after:%Y-%m-%d}", _CERT_ACTIONS["CERT_EXPIRED"], t.netloc,
            evidence, Severity.CRITICAL)], evidence)
    if left < margin:
        return CheckResult([_finding(
            item, "CERT_EXPIRES_SOON", f"{t.netloc}: the certificate expires in {days_left} "
            f"days ({hs.cert.not_after:%Y-%m-%d}), inside the {margin.days}-day margin: "
            "renewal is not working", BY_ID[item].action, t.netloc, evidence)], evidence)
    return CheckResult([], evidence)


# -- tls.version ----------------------------------------------------------------------------------

@check("tls.version")
def version(ctx: CheckContext) -> CheckResult:
    """TLS 1.0 and 1.1 must be refused (RFC 8996 deprecates them): a handshake offering only
    those must fail. The version a normal handshake negotiates is recorded as evidence."""
    item = "tls.version"
    t = tlsprobe.target(ctx)
    if not t.https:
        return _no_https(item, t)
    try:
        negotiated = tlsprobe.handshake(ctx).version
        modern_failed: CouldNotVerify | None = None
    except CouldNotVerify as exc:
        if exc.code != "TLS_HANDSHAKE_FAILED":
            raise
        # A server that speaks only TLS 1.0/1.1 fails a modern handshake: the probe still
        # tells us whether that is why.
        negotiated, modern_failed = None, exc
    probe = tlsprobe.old_tls_probe(ctx)
    evidence = {"host": t.host, "negotiated": negotiated, "old_tls_offered": probe.offered,
                "old_tls_accepted": probe.accepted, "old_tls_detail": probe.detail}
    if not probe.offered:
        return CheckResult([unverified(
            "OLD_TLS_UNTESTED", f"{t.netloc}: whether TLS 1.0/1.1 is refused was not tested: "
            f"{probe.detail}", "run the check from a machine whose OpenSSL can still offer TLS "
            f"1.0/1.1, or test with `openssl s_client -tls1_1 -connect {t.netloc}`", t.netloc,
            **evidence)], evidence)
    if probe.accepted is not None:
        only_old = " and no TLS 1.2 or newer" if modern_failed else ""
        return CheckResult([_finding(
            item, "TLS_OLD_VERSION_ACCEPTED", f"{t.netloc} accepts {probe.accepted}{only_old} "
            "(TLS 1.0/1.1 are deprecated by RFC 8996)", BY_ID[item].action, t.netloc,
            evidence)], evidence)
    if modern_failed is not None:
        raise modern_failed
    return CheckResult([], evidence)


# -- tls.hsts -------------------------------------------------------------------------------------

def parse_hsts(value: str) -> dict[str, Any] | None:
    """RFC 6797 §6.1: `max-age=N` (required; the value may be quoted), `includeSubDomains`,
    `preload` (hstspreload.org), directive names case-insensitive. None: no valid max-age."""
    max_age: int | None = None
    flags: set[str] = set()
    for part in value.split(";"):
        name, _, raw = part.strip().partition("=")
        name = name.strip().lower()
        if name == "max-age":
            raw = raw.strip().strip('"')
            if not raw.isdigit() or max_age is not None:  # §6.1: a directive appears once
                return None
            max_age = int(raw)
        elif name in ("includesubdomains", "preload"):
            flags.add(name)
    if max_age is None:
        return None
    return {"max_age": max_age, "include_subdomains": "includesubdomains" in flags,
            "preload": "preload" in flags}


@check("tls.hsts")
def hsts(ctx: CheckContext) -> CheckResult:
    """Strict-Transport-Security on the login page, over HTTPS (RFC 6797 §8.1: a UA ignores it
    over plain HTTP), with max-age >= [checklist.web] hsts_min_age (a year)."""
    item = "tls.hsts"
    t = tlsprobe.target(ctx)
    if not t.https:
        return _no_https(item, t)
    page = web.fetch(ctx, ctx.config.checklist.web.login_path)
    values = page.all("strict-transport-security")
    minimum = int(ctx.config.checklist.web.hsts_min_age.total_seconds())
    evidence: dict[str, Any] = {"url": page.url, "status": page.status,
                                "strict-transport-security": values[0] if values else None,
                                "min_max_age": minimum}
    action = BY_ID[item].action
    if not values:
        return CheckResult([_finding(
            item, "HSTS_MISSING", f"{page.url} sends no Strict-Transport-Security header",
            action, page.url, evidence)], evidence)
    # RFC 6797 §8.1: a UA processes only the first STS header field.
    parsed = parse_hsts(values[0])
    if parsed is None:
        return CheckResult([_finding(
            item, "HSTS_INVALID", f"{page.url}: Strict-Transport-Security {values[0]!r} has no "
            "valid max-age, so browsers ignore it", action, page.url, evidence)], evidence)
    evidence.update(parsed)
    if parsed["max_age"] < minimum:
        return CheckResult([_finding(
            item, "HSTS_TOO_SHORT", f"{page.url}: HSTS max-age={parsed['max_age']} is below "
            f"{minimum} s", action, page.url, evidence)], evidence)
    return CheckResult([], evidence)
