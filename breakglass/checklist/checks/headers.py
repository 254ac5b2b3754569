"""headers.csp, headers.nosniff, headers.referrer_policy, headers.clickjacking (seed §7;
docs/checks/web.md).

All four judge one response: the login page ([checklist.web] login_path; the seed's `curl -s -D
- https://yourapp.com/login`), fetched once per run by breakglass/checklist/web.py. Each header is
parsed the way browsers parse it (the specs are cited at each parser), so a value a browser
ignores is reported as such rather than as present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from breakglass.checklist import web
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult, check
from breakglass.engine.findings import Finding, Severity


def _login(ctx: CheckContext) -> web.Page:
    return web.fetch(ctx, ctx.config.checklist.web.login_path)


def _fail(item_id: str, code: str, message: str, page: web.Page, evidence: dict[str, Any],
          action: str | None = None, severity: Severity | None = None) -> Finding:
    return Finding(code, f"{page.url}: {message}", action or BY_ID[item_id].action,
                   severity or BY_ID[item_id].severity, subject=page.url, evidence=evidence)


def _evidence(page: web.Page, *names: str) -> dict[str, Any]:
    return {"url": page.url, "status": page.status, **{n: page.header(n) for n in names}}


def _split_list(values: list[str]) -> list[str]:
    """A header's list values (Fetch "get, decode, and split": comma-separated, trimmed)."""
    return [part.strip() for value in values for part in value.split(",")]


# -- Content-Security-Policy ----------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    """One serialized CSP (CSP3 §2.2.1 "parse a serialized CSP"): directives split on ";",
    names lower-cased, the first of a repeated directive wins."""

    directives: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, text: str) -> Policy:
        directives: dict[str, tuple[str, ...]] = {}
        for token in text.split(";"):
            parts = token.split()
            if parts and parts[0].lower() not in directives:
                directives[parts[0].lower()] = tuple(p.lower() for p in parts[1:])
        return cls(directives)

    def sources(self, *names: str) -> tuple[str, ...] | None:
        """The first present of `names` (a fallback list, e.g. script-src, default-src)."""
        for name in names:
            if name in self.directives:
                return self.directives[name]
        return None


def policies(values: list[str]) -> list[Policy]:
    """CSP3 §4.1: each header value may hold several policies separated by commas; all of them
    are enforced (a resource must pass every one)."""
    return [Policy.parse(p) for p in _split_list(values) if p]


#: scheme-only sources match any host (CSP3 §6.7.2.8); `*` matches any host too
_ANY_HOST = frozenset({"*", "http:", "https:", "data:"})


def script_weaknesses(policy: Policy) -> set[str]:
    """What makes this policy's script control obviously weak."""
    src = policy.sources("script-src", "default-src")
    if src is None:
        return {"no script-src or default-src: scripts are not restricted"}
    # CSP3 §6.7.2.3 / §8.2: with a nonce or hash, 'unsafe-inline' is ignored; with
    # 'strict-dynamic', host and scheme sources are ignored too.
    keyed = any(s.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-")) for s in src)
    strict_dynamic = keyed and "'strict-dynamic'" in src
    weak = set()
    if "'unsafe-inline'" in src and not keyed:
        weak.add("'unsafe-inline' in script-src without a nonce or hash: injected inline "
                 "scripts run")
    if not strict_dynamic and _ANY_HOST & set(src):
        weak.add("script-src allows scripts from any host (" + " ".join(
            sorted(_ANY_HOST & set(src))) + ")")
    return weak


@check("headers.csp")
def csp(ctx: CheckContext) -> CheckResult:
    """Content-Security-Policy must be enforced; a Content-Security-Policy-Report-Only alone
    blocks nothing (CSP3 §4.2). Obvious weaknesses are INFO notes (the seed: "A basic policy is
    better than none"), so they are shown without failing the gate."""
    item = "headers.csp"
    page = _login(ctx)
    enforced = page.all("content-security-policy")
    report_only = page.all("content-security-policy-report-only")
    evidence = _evidence(page, "content-security-policy", "content-security-policy-report-only")
    if not enforced:
        if report_only:
            return CheckResult([_fail(
                item, "CSP_REPORT_ONLY", "only Content-Security-Policy-Report-Only is sent: "
                "violations are reported, nothing is blocked", page, evidence,
                "once the reports are clean, send the same policy as Content-Security-Policy")],
                evidence)
        return CheckResult([_fail(item, "CSP_MISSING", "no Content-Security-Policy header",
                                  page, evidence)], evidence)
    # A weakness matters only when every policy has it: a script must pass all of them.
    weak: set[str] | None = None
    for policy in policies(enforced):
        found = script_weaknesses(policy)
        weak = found if weak is None else weak & found
    if weak:
        evidence["weaknesses"] = sorted(weak)
        return CheckResult([_fail(
            item, "CSP_WEAK", "the Content-Security-Policy is weak: " + "; ".join(sorted(weak)),
            page, evidence, "use nonces or hashes instead of 'unsafe-inline' and list script "
            "hosts explicitly (https://web.dev/articles/strict-csp)", Severity.INFO)], evidence)
    return CheckResult([], evidence)


# -- X-Content-Type-Options -----------------------------------------------------------------------

@check("headers.nosniff")
def nosniff(ctx: CheckContext) -> CheckResult:
    """Fetch §3.5 "determine nosniff": the first value of X-Content-Type-Options must be
    `nosniff` (case-insensitive); anything else is ignored by browsers."""
    item = "headers.nosniff"
    page = _login(ctx)
    values = page.all("x-content-type-options")
    evidence = _evidence(page, "x-content-type-options")
    if not values:
        return CheckResult([_fail(item, "NOSNIFF_MISSING", "no X-Content-Type-Options header",
                                  page, evidence)], evidence)
    first = _split_list(values)[0]
    if first.lower() != "nosniff":
        return CheckResult([_fail(
            item, "NOSNIFF_INVALID", f"X-Content-Type-Options is {first!r}, which browsers "
            "ignore (only 'nosniff' means something)", page, evidence)], evidence)
    return CheckResult([], evidence)


# -- Referrer-Policy ------------------------------------------------------------------------------

#: W3C Referrer Policy §3 (the empty string means "no policy": the browser's default)
REFERRER_POLICIES = frozenset({
    "no-referrer", "no-referrer-when-downgrade", "same-origin", "origin", "strict-origin",
    "origin-when-cross-origin", "strict-origin-when-cross-origin", "unsafe-url"})


def referrer_policy(values: list[str]) -> str | None:
    """W3C Referrer Policy §8.1: the last recognised token of the comma-separated list wins
    (unknown tokens are skipped, so a new policy can be listed after a fallback)."""
    policy = None
    for token in _split_list(values):
        if token.lower() in REFERRER_POLICIES:
            policy = token.lower()
    return policy


@check("headers.referrer_policy")
def referrer(ctx: CheckContext) -> CheckResult:
    item = "headers.referrer_policy"
    page = _login(ctx)
    values = page.all("referrer-policy")
    evidence = _evidence(page, "referrer-policy")
    if not values:
        return CheckResult([_fail(item, "REFERRER_POLICY_MISSING", "no Referrer-Policy header",
                                  page, evidence)], evidence)
    policy = referrer_policy(values)
    evidence["policy"] = policy
    if policy is None:
        return CheckResult([_fail(
            item, "REFERRER_POLICY_INVALID", f"Referrer-Policy {page.header('referrer-policy')!r} "
            "holds no valid policy token, so browsers ignore it", page, evidence)], evidence)
    if policy == "unsafe-url":
        return CheckResult([_fail(
            item, "REFERRER_POLICY_UNSAFE", "Referrer-Policy unsafe-url sends the full URL "
            "(path and query, e.g. reset tokens) to every site, even over plain HTTP", page,
            evidence)], evidence)
    if policy == "no-referrer-when-downgrade":
        return CheckResult([_fail(
            item, "REFERRER_POLICY_LEAKY", "Referrer-Policy no-referrer-when-downgrade sends the "
            "full URL to every other HTTPS site", page, evidence, severity=Severity.INFO)],
            evidence)
    return CheckResult([], evidence)


# -- clickjacking ---------------------------------------------------------------------------------

def _restrictive_ancestors(sources: tuple[str, ...]) -> bool:
    return not _ANY_HOST & set(sources)


def xfo_blocks(values: list[str]) -> bool | None:
    """HTML §7.1.1 "check a navigation response's adherence to X-Frame-Options": True when the
    header refuses cross-origin framing (DENY, SAMEORIGIN, or conflicting values, which fail
    closed); False when browsers ignore it (ALLOW-FROM, typos); None when absent."""
    if not values:
        return None
    options = {v.lower() for v in _split_list(values)}
    if len(options) > 1:
        return bool(options & {"deny", "sameorigin", "allowall"})
    return options <= {"deny", "sameorigin"}


@check("headers.clickjacking")
def clickjacking(ctx: CheckContext) -> CheckResult:
    """CSP frame-ancestors in an enforced policy (it overrides X-Frame-Options: HTML §7.1.1 step
    2; it is ignored in report-only policies), else X-Frame-Options DENY or SAMEORIGIN."""
    item = "headers.clickjacking"
    page = _login(ctx)
    evidence = _evidence(page, "content-security-policy", "x-frame-options")
    ancestors = [p.directives["frame-ancestors"]
                 for p in policies(page.all("content-security-policy"))
                 if "frame-ancestors" in p.directives]
    if ancestors:
        evidence["frame-ancestors"] = [" ".join(a) for a in ancestors]
        # every policy must allow the framing page, so one restrictive policy is enough
        if any(_restrictive_ancestors(a) for a in ancestors):
            return CheckResult([], evidence)
        return CheckResult([_fail(
            item, "FRAME_ANCESTORS_PERMISSIVE", "CSP frame-ancestors allows any site to frame "
            f"the page ({evidence['frame-ancestors'][0]}); X-Frame-Options is then ignored",
            page, evidence)], evidence)
    blocks = xfo_blocks(page.all("x-frame-options"))
    if blocks:
        return CheckResult([], evidence)
    if blocks is None:
        return CheckResult([_fail(
            item, "FRAMING_ALLOWED", "neither CSP frame-ancestors nor X-Frame-Options: any site "
            "can frame the page", page, evidence)], evidence)
    return CheckResult([_fail(
        item, "XFO_INVALID", f"X-Frame-Options {page.header('x-frame-options')!r} is ignored by "
        "browsers (ALLOW-FROM is obsolete): any site can frame the page", page, evidence)],
        evidence)
