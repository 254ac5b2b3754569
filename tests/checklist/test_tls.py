"""tls.* against a real nginx serving good and bad certificates, protocols, redirects and HSTS
(certificates from the test CA in tests/servers/nginx.py)."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path

import pytest

from breakglass.checklist import tlsprobe
from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckResult
from breakglass.engine.findings import Outcome, Severity, exit_code
from tests.checklist.context import codes, make_ctx
from tests.servers._util import free_port
from tests.servers.nginx import Nginx, NginxFactory, Server, TestCA

TLS_ITEMS = ("tls.https_redirect", "tls.certificate", "tls.expiry", "tls.version", "tls.hsts")
_OK = 'return 200 "ok\\n";'


def _hsts(value: str | None) -> str:
    header = f'add_header Strict-Transport-Security "{value}" always; ' if value else ""
    return f"{header}{_OK}"


def _to_good(status: int, target: str = "https://localhost:PORT(good)") -> str:
    return f"return {status} {target}$request_uri;"


@pytest.fixture(scope="module")
def site(nginx_factory: NginxFactory) -> Nginx:
    modern = "ssl_protocols TLSv1.2 TLSv1.3;\n"
    plain = "location / { " + _OK + " }"
    return nginx_factory.start({
        "good": Server(modern + "\n".join([
            "location = /login { " + _hsts("max-age=31536000; includeSubDomains; preload") + " }",
            "location = /short { " + _hsts("max-age=86400") + " }",
            "location = /none { " + _OK + " }",
            "location = /invalid { " + _hsts("includeSubDomains") + " }",
        ]), cert="good"),
        "plain": Server("\n".join([
            "location = /login { " + _to_good(301) + " }",
            "location = /permanent308 { " + _to_good(308) + " }",
            "location = /temporary { " + _to_good(302) + " }",
            "location = /served { " + _OK + " }",
            "location = /elsewhere { " + _to_good(301, "https://www.example.test") + " }",
            "location = /downgrade { " + _to_good(301, "http://localhost:PORT(good)") + " }",
            "location = /relative { return 301 /login; }",
        ])),
        "expired": Server(modern + plain, cert="expired"),
        "expiring": Server(modern + plain, cert="expiring"),
        "wronghost": Server(modern + plain, cert="wronghost"),
        "selfsigned": Server(modern + plain, cert="selfsigned"),
        "unknownca": Server(modern + plain, cert="unknownca"),
        "notyet": Server(modern + plain, cert="notyet"),
        "clientonly": Server(modern + plain, cert="clientonly"),
        # OpenSSL 3 needs security level 0 to speak TLS 1.0/1.1 at all (server side too)
        "oldtls": Server("ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n"
                         "ssl_ciphers DEFAULT:@SECLEVEL=0;\n" + plain, cert="good"),
        "onlyold": Server("ssl_protocols TLSv1 TLSv1.1;\n"
                          "ssl_ciphers DEFAULT:@SECLEVEL=0;\n" + plain, cert="good"),
    })


def judge(tmp_path: Path, item: str, base_url: str, *, ca: TestCA | None = None,
          http_port: int | None = None, login_path: str = "/login",
          extra: str = "") -> CheckResult:
    web = f'login_path = "{login_path}"\n'
    if ca is not None:
        web += f'ca_bundle = "{ca.bundle}"\n'
    if http_port is not None:
        web += f"http_port = {http_port}\n"
    ctx = make_ctx(tmp_path, f'[app]\nbase_url = "{base_url}"\n\n[checklist.web]\n{web}{extra}')
    return evaluate(ctx, BY_ID[item])


def only(result: CheckResult) -> tuple[str, Outcome, Severity]:
    assert len(result.findings) == 1, result.findings
    f = result.findings[0]
    return f.code, f.outcome, f.severity


# -- tls.https_redirect ---------------------------------------------------------------------------

def redirect(tmp_path: Path, site: Nginx, test_ca: TestCA, path: str) -> CheckResult:
    return judge(tmp_path, "tls.https_redirect", site.url("good"), ca=test_ca,
                 http_port=site.port("plain"), login_path=path)


@pytest.mark.parametrize("path", ["/login", "/permanent308"])
def test_https_redirect_passes_on_a_permanent_redirect_to_the_same_https_origin(
        tmp_path: Path, site: Nginx, test_ca: TestCA, path: str) -> None:
    result = redirect(tmp_path, site, test_ca, path)
    assert result.findings == []
    assert result.evidence["status"] in (301, 308)
    assert result.evidence["location"] == site.url("good", path)


def test_https_redirect_temporary_redirect_is_accepted_with_a_note(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = redirect(tmp_path, site, test_ca, "/temporary")
    assert only(result) == ("HTTPS_REDIRECT_TEMPORARY", Outcome.NOTE, Severity.INFO)
    assert exit_code(result.findings) == 0
    assert result.evidence["status"] == 302


def test_https_redirect_page_served_over_http_is_http_not_redirected(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = redirect(tmp_path, site, test_ca, "/served")
    assert only(result) == ("HTTP_NOT_REDIRECTED", Outcome.FAILED, Severity.CRITICAL)
    assert result.evidence["status"] == 200


@pytest.mark.parametrize("path", ["/elsewhere", "/downgrade", "/relative"])
def test_https_redirect_to_another_host_or_to_http_is_wrong_target(
        tmp_path: Path, site: Nginx, test_ca: TestCA, path: str) -> None:
    result = redirect(tmp_path, site, test_ca, path)
    assert codes(result) == ["HTTPS_REDIRECT_WRONG_TARGET"]
    assert result.evidence["location"].startswith(("https://www.example.test", "http://"))


def test_https_redirect_port_80_closed_is_unverified(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.https_redirect", site.url("good"), ca=test_ca,
                   http_port=free_port())
    assert only(result)[:2] == ("SITE_UNREACHABLE", Outcome.UNVERIFIED)


@pytest.mark.parametrize("item", TLS_ITEMS)
def test_an_http_base_url_is_no_https_for_every_tls_item(
        tmp_path: Path, site: Nginx, item: str) -> None:
    result = judge(tmp_path, item, site.url("plain"))
    assert codes(result) == ["NO_HTTPS"]
    assert result.findings[0].outcome is Outcome.FAILED


# -- tls.certificate ------------------------------------------------------------------------------

def test_certificate_verified_against_the_ca_bundle_passes_with_public_evidence(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.certificate", site.url("good"), ca=test_ca)
    assert result.findings == []
    ev = result.evidence
    assert ev["verified"] is True
    assert ev["subject"] == "CN=localhost,O=breakglass tests"
    assert ev["issuer"] == "CN=breakglass test CA,O=breakglass tests"
    assert ev["sans"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert ev["not_after"] and ev["version"] == "TLSv1.3"
    assert "PRIVATE KEY" not in repr(ev) and "BEGIN" not in repr(ev)


def test_certificate_of_a_private_ca_without_ca_bundle_is_unknown_ca(
        tmp_path: Path, site: Nginx) -> None:
    result = judge(tmp_path, "tls.certificate", site.url("good"))
    assert codes(result) == ["CERT_UNKNOWN_CA"]
    assert result.evidence["trust"] == "system CAs"


@pytest.mark.parametrize(("server", "code"), [
    ("expired", "CERT_EXPIRED"),
    ("selfsigned", "CERT_SELF_SIGNED"),
    ("unknownca", "CERT_UNKNOWN_CA"),
    ("wronghost", "CERT_WRONG_HOST"),
    ("notyet", "CERT_NOT_YET_VALID"),
    ("clientonly", "CERT_INVALID"),  # verify code 26: unsupported certificate purpose
])
def test_certificate_failure_has_its_own_code_and_evidence(
        tmp_path: Path, site: Nginx, test_ca: TestCA, server: str, code: str) -> None:
    result = judge(tmp_path, "tls.certificate", site.url(server), ca=test_ca)
    assert only(result) == (code, Outcome.FAILED, Severity.CRITICAL)
    ev = result.findings[0].evidence
    assert ev["verified"] is False and ev["verify_code"] and ev["verify_message"]
    assert ev["subject"] and ev["not_after"]  # read from the unverified look
    if server == "wronghost":
        assert ev["sans"] == ["DNS:www.example.test"]


def test_certificate_unreachable_site_is_unverified(tmp_path: Path, test_ca: TestCA) -> None:
    for item in ("tls.certificate", "tls.expiry", "tls.version", "tls.hsts"):
        result = judge(tmp_path, item, f"https://localhost:{free_port()}", ca=test_ca)
        assert only(result)[:2] == ("SITE_UNREACHABLE", Outcome.UNVERIFIED), item


def test_certificate_on_a_port_without_tls_is_unverified(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.certificate", f"https://localhost:{site.port('plain')}",
                   ca=test_ca)
    assert only(result)[:2] == ("TLS_HANDSHAKE_FAILED", Outcome.UNVERIFIED)


# -- tls.expiry -----------------------------------------------------------------------------------

def test_expiry_beyond_the_margin_passes(tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.expiry", site.url("good"), ca=test_ca)
    assert result.findings == []
    assert 363 <= result.evidence["days_left"] <= 365
    assert result.evidence["margin_days"] == 21


def test_expiry_inside_the_margin_is_cert_expires_soon(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.expiry", site.url("expiring"), ca=test_ca)
    assert only(result) == ("CERT_EXPIRES_SOON", Outcome.FAILED, Severity.ERROR)
    assert result.evidence["days_left"] in (4, 5)


def test_expiry_margin_is_configurable(tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.expiry", site.url("expiring"), ca=test_ca,
                   extra='cert_margin = "3d"\n')
    assert result.findings == []


def test_expiry_of_an_expired_certificate_is_cert_expired(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.expiry", site.url("expired"), ca=test_ca)
    assert only(result) == ("CERT_EXPIRED", Outcome.FAILED, Severity.CRITICAL)
    assert result.evidence["days_left"] < 0 and result.evidence["verified"] is False


# -- tls.version ----------------------------------------------------------------------------------

def test_version_passes_when_tls_1_0_and_1_1_are_refused(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.version", site.url("good"), ca=test_ca)
    assert result.findings == []
    assert result.evidence["negotiated"] == "TLSv1.3"
    assert result.evidence["old_tls_offered"] is True
    assert result.evidence["old_tls_accepted"] is None


def test_version_old_protocol_accepted_is_a_finding(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.version", site.url("oldtls"), ca=test_ca)
    assert only(result) == ("TLS_OLD_VERSION_ACCEPTED", Outcome.FAILED, Severity.ERROR)
    assert result.evidence["old_tls_accepted"] == "TLSv1.1"
    assert result.evidence["negotiated"] == "TLSv1.2"


def test_version_server_speaking_only_old_tls_is_a_finding_not_unverified(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.version", site.url("onlyold"), ca=test_ca)
    assert only(result) == ("TLS_OLD_VERSION_ACCEPTED", Outcome.FAILED, Severity.ERROR)
    assert "no TLS 1.2 or newer" in result.findings[0].message
    assert result.evidence["negotiated"] is None


def test_a_default_security_level_client_cannot_offer_old_tls() -> None:
    # Why the probe lowers the security level: at OpenSSL 3's default level no TLS 1.0/1.1
    # hello is produced, and can_offer_old_tls says so instead of pretending.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with pytest.warns(DeprecationWarning):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    offered, why = tlsprobe.can_offer_old_tls(ctx, "localhost")
    assert offered is False and "cannot offer" in why
    assert tlsprobe.can_offer_old_tls(tlsprobe._old_tls_context(), "localhost") == (True, "")


def test_version_is_unverified_when_the_local_openssl_cannot_offer_old_tls(
        tmp_path: Path, site: Nginx, test_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulates an OpenSSL built without TLS 1.0/1.1: the probe context keeps the default level.
    def modern_only() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        return ctx

    monkeypatch.setattr(tlsprobe, "_old_tls_context", modern_only)
    result = judge(tmp_path, "tls.version", site.url("oldtls"), ca=test_ca)
    assert only(result)[:2] == ("OLD_TLS_UNTESTED", Outcome.UNVERIFIED)
    assert exit_code(result.findings) == 3


# -- tls.hsts -------------------------------------------------------------------------------------

def hsts(tmp_path: Path, site: Nginx, test_ca: TestCA, path: str) -> CheckResult:
    return judge(tmp_path, "tls.hsts", site.url("good"), ca=test_ca, login_path=path)


def test_hsts_of_a_year_passes_and_reports_its_flags(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = hsts(tmp_path, site, test_ca, "/login")
    assert result.findings == []
    assert result.evidence["max_age"] == 31536000
    assert result.evidence["include_subdomains"] is True
    assert result.evidence["preload"] is True


@pytest.mark.parametrize(("path", "code"), [
    ("/none", "HSTS_MISSING"),
    ("/short", "HSTS_TOO_SHORT"),
    ("/invalid", "HSTS_INVALID"),
])
def test_hsts_failure_codes(tmp_path: Path, site: Nginx, test_ca: TestCA, path: str,
                            code: str) -> None:
    result = hsts(tmp_path, site, test_ca, path)
    assert only(result) == (code, Outcome.FAILED, Severity.ERROR)


def test_hsts_minimum_is_configurable(tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.hsts", site.url("good"), ca=test_ca, login_path="/short",
                   extra='hsts_min_age = "1d"\n')
    assert result.findings == []


def test_hsts_is_unverified_when_the_certificate_does_not_verify(
        tmp_path: Path, site: Nginx, test_ca: TestCA) -> None:
    result = judge(tmp_path, "tls.hsts", site.url("selfsigned"), ca=test_ca)
    assert only(result)[:2] == ("TLS_UNVERIFIED", Outcome.UNVERIFIED)


def test_parse_hsts_follows_rfc_6797() -> None:
    from breakglass.checklist.checks.tls import parse_hsts

    assert parse_hsts('max-age="600"; INCLUDESUBDOMAINS') == {
        "max_age": 600, "include_subdomains": True, "preload": False}
    assert parse_hsts("max-age=1; max-age=2") is None  # §6.1: each directive at most once
    assert parse_hsts("max-age=-1") is None
    assert parse_hsts("preload") is None
