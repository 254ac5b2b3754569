"""cookies.secure, headers.cors and app.debug_off against real local sites (tests/checklist/
webapp.py): Flask with flask-cors and the Werkzeug debugger in a thread, Django and Express in
subprocesses. Each finding code fails on a site that has the problem; each item passes on one
that does not; an unreachable site is "could not verify"."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from breakglass.checklist.checks.app import cookie_kind, find_debug, parse_set_cookie
from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult
from breakglass.engine.findings import Outcome, Severity, exit_code
from tests.checklist.context import codes, make_ctx, run
from tests.checklist.webapp import (
    Behaviour,
    Subprocess,
    express_missing,
    serve_flask,
    start_django,
    start_express,
)
from tests.servers._util import free_port

GOOD_SESSION = {"key": "session", "value": "s3cr3t-session-value", "secure": True,
                "httponly": True, "samesite": "Lax"}
GOOD_CSRF = {"key": "csrftoken", "value": "s3cr3t-csrf-value", "secure": True,
             "httponly": False, "samesite": "Strict"}

Site = Callable[..., CheckContext]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """`site(**behaviour)`: a Flask site behaving so, and a CheckContext pointed at it."""
    with ExitStack() as stack:
        def start(*, toml: str = "", **behaviour: object) -> CheckContext:
            url = stack.enter_context(serve_flask(Behaviour(**behaviour)))  # type: ignore[arg-type]
            return ctx_for(tmp_path, url, toml)
        yield start


def ctx_for(root: Path, url: str, toml: str = "") -> CheckContext:
    return make_ctx(root, f'[checklist.web]\nbase_url = "{url}"\n{toml}')


def only(result: CheckResult, code: str) -> list[dict[str, object]]:
    return [dict(f.evidence) for f in result.findings if f.code == code]


@pytest.fixture(scope="module")
def django_dev() -> Iterator[Subprocess]:
    """Django as `startproject` leaves it: DEBUG = True, the default cookie settings."""
    s = start_django(debug=True, secure_cookies=False)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def django_prod() -> Iterator[Subprocess]:
    """Django deployed right: DEBUG = False, SESSION/CSRF_COOKIE_SECURE = True."""
    s = start_django(debug=False, secure_cookies=True)
    yield s
    s.stop()


def express(node_env: str) -> Iterator[Subprocess]:
    why = express_missing()
    if why:  # scripts/test installs node-express: a missing one is a broken set-up
        pytest.fail(f"{why}: run scripts/test once", pytrace=False)
    s = start_express(node_env=node_env)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def express_dev() -> Iterator[Subprocess]:
    yield from express("development")


@pytest.fixture(scope="module")
def express_prod() -> Iterator[Subprocess]:
    yield from express("production")


# --- the Set-Cookie parser ---------------------------------------------------------------------

def test_set_cookie_attributes_are_case_insensitive_and_the_value_is_dropped() -> None:
    c = parse_set_cookie("sessionid=abc; path=/; SECURE; httponly; samesite=strict")
    assert c is not None
    assert (c.name, c.secure, c.httponly, c.samesite) == ("sessionid", True, True, "strict")
    assert "abc" not in repr(c)


def test_set_cookie_with_max_age_zero_deletes_and_a_pair_without_equals_is_ignored() -> None:
    gone = parse_set_cookie("sessionid=; Max-Age=0; Path=/")
    assert gone is not None and gone.deletes
    assert parse_set_cookie("sessionid; Secure") is None


def test_cookie_kinds_cover_the_common_frameworks() -> None:
    for name in ("sessionid", "connect.sid", "_acme_session", "laravel_session", "PHPSESSID",
                 "JSESSIONID", "__Host-session", "remember_token"):
        assert cookie_kind(name) == "session", name
    for name in ("csrftoken", "XSRF-TOKEN", "_csrf", "__Secure-csrf"):
        assert cookie_kind(name) == "csrf", name
    assert cookie_kind("_ga") is None
    assert cookie_kind("acme_login", ["acme_login"]) == "session"


# --- cookies.secure ----------------------------------------------------------------------------

def test_cookies_pass_when_session_and_csrf_cookies_have_every_attribute(site: Site) -> None:
    result = run(site(cookies=[GOOD_SESSION, GOOD_CSRF]), "cookies.secure")
    assert codes(result) == []
    assert result.evidence["cookies"]["session"]["httponly"] is True
    # a CSRF cookie read by script (Django's csrftoken, Angular's XSRF-TOKEN) needs no HttpOnly
    assert result.evidence["cookies"]["csrftoken"]["httponly"] is False


def test_cookie_without_secure_is_COOKIE_NOT_SECURE(site: Site) -> None:
    result = run(site(cookies=[{**GOOD_SESSION, "secure": False}, GOOD_CSRF]), "cookies.secure")
    assert codes(result) == ["COOKIE_NOT_SECURE"]
    assert only(result, "COOKIE_NOT_SECURE")[0]["cookie"] == "session"
    assert result.findings[0].severity is BY_ID["cookies.secure"].severity


def test_session_cookie_without_httponly_is_COOKIE_NOT_HTTPONLY(site: Site) -> None:
    result = run(site(cookies=[{**GOOD_SESSION, "httponly": False}]), "cookies.secure")
    assert codes(result) == ["COOKIE_NOT_HTTPONLY"]


def test_cookie_without_samesite_is_COOKIE_NO_SAMESITE(site: Site) -> None:
    result = run(site(cookies=[{**GOOD_SESSION, "samesite": None}]), "cookies.secure")
    assert codes(result) == ["COOKIE_NO_SAMESITE"]


def test_invalid_samesite_value_is_COOKIE_NO_SAMESITE(site: Site) -> None:
    result = run(site(raw_cookies=["sessionid=v; Secure; HttpOnly; SameSite=Sometimes"]),
                 "cookies.secure")
    assert codes(result) == ["COOKIE_NO_SAMESITE"]


def test_samesite_none_with_secure_is_reported_as_a_warning(site: Site) -> None:
    result = run(site(cookies=[{**GOOD_SESSION, "samesite": "None"}]), "cookies.secure")
    assert codes(result) == ["COOKIE_SAMESITE_NONE"]
    assert result.findings[0].severity is Severity.WARNING


def test_samesite_none_without_secure_is_also_not_secure(site: Site) -> None:
    result = run(site(cookies=[{**GOOD_SESSION, "samesite": "None", "secure": False}]),
                 "cookies.secure")
    assert sorted(codes(result)) == ["COOKIE_NOT_SECURE", "COOKIE_SAMESITE_NONE"]


def test_no_cookie_on_the_login_page_is_unverified_not_a_pass(site: Site) -> None:
    result = run(site(), "cookies.secure")
    assert codes(result) == ["NO_SESSION_COOKIE"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED


def test_only_unrelated_cookies_is_unverified(site: Site) -> None:
    result = run(site(cookies=[{"key": "theme", "value": "dark"}]), "cookies.secure")
    assert codes(result) == ["NO_SESSION_COOKIE"]
    assert result.evidence["ignored"] == ["theme"]


def test_the_accounts_session_cookie_name_is_judged(site: Site) -> None:
    toml = ('[databases.main]\ndsn = "env:DATABASE_URL"\n'
            '[accounts]\ndatabase = "main"\nsession_cookie = "acme_login"\n')
    result = run(site(toml=toml, cookies=[{"key": "acme_login", "value": "v"}]), "cookies.secure")
    assert sorted(codes(result)) == ["COOKIE_NOT_HTTPONLY", "COOKIE_NOT_SECURE",
                                     "COOKIE_NO_SAMESITE"]


def test_cookies_set_after_a_same_site_redirect_are_judged(site: Site) -> None:
    result = run(site(login_redirect="/accounts/login", cookies=[GOOD_SESSION]),
                 "cookies.secure")
    assert codes(result) == []
    assert [p["status"] for p in result.evidence["pages"]] == [302, 200]


def test_cookie_values_never_reach_findings_or_evidence(site: Site) -> None:
    result = run(site(cookies=[{**GOOD_SESSION, "secure": False, "httponly": False},
                               {**GOOD_CSRF, "samesite": None}]), "cookies.secure")
    assert len(result.findings) == 3
    dumped = json.dumps([f.to_dict() for f in result.findings]) + json.dumps(result.evidence)
    assert "s3cr3t" not in dumped


def test_django_default_cookie_settings_are_not_secure(django_dev: Subprocess,
                                                       tmp_path: Path) -> None:
    """Real Django: /login answers 301 to /login/ (APPEND_SLASH), which sets sessionid and
    csrftoken with Django's defaults: HttpOnly and Lax, but no Secure."""
    result = run(ctx_for(tmp_path, django_dev.url), "cookies.secure")
    assert sorted((e["cookie"], c) for c, e in
                  ((f.code, f.evidence) for f in result.findings)) == [
        ("csrftoken", "COOKIE_NOT_SECURE"), ("sessionid", "COOKIE_NOT_SECURE")]


def test_django_production_cookie_settings_pass(django_prod: Subprocess, tmp_path: Path) -> None:
    result = run(ctx_for(tmp_path, django_prod.url), "cookies.secure")
    assert codes(result) == []
    assert set(result.evidence["cookies"]) == {"sessionid", "csrftoken"}


# --- headers.cors ------------------------------------------------------------------------------

def test_cors_allow_list_passes(site: Site) -> None:
    result = run(site(cors={"origins": ["https://app.example"], "supports_credentials": True}),
                 "headers.cors")
    assert codes(result) == []
    assert {r["method"] for r in result.evidence["requests"]} == {"GET", "OPTIONS"}
    assert all(r["allow_origin"] is None for r in result.evidence["requests"])


def test_reflected_origin_with_credentials_is_a_finding(site: Site) -> None:
    """flask-cors with origins="*" and supports_credentials=True echoes every Origin."""
    result = run(site(cors={"origins": "*", "supports_credentials": True}), "headers.cors")
    assert "CORS_REFLECTS_ORIGIN_WITH_CREDENTIALS" in codes(result)
    rows = only(result, "CORS_REFLECTS_ORIGIN_WITH_CREDENTIALS")[0]["requests"]
    assert isinstance(rows, list)
    assert {r["method"] for r in rows} == {"GET", "OPTIONS"}  # the preflight says so too
    assert all(r["allow_origin"] == r["origin"] and r["allow_credentials"] == "true"
               for r in rows)
    assert exit_code(result.findings) == 1


def test_null_origin_with_credentials_is_a_finding(site: Site) -> None:
    result = run(site(cors={"origins": ["null"], "supports_credentials": True}), "headers.cors")
    assert codes(result) == ["CORS_NULL_ORIGIN_WITH_CREDENTIALS"]


def test_prefix_matched_allow_list_is_a_lookalike_finding(site: Site) -> None:
    """An unanchored regex allow-list (flask-cors uses re.match) accepts
    https://127.0.0.1.<anything>."""
    result = run(site(cors={"origins": [r"https://127\.0\.0\.1.*"],
                            "supports_credentials": True}), "headers.cors")
    assert codes(result) == ["CORS_LOOKALIKE_WITH_CREDENTIALS"]


def test_wildcard_with_credentials_is_a_warning(site: Site) -> None:
    result = run(site(cors_wildcard_credentials=True), "headers.cors")
    assert codes(result) == ["CORS_WILDCARD_WITH_CREDENTIALS"]
    assert result.findings[0].severity is Severity.WARNING


def test_reflection_without_credentials_is_only_a_note(site: Site) -> None:
    result = run(site(cors={"origins": "*"}), "headers.cors")
    assert sorted(codes(result)) == ["CORS_REFLECTS_NULL", "CORS_REFLECTS_ORIGIN"]
    assert all(f.severity is Severity.INFO for f in result.findings)
    assert exit_code(result.findings) == 0


# --- app.debug_off -----------------------------------------------------------------------------

def test_plain_site_has_no_debug_page(site: Site) -> None:
    result = run(site(), "app.debug_off")
    assert codes(result) == []
    assert [p["status"] for p in result.evidence["probes"]] == [200, 404, 200, 404]


def test_django_debug_true_is_DJANGO_DEBUG_PAGE(django_dev: Subprocess, tmp_path: Path) -> None:
    result = run(ctx_for(tmp_path, django_dev.url), "app.debug_off")
    assert codes(result) == ["DJANGO_DEBUG_PAGE"]
    assert result.findings[0].evidence["status"] == 404


def test_django_debug_false_passes(django_prod: Subprocess, tmp_path: Path) -> None:
    assert codes(run(ctx_for(tmp_path, django_prod.url), "app.debug_off")) == []


def test_werkzeug_debugger_is_WERKZEUG_DEBUGGER(site: Site) -> None:
    result = run(site(debugger=True), "app.debug_off")
    assert codes(result) == ["WERKZEUG_DEBUGGER"]
    assert "debugger.js" in result.findings[0].evidence["seen"]


def test_express_in_development_is_NODE_STACK_TRACE(express_dev: Subprocess,
                                                    tmp_path: Path) -> None:
    """Express's body parser rejects the malformed JSON probe and its final handler prints the
    stack unless NODE_ENV=production."""
    result = run(ctx_for(tmp_path, express_dev.url), "app.debug_off")
    assert codes(result) == ["NODE_STACK_TRACE"]
    assert "SyntaxError" in str(result.findings[0].evidence["seen"])


def test_express_in_production_passes(express_prod: Subprocess, tmp_path: Path) -> None:
    result = run(ctx_for(tmp_path, express_prod.url), "app.debug_off")
    assert codes(result) == []
    assert result.evidence["probes"][-1]["status"] == 400  # the probe was rejected, quietly


def test_rails_development_page_is_RAILS_DEBUG_PAGE(site: Site) -> None:
    assert codes(run(site(rails_page=True), "app.debug_off")) == ["RAILS_DEBUG_PAGE"]


def test_python_traceback_in_a_response_is_PYTHON_TRACEBACK(site: Site) -> None:
    assert codes(run(site(traceback_errors=True), "app.debug_off")) == ["PYTHON_TRACEBACK"]


# --- could not look ----------------------------------------------------------------------------

@pytest.mark.parametrize("item_id", ["cookies.secure", "headers.cors", "app.debug_off"])
def test_unreachable_site_is_unverified(item_id: str, tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, f"http://127.0.0.1:{free_port()}")
    result = evaluate(ctx, BY_ID[item_id])
    assert codes(result) == ["SITE_UNREACHABLE"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED
    assert exit_code(result.findings) == 3


@pytest.mark.parametrize("item_id", ["cookies.secure", "headers.cors", "app.debug_off"])
def test_no_site_configured_is_unverified(item_id: str, tmp_path: Path) -> None:
    result = evaluate(make_ctx(tmp_path, ""), BY_ID[item_id])
    assert codes(result) == ["NOT_CONFIGURED"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED


# --- the signatures on the frameworks' own error pages ------------------------------------------

def test_django_technical_500_is_recognised_even_when_cut_at_the_fetch_limit(
        django_dev: Subprocess) -> None:
    """The 500 page can be longer than web.BODY_LIMIT; its summary table comes first."""
    body = httpx.get(f"{django_dev.url}/boom/").text
    footer = body.find("DEBUG = True")
    assert footer > 0
    assert [s.code for s, _ in find_debug(body)] == ["DJANGO_DEBUG_PAGE"]
    assert [s.code for s, _ in find_debug(body[:footer])] == ["DJANGO_DEBUG_PAGE"]


def test_werkzeug_debugger_exception_page_is_recognised(site: Site) -> None:
    ctx = site(debugger=True)
    assert ctx.config.checklist.web.base_url is not None
    body = httpx.get(f"{ctx.config.checklist.web.base_url}/boom").text
    assert [s.code for s, _ in find_debug(body)] == ["WERKZEUG_DEBUGGER"]


def test_express_500_page_is_recognised(express_dev: Subprocess) -> None:
    body = httpx.get(f"{express_dev.url}/boom").text
    assert [s.code for s, _ in find_debug(body)] == ["NODE_STACK_TRACE"]


def test_a_home_page_quoting_a_traceback_is_not_a_debug_page(site: Site) -> None:
    """The Werkzeug probe lands on the home page of other sites: only the debugger's own
    script counts there."""
    post = 'A blog post: <pre>Traceback (most recent call last):\n  File "x.py", line 1</pre>'
    assert [s.code for s, _ in find_debug(post)] == ["PYTHON_TRACEBACK"]
    assert codes(run(site(home=post), "app.debug_off")) == []


def test_the_excerpt_kept_as_evidence_hides_credentials_and_tokens() -> None:
    body = ("Error: connect ECONNREFUSED postgres://app:hunter2pw@db:5432/app "
            "key=sk_live_0123456789abcdefghijklmnopqrstuv\n"
            "    at connect (/srv/app/db.js:10:5)\n    at main (/srv/app/index.js:3:1)\n")
    [(sig, seen)] = find_debug(body)
    assert sig.code == "NODE_STACK_TRACE"
    assert "hunter2pw" not in seen and "0123456789abcdef" not in seen
    assert "postgres://…@db:5432" in seen and "(/srv/app/db.js:10:5)" in seen


def test_express_session_cookie_is_judged(express_prod: Subprocess, tmp_path: Path) -> None:
    result = run(ctx_for(tmp_path, express_prod.url), "cookies.secure")
    assert codes(result) == []
    assert result.evidence["cookies"]["connect.sid"] == {
        "kind": "session", "url": f"{express_prod.url}/login", "secure": True, "httponly": True,
        "samesite": "Lax"}


class _DropsBodies(BaseHTTPRequestHandler):
    """A plain page for every GET, but a GET with a body loses its connection (a WAF or proxy
    that refuses them)."""

    def do_GET(self) -> None:
        if self.headers.get("Content-Length"):
            self.close_connection = True
            return
        body = b"<p>hello</p>"
        self.send_response(404 if "probe" in self.path else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_refused_malformed_probe_is_recorded_not_raised(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DropsBodies)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        result = run(ctx_for(tmp_path, f"http://127.0.0.1:{server.server_port}"),
                     "app.debug_off")
    finally:
        server.shutdown()
        server.server_close()
    assert codes(result) == []
    assert "RemoteDisconnected" in result.evidence["malformed_probe"]
    assert len(result.evidence["probes"]) == 3
