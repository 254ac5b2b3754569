"""headers.* against a real nginx over TLS: one location per header configuration, chosen by
[checklist.web] login_path (the page the checks judge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakglass.checklist.checks.headers import Policy, referrer_policy, xfo_blocks
from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult
from breakglass.engine.findings import Outcome, Severity, exit_code
from tests.checklist.context import make_ctx
from tests.servers._util import free_port
from tests.servers.nginx import Nginx, NginxFactory, Server, TestCA

HEADER_ITEMS = ("headers.csp", "headers.nosniff", "headers.referrer_policy",
                "headers.clickjacking")
GOOD_CSP = "default-src 'self'; script-src 'self' 'nonce-r4nd0m'; frame-ancestors 'none'"
# The seed's §7 nginx example, verbatim.
SEED_CSP = ("default-src 'self'; img-src 'self' data: https:; script-src 'self' 'unsafe-inline' "
            "https://js.stripe.com; style-src 'self' 'unsafe-inline'; frame-src "
            "https://js.stripe.com https://hooks.stripe.com; object-src 'none'; base-uri 'self'; "
            "frame-ancestors 'none';")

LOCATIONS: dict[str, dict[str, str]] = {
    "/good": {"Content-Security-Policy": GOOD_CSP, "X-Content-Type-Options": "nosniff",
              "Referrer-Policy": "strict-origin-when-cross-origin", "X-Frame-Options": "DENY"},
    "/seed": {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
              "Referrer-Policy": "strict-origin-when-cross-origin",
              "Content-Security-Policy": SEED_CSP},
    "/bare": {},
    "/report-only": {"Content-Security-Policy-Report-Only": GOOD_CSP},
    "/weak": {"Content-Security-Policy": "default-src *; script-src 'self' 'unsafe-inline' "
                                         "https:; frame-ancestors *",
              "X-Frame-Options": "DENY", "X-Content-Type-Options": "sniff",
              "Referrer-Policy": "unsafe-url"},
    "/xfo-only": {"Content-Security-Policy": "default-src 'self'",
                  "X-Frame-Options": "SAMEORIGIN"},
    "/xfo-allow-from": {"X-Frame-Options": "ALLOW-FROM https://partner.example",
                        "Referrer-Policy": "no-referrer-when-downgrade"},
    "/referrer-bogus": {"Referrer-Policy": "never-ever"},
    "/referrer-fallback": {"Referrer-Policy": "no-referrer, strict-origin-when-cross-origin"},
}


def _location(path: str, headers: dict[str, str]) -> str:
    adds = "".join(f"add_header {name} \"{value}\" always; " for name, value in headers.items())
    return f"location = {path} {{ {adds}return 200 \"ok\\n\"; }}"


@pytest.fixture(scope="module")
def site(nginx_factory: NginxFactory) -> Nginx:
    body = "\n".join(_location(p, h) for p, h in LOCATIONS.items())
    return nginx_factory.start({"app": Server(body, cert="good")})


def ctx_for(tmp_path: Path, site: Nginx, ca: TestCA, path: str) -> CheckContext:
    return make_ctx(tmp_path, f'[app]\nbase_url = "{site.url("app")}"\n\n[checklist.web]\n'
                              f'login_path = "{path}"\nca_bundle = "{ca.bundle}"\n')


def judge(tmp_path: Path, site: Nginx, ca: TestCA, item: str, path: str) -> CheckResult:
    return evaluate(ctx_for(tmp_path, site, ca, path), BY_ID[item])


def only(result: CheckResult) -> tuple[str, Outcome, Severity]:
    assert len(result.findings) == 1, result.findings
    f = result.findings[0]
    return f.code, f.outcome, f.severity


def test_good_headers_pass_every_header_check_from_one_response(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    ctx = ctx_for(tmp_path, site, test_ca, "/good")
    results = {item: evaluate(ctx, BY_ID[item]) for item in HEADER_ITEMS}
    assert [f for r in results.values() for f in r.findings] == []
    assert results["headers.csp"].evidence["content-security-policy"] == GOOD_CSP
    assert results["headers.nosniff"].evidence["x-content-type-options"] == "nosniff"
    assert results["headers.referrer_policy"].evidence["policy"] == \
        "strict-origin-when-cross-origin"
    assert results["headers.clickjacking"].evidence["frame-ancestors"] == ["'none'"]
    assert all(r.evidence["url"] == site.url("app", "/good") for r in results.values())
    assert [k for k in ctx._facts if k.startswith("web:")] == [  # one request for all four
        f"web:GET:{site.url('app', '/good')}:():None"]


def test_the_seeds_example_passes_with_a_weak_csp_note(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    ctx = ctx_for(tmp_path, site, test_ca, "/seed")
    results = {item: evaluate(ctx, BY_ID[item]) for item in HEADER_ITEMS}
    notes = [f for r in results.values() for f in r.findings]
    assert [(f.code, f.severity) for f in notes] == [("CSP_WEAK", Severity.INFO)]
    assert "'unsafe-inline'" in notes[0].message
    assert exit_code(notes) == 0


# -- headers.csp ----------------------------------------------------------------------------------

def test_csp_missing(tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, site, test_ca, "headers.csp", "/bare")
    assert only(result) == ("CSP_MISSING", Outcome.FAILED, Severity.ERROR)


def test_csp_report_only_is_reported_as_such_and_fails(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, site, test_ca, "headers.csp", "/report-only")
    assert only(result) == ("CSP_REPORT_ONLY", Outcome.FAILED, Severity.ERROR)
    assert result.evidence["content-security-policy-report-only"] == GOOD_CSP


def test_csp_weak_policy_is_noted_with_its_reasons(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, site, test_ca, "headers.csp", "/weak")
    assert only(result) == ("CSP_WEAK", Outcome.NOTE, Severity.INFO)
    reasons = " ".join(result.evidence["weaknesses"])
    assert "'unsafe-inline'" in reasons and "any host (https:)" in reasons


def test_csp_weakness_counts_only_when_every_policy_has_it() -> None:
    from breakglass.checklist.checks.headers import policies, script_weaknesses

    weak, strict = policies(["script-src 'unsafe-inline' *, script-src 'self'"])
    assert len(script_weaknesses(weak)) == 2 and script_weaknesses(strict) == set()
    assert script_weaknesses(Policy.parse("script-src 'unsafe-inline' 'nonce-x'")) == set()
    assert script_weaknesses(Policy.parse("frame-ancestors 'none'")) == {
        "no script-src or default-src: scripts are not restricted"}


# -- headers.nosniff ------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "code"), [("/bare", "NOSNIFF_MISSING"),
                                            ("/weak", "NOSNIFF_INVALID")])
def test_nosniff_failures(tmp_path: Path, site: Nginx, test_ca: TestCA, path: str,
                          code: str) -> None:
    result = judge(tmp_path, site, test_ca, "headers.nosniff", path)
    assert only(result) == (code, Outcome.FAILED, Severity.WARNING)


# -- headers.referrer_policy ----------------------------------------------------------------------

def test_referrer_policy_last_valid_token_wins(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, site, test_ca, "headers.referrer_policy", "/referrer-fallback")
    assert result.findings == []
    assert result.evidence["policy"] == "strict-origin-when-cross-origin"
    assert referrer_policy(["unknown-future-policy, no-referrer, also-unknown"]) == "no-referrer"


@pytest.mark.parametrize(("path", "code", "severity"), [
    ("/bare", "REFERRER_POLICY_MISSING", Severity.WARNING),
    ("/referrer-bogus", "REFERRER_POLICY_INVALID", Severity.WARNING),
    ("/weak", "REFERRER_POLICY_UNSAFE", Severity.WARNING),
    ("/xfo-allow-from", "REFERRER_POLICY_LEAKY", Severity.INFO),
])
def test_referrer_policy_failures(tmp_path: Path, site: Nginx, test_ca: TestCA, path: str,
                                  code: str, severity: Severity) -> None:
    result = judge(tmp_path, site, test_ca, "headers.referrer_policy", path)
    # an info finding is a note, never "failed" (what a report and --json say)
    expected = Outcome.NOTE if severity is Severity.INFO else Outcome.FAILED
    assert only(result) == (code, expected, severity)


# -- headers.clickjacking -------------------------------------------------------------------------

def test_clickjacking_x_frame_options_alone_protects(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, site, test_ca, "headers.clickjacking", "/xfo-only")
    assert result.findings == []
    assert result.evidence["x-frame-options"] == "SAMEORIGIN"


@pytest.mark.parametrize(("path", "code"), [
    ("/bare", "FRAMING_ALLOWED"),
    ("/xfo-allow-from", "XFO_INVALID"),
    ("/weak", "FRAME_ANCESTORS_PERMISSIVE"),  # frame-ancestors * overrides its XFO DENY
])
def test_clickjacking_failures(tmp_path: Path, site: Nginx, test_ca: TestCA, path: str,
                               code: str) -> None:
    result = judge(tmp_path, site, test_ca, "headers.clickjacking", path)
    assert only(result) == (code, Outcome.FAILED, Severity.ERROR)


def test_x_frame_options_parsing_follows_html() -> None:
    assert xfo_blocks(["deny"]) is True
    assert xfo_blocks(["DENY", "DENY"]) is True           # one value, repeated
    assert xfo_blocks(["DENY, SAMEORIGIN"]) is True       # conflicting values fail closed
    assert xfo_blocks(["ALLOW-FROM https://x"]) is False
    assert xfo_blocks(["ALLOWALL"]) is False
    assert xfo_blocks([]) is None


# -- could not look -------------------------------------------------------------------------------

@pytest.mark.parametrize("item", HEADER_ITEMS)
def test_unreachable_site_is_unverified(tmp_path: Path, test_ca: TestCA, item: str) -> None:
    ctx = make_ctx(tmp_path, f'[app]\nbase_url = "https://localhost:{free_port()}"\n\n'
                             f'[checklist.web]\nca_bundle = "{test_ca.bundle}"\n')
    result = evaluate(ctx, BY_ID[item])
    assert only(result)[:2] == ("SITE_UNREACHABLE", Outcome.UNVERIFIED)


@pytest.mark.parametrize("item", HEADER_ITEMS)
def test_an_untrusted_certificate_is_unverified_not_judged(
        tmp_path: Path, site: Nginx, item: str) -> None:
    ctx = make_ctx(tmp_path, f'[app]\nbase_url = "{site.url("app")}"\n\n[checklist.web]\n'
                             'login_path = "/good"\n')  # no ca_bundle: the test CA is unknown
    result = evaluate(ctx, BY_ID[item])
    assert only(result)[:2] == ("TLS_UNVERIFIED", Outcome.UNVERIFIED)


def test_no_site_configured_is_unverified(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "")
    result = evaluate(ctx, BY_ID["headers.csp"])
    assert only(result)[:2] == ("NOT_CONFIGURED", Outcome.UNVERIFIED)
