"""What the live app does with cookies, cross-origin requests and errors (docs/checks/web-app.md).

    cookies.secure   the login page's session/CSRF cookies carry Secure, HttpOnly and SameSite
    headers.cors     a foreign origin (and `null`, and a look-alike of the site) is not echoed
                     back in Access-Control-Allow-Origin together with credentials
    app.debug_off    a 404 and a malformed request show no framework debug page or stack trace

Every request goes through breakglass.checklist.web.fetch (memoized, TLS verified) except the
one malformed-body probe of app.debug_off, which fetch cannot send (it takes no body). Cookie
values are secrets: only names and attributes ever reach a finding or the evidence.
"""

from __future__ import annotations

import html
import re
import secrets
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckResult, check
from breakglass.checklist.web import Page, fetch, url_of
from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    from breakglass.checklist.model import CheckContext

#: redirects of the login page followed to find its cookies (`/login` -> `/login/` -> …)
MAX_REDIRECTS = 3


def _probe_token(ctx: CheckContext) -> str:
    """One random token per check run: probe paths and foreign origins nobody has registered."""
    return ctx.fact("app:probe-token", lambda: secrets.token_hex(6))


# --- cookies.secure ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SetCookie:
    """One Set-Cookie header, parsed as a browser does (RFC 6265 §5.2), without its value."""

    name: str
    secure: bool
    httponly: bool
    #: the SameSite attribute as sent ("Lax", "strict", "bogus"), None when absent
    samesite: str | None
    #: Max-Age <= 0 or an Expires in the past: the header removes the cookie
    deletes: bool

    def attributes(self) -> dict[str, Any]:
        return {"secure": self.secure, "httponly": self.httponly, "samesite": self.samesite}


def parse_set_cookie(header: str, now: datetime | None = None) -> SetCookie | None:
    """RFC 6265 §5.2: the name-value pair ends at the first ";" and a pair without "=" is
    ignored; attribute names are case-insensitive and the last occurrence wins; an unparsable
    Expires is ignored. The value is dropped here, never kept."""
    pair, *attrs = header.split(";")
    name, eq, _value = pair.partition("=")
    name = name.strip()
    if not eq or not name:
        return None
    found: dict[str, str] = {}
    for attr in attrs:
        key, _, val = attr.partition("=")
        found[key.strip().lower()] = val.strip()
    deletes = False
    if "max-age" in found:  # Max-Age takes precedence over Expires (§5.3 step 3)
        deletes = bool(re.fullmatch(r"-?\d+", found["max-age"])) and int(found["max-age"]) <= 0
    elif "expires" in found:
        try:
            expires = parsedate_to_datetime(found["expires"])
        except (TypeError, ValueError):
            expires = None
        if expires is not None:
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            deletes = expires <= (now or datetime.now(UTC))
    return SetCookie(name, "secure" in found, "httponly" in found, found.get("samesite"),
                     deletes)


#: names of cookies that carry a session or a CSRF secret: Django (sessionid, csrftoken),
#: Express (connect.sid), Rails (_app_session), Laravel (laravel_session, XSRF-TOKEN), PHP
#: (PHPSESSID), Java (JSESSIONID), Angular (XSRF-TOKEN), auth/JWT/remember-me tokens
_SESSIONISH = re.compile(r"sess|csrf|xsrf|^sid$|\.sid$|auth|jwt|remember", re.IGNORECASE)
_CSRFISH = re.compile(r"csrf|xsrf", re.IGNORECASE)
#: RFC 6265bis §4.1.3: cookie name prefixes that only add constraints
_PREFIX = re.compile(r"^__(host|secure)-", re.IGNORECASE)


def cookie_kind(name: str, configured: Iterable[str] = ()) -> str | None:
    """"csrf", "session" or None (not a cookie this item judges)."""
    bare = _PREFIX.sub("", name)
    if _CSRFISH.search(bare):
        return "csrf"
    if _SESSIONISH.search(bare) or name in configured or bare in configured:
        return "session"
    return None


def _login_pages(ctx: CheckContext) -> list[Page]:
    """The login page and the same-site pages it redirects to (cookies may come with any)."""
    base = urllib.parse.urlsplit(url_of(ctx, "/"))
    pages = [fetch(ctx, ctx.config.checklist.web.login_path)]
    while pages[-1].location and len(pages) <= MAX_REDIRECTS:
        nxt = urllib.parse.urljoin(pages[-1].url, pages[-1].location)
        if urllib.parse.urlsplit(nxt)[:2] != base[:2]:
            break  # another site (an SSO provider): its cookies are not this app's
        pages.append(fetch(ctx, nxt))
    return pages


@check("cookies.secure")
def cookies_secure(ctx: CheckContext) -> CheckResult:
    item = BY_ID["cookies.secure"]
    configured = [ctx.config.accounts.session_cookie] if ctx.config.accounts else []
    pages = _login_pages(ctx)
    # name -> (the cookie as last set, its kind, the page that set it): a cookie set again on
    # a later hop is what the browser keeps
    latest: dict[str, tuple[SetCookie, str, str]] = {}
    ignored: list[str] = []
    for page in pages:
        for header in page.all("set-cookie"):
            cookie = parse_set_cookie(header, ctx.now)
            if cookie is None:
                continue
            kind = cookie_kind(cookie.name, configured)
            if kind is None or cookie.deletes:
                ignored.append(cookie.name)
            else:
                latest[cookie.name] = (cookie, kind, page.url)
    judged = {name: {"kind": kind, "url": url, **cookie.attributes()}
              for name, (cookie, kind, url) in latest.items()}
    findings = [f for cookie, kind, url in latest.values()
                for f in _judge_cookie(cookie, kind, url, item.severity)]
    evidence: dict[str, Any] = {"pages": [{"url": p.url, "status": p.status} for p in pages],
                                "cookies": judged, "ignored": sorted(set(ignored))}
    if not judged:
        seen = "no cookie" if not ignored else f"only {', '.join(sorted(set(ignored)))}"
        return CheckResult([unverified(
            "NO_SESSION_COOKIE", f"the login page ({pages[0].url}, HTTP {pages[0].status}) set "
            f"{seen}: no session or CSRF cookie to judge",
            "point [checklist.web] login_path at a page that sets the session or CSRF cookie "
            "(a login form with a CSRF token does), or name the cookie in [accounts] "
            "session_cookie", pages[0].url, **evidence)], evidence)
    return CheckResult(findings, evidence)


def _judge_cookie(cookie: SetCookie, kind: str, url: str, severity: Severity) -> list[Finding]:
    evidence = {"cookie": cookie.name, "kind": kind, **cookie.attributes()}
    out: list[Finding] = []

    def add(code: str, message: str, action: str, sev: Severity) -> None:
        out.append(Finding(code, f"{kind} cookie {cookie.name} on {url}: {message}", action, sev,
                           subject=url, evidence=evidence))

    if not cookie.secure:
        add("COOKIE_NOT_SECURE", "no Secure attribute, so the browser also sends it over plain "
            "HTTP" + (" (and rejects SameSite=None without Secure)"
                      if (cookie.samesite or "").lower() == "none" else ""),
            "set Secure (Django SESSION_COOKIE_SECURE/CSRF_COOKIE_SECURE = True; Express "
            "cookie.secure = true behind `app.set('trust proxy', 1)`)", severity)
    # Django's CSRF cookie is not HttpOnly by default, and rightly so: "Designating the CSRF
    # cookie as HttpOnly doesn't offer any practical protection because CSRF is only to protect
    # against cross-domain attacks" (docs.djangoproject.com/en/5.2/ref/settings/
    # #csrf-cookie-httponly); Angular's XSRF-TOKEN must be readable by script (double submit).
    if kind == "session" and not cookie.httponly:
        add("COOKIE_NOT_HTTPONLY", "no HttpOnly attribute, so any script on the page (an XSS) "
            "can read the session", "set HttpOnly (Django SESSION_COOKIE_HTTPONLY = True; "
            "Express cookie.httpOnly = true)", severity)
    samesite = (cookie.samesite or "").lower()
    if samesite not in ("lax", "strict", "none"):
        # Browsers differ on the default when it is absent (Chrome: Lax; Safari, Firefox: None);
        # an explicit value is the only one all of them honour (RFC 6265bis §5.6.7).
        shown = "no SameSite attribute" if cookie.samesite is None else \
            f"SameSite={cookie.samesite!r} is not a valid value"
        add("COOKIE_NO_SAMESITE", f"{shown}; browsers disagree on the default",
            "set SameSite=Lax (or Strict) explicitly (Django SESSION_COOKIE_SAMESITE = 'Lax'; "
            "Express cookie.sameSite = 'lax')", Severity.ERROR)
    elif samesite == "none":
        add("COOKIE_SAMESITE_NONE", "SameSite=None: sent with every cross-site request, so CSRF "
            "protection rests on the app alone",
            "use SameSite=Lax unless the app must work inside another site's frame; if it must, "
            "keep Secure and CSRF tokens on every unsafe request", Severity.WARNING)
    return out


# --- headers.cors --------------------------------------------------------------------------------

def _cors_paths(ctx: CheckContext) -> list[str]:
    web = ctx.config.checklist.web
    # [checklist.web] cors_paths, else the login page and the root: CORS middleware
    # (django-cors-headers, flask-cors, cors()) usually covers every path unless limited to an
    # API prefix.
    paths: list[str] = list(web.cors_paths or [web.login_path, "/"])
    return list(dict.fromkeys(paths))


@check("headers.cors")
def cors(ctx: CheckContext) -> CheckResult:
    item = BY_ID["headers.cors"]
    token = _probe_token(ctx)
    host = urllib.parse.urlsplit(url_of(ctx, "/")).hostname or "app"
    foreign = f"https://breakglass-{token}.example"  # RFC 2606: .example is never registered
    # an allow-list checked with startswith/an unanchored regex accepts this one too
    lookalike = f"https://{host}.breakglass-{token}.example"
    seen: list[dict[str, Any]] = []
    hits: dict[str, list[dict[str, Any]]] = {}
    for path in _cors_paths(ctx):
        probes = [("GET", foreign, {}), ("GET", "null", {}), ("GET", lookalike, {}),
                  ("OPTIONS", foreign, {"Access-Control-Request-Method": "POST",
                                        "Access-Control-Request-Headers": "content-type"})]
        for method, origin, extra in probes:
            page = fetch(ctx, path, method=method, headers={"Origin": origin, **extra})
            allow = (page.header("access-control-allow-origin") or "").strip()
            creds = (page.header("access-control-allow-credentials") or "").strip().lower()
            row = {"method": method, "url": page.url, "origin": origin, "status": page.status,
                   "allow_origin": allow or None, "allow_credentials": creds or None,
                   "allow_methods": page.header("access-control-allow-methods")}
            seen.append(row)
            code = _cors_problem(origin, allow, creds == "true", lookalike)
            if code:
                hits.setdefault(code, []).append(row)
    findings = [_cors_finding(code, rows, item.severity) for code, rows in hits.items()]
    return CheckResult(findings, {"requests": seen})


def _cors_problem(origin: str, allow: str, credentials: bool, lookalike: str) -> str | None:
    if allow == "*":
        # The Fetch standard's CORS check fails "*" when the request includes credentials, so
        # this leaks nothing, but it shows the intent to share logged-in responses with anyone.
        return "CORS_WILDCARD_WITH_CREDENTIALS" if credentials else None
    if allow.lower() != origin.lower():
        return None
    if origin == "null":  # an opaque origin (sandboxed iframe, data: URL) is sent as "null"
        return "CORS_NULL_ORIGIN_WITH_CREDENTIALS" if credentials else "CORS_REFLECTS_NULL"
    if origin == lookalike:
        return "CORS_LOOKALIKE_WITH_CREDENTIALS" if credentials else "CORS_REFLECTS_ORIGIN"
    return "CORS_REFLECTS_ORIGIN_WITH_CREDENTIALS" if credentials else "CORS_REFLECTS_ORIGIN"


_CORS_TEXT: dict[str, tuple[str, str, Severity | None]] = {
    "CORS_REFLECTS_ORIGIN_WITH_CREDENTIALS": (
        "echoes any Origin in Access-Control-Allow-Origin with Allow-Credentials: true: any "
        "web site can read a logged-in user's responses",
        "allow only your own origins (django-cors-headers CORS_ALLOWED_ORIGINS, flask-cors "
        "origins=[…], cors({origin: [...]})); never reflect the request's Origin", None),
    "CORS_LOOKALIKE_WITH_CREDENTIALS": (
        "accepts an origin that only begins with the site's host name, with credentials: the "
        "allow-list is a prefix or unanchored-regex match",
        "compare the Origin to an exact list (or anchor the regex with ^…$)", None),
    "CORS_NULL_ORIGIN_WITH_CREDENTIALS": (
        "allows Origin: null with credentials: any sandboxed iframe can read logged-in responses",
        "remove \"null\" from the allowed origins", None),
    "CORS_WILDCARD_WITH_CREDENTIALS": (
        "sends Access-Control-Allow-Origin: * with Allow-Credentials: true (browsers refuse the "
        "pair, but it means credentialed sharing was meant for everyone)",
        "list your own origins instead of *", Severity.WARNING),
    "CORS_REFLECTS_ORIGIN": (
        "echoes any Origin (without credentials): public responses only, like *",
        "fine for a public API; otherwise allow only your own origins", Severity.INFO),
    "CORS_REFLECTS_NULL": (
        "allows Origin: null (without credentials)", "remove \"null\" from the allowed origins",
        Severity.INFO),
}


def _cors_finding(code: str, rows: list[dict[str, Any]], severity: Severity) -> Finding:
    what, action, sev = _CORS_TEXT[code]
    url = rows[0]["url"]
    return Finding(code, f"{url} {what}", action, sev or severity, subject=url,
                   evidence={"requests": rows})


# --- app.debug_off -------------------------------------------------------------------------------

@dataclass(frozen=True)
class DebugSignature:
    code: str
    framework: str
    pattern: re.Pattern[str]
    action: str
    #: what the evidence says was seen, when the matched text itself says little
    seen: str | None = None
    #: a fallback, reported only when no framework's own page matched (Django's and Werkzeug's
    #: pages carry a plain-text traceback too)
    generic: bool = False


_WERKZEUG_ACTION = ("never run the Werkzeug debugger in production: FLASK_DEBUG=0 / "
                    "app.run(debug=False), serve with gunicorn; its console runs any code")
_NODE_FRAME = r"^[ \t]+at [^\n]*?(?:/|[A-Za-z]:\\|file:|node:)[^\s()]*:\d+:\d+\)?[ \t]*$"

#: matched against a page's text with the HTML tags removed and entities decoded
SIGNATURES = (
    # technical_404.html / technical_500.html: "You're seeing this error because you have
    # <code>DEBUG = True</code> in your Django settings file"; the 500 page's summary table
    # ("Django Version:") comes first, in case a big page is cut at the fetch limit
    DebugSignature("DJANGO_DEBUG_PAGE", "Django", re.compile(
        r"DEBUG = True\s+in\s+your\s+Django\s+settings|Django Version:\s*\d[\s\S]{0,400}"
        r"Exception (?:Type|Location):"),
        "set DEBUG = False in the production settings (and ALLOWED_HOSTS), then redeploy"),
    # werkzeug/debug/tbtools.py: "<title>… // Werkzeug Debugger</title>", "The debugger caught
    # an exception in your WSGI application"; its debugger.js (served by the probe below)
    DebugSignature("WERKZEUG_DEBUGGER", "Werkzeug/Flask", re.compile(
        r"Werkzeug Debugger|The debugger caught an exception"), _WERKZEUG_ACTION),
    DebugSignature("WERKZEUG_DEBUGGER", "Werkzeug/Flask", re.compile(
        r"\bEVALEX_TRUSTED\b[\s\S]*\bCONSOLE_MODE\b"), _WERKZEUG_ACTION,
        seen="the debugger's own script (debugger.js) is served: the debugger is on"),
    # Node's Error.stack ("Error: boom\n    at fn (/srv/app.js:4:40)"): Express's final
    # handler prints it unless NODE_ENV=production (expressjs.com/en/guide/error-handling.html)
    DebugSignature("NODE_STACK_TRACE", "Node/Express", re.compile(
        r"^[ \t]*(?:[\w.]*Error|Exception)\b[^\n]*\n(?:[^\n]*\n){0,3}?" + _NODE_FRAME
        + r"\n" + _NODE_FRAME, re.MULTILINE),
        "set NODE_ENV=production for the app (Express then hides stacks) and give it an error "
        "handler that never sends err.stack"),
    # ActionDispatch::DebugExceptions: "<title>Action Controller: Exception caught</title>",
    # "Rails.root: /srv/app"
    DebugSignature("RAILS_DEBUG_PAGE", "Rails", re.compile(
        r"Action Controller: Exception caught|Rails\.root:\s*/"),
        "run with RAILS_ENV=production (config.consider_all_requests_local = false)"),
    DebugSignature("PYTHON_TRACEBACK", "Python", re.compile(
        r"Traceback \(most recent call last\):\s*\n\s*File \"[^\"]+\", line \d+"),
        "turn off the framework's debug mode and return a plain error page; log tracebacks "
        "(Sentry), never send them", generic=True),
)

_TAG = re.compile(r"<[^>]*>")
#: an error message may quote a DSN (postgres://app:PASSWORD@db) or a token: the excerpt kept
#: as evidence shows neither
_USERINFO = re.compile(r"(://)[^/\s@]+@")
_TOKENISH = re.compile(r"[A-Za-z0-9+_=-]{32,}")  # not "/": file paths stay


def _scrub(text: str) -> str:
    return _TOKENISH.sub("…", _USERINFO.sub(r"\1…@", text))


def page_text(body: str) -> str:
    """The text a reader sees: Express's page writes its stack as "<br> &nbsp; &nbsp;at …"."""
    text = re.sub(r"<br\s*/?>", "\n", body, flags=re.IGNORECASE)
    text = html.unescape(_TAG.sub("", text)).replace("\xa0", " ")
    return text


def find_debug(body: str) -> list[tuple[DebugSignature, str]]:
    """Each signature found in `body`, with a short excerpt of what matched."""
    text = page_text(body)
    out = []
    for sig in SIGNATURES:
        m = sig.pattern.search(text)
        if m:
            out.append((sig, sig.seen or _scrub(" ".join(m.group(0).split()))[:200]))
    specific = [(sig, seen) for sig, seen in out if not sig.generic]
    return specific or out


@check("app.debug_off")
def debug_off(ctx: CheckContext) -> CheckResult:
    item = BY_ID["app.debug_off"]
    token = _probe_token(ctx)
    missing = f"/breakglass-probe-{token}"
    # (page, the codes looked for there; None: every one)
    probes: list[tuple[Page, frozenset[str] | None]] = [
        (fetch(ctx, ctx.config.checklist.web.login_path), None),
        (fetch(ctx, missing), None),  # a 404: Django and Rails show their debug pages for it
        # Werkzeug's debugger serves its own script to anyone who asks, error or not
        # (werkzeug/debug/__init__.py DebuggedApplication.__call__, cmd=resource); elsewhere
        # this is the home page, which is judged for that script only
        (fetch(ctx, "/?__debugger__=yes&cmd=resource&f=debugger.js"),
         frozenset({"WERKZEUG_DEBUGGER"})),
    ]
    evidence: dict[str, Any] = {"probes": [{"url": p.url, "status": p.status}
                                           for p, _ in probes]}
    malformed = _malformed_json(ctx, missing)
    if isinstance(malformed, Page):
        probes.append((malformed, None))
        evidence["probes"].append({"url": malformed.url, "status": malformed.status,
                                   "request": "GET with the body '{' as application/json"})
    else:
        evidence["malformed_probe"] = malformed  # refused at the transport: nothing to judge
    hits: dict[str, Finding] = {}
    for page, wanted in probes:
        for sig, excerpt in find_debug(page.body):
            if sig.code not in hits and (wanted is None or sig.code in wanted):
                hits[sig.code] = Finding(
                    sig.code, f"{page.url} (HTTP {page.status}) shows a {sig.framework} debug "
                    f"page or stack trace: {excerpt}", sig.action, item.severity,
                    subject=page.url, evidence={"url": page.url, "status": page.status,
                                                "framework": sig.framework, "seen": excerpt})
    return CheckResult(list(hits.values()), evidence)


def _malformed_json(ctx: CheckContext, path: str) -> Page | str:
    """GET `path` with a truncated JSON body: body parsers (Express's express.json(), most API
    frameworks) reject it before any route runs, which is the cheapest error a stranger can
    cause. Read-only: a GET to a path that does not exist. A transport failure here is reported
    in the evidence, not raised (the other probes already showed the site answers)."""
    try:
        return fetch(ctx, path, headers={"Content-Type": "application/json"}, content=b"{")
    except CouldNotVerify as exc:
        return str(exc)
