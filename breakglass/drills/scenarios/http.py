"""The drill's HTTP: bounded, TLS-verified, and recorded without a secret.

    Budget      the whole run's limits: max_total_requests and the deadline (from the first
                request on); shared by every scenario of a run
    Http        one scenario's requests: max_requests, its own cookie jars (`client()`), and the
                record of each request — method, path, status — never a header, cookie, body
                or query string (a reset token or a signed URL lives there)
    Answer      what a request got back: status, Location, the first 64 KiB of the body, the
                cookies it set
    login()     a form or JSON login with Django-style CSRF handling

Exceeding a limit raises CouldNotVerify (REQUEST_LIMIT, DEADLINE): a scenario cut short is
"could not verify", never a pass. Redirects are never followed: a redirect to the login page
is itself the refusal the drill looks for.
"""

from __future__ import annotations

import re
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from breakglass.connectors import http
from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    import httpx

    from breakglass.config.scenarios import LoginConfig, ScenariosConfig

BODY_LIMIT = 64 * 1024


class Budget:
    """Requests left in the run and its deadline (monotonic, started by the first request)."""

    def __init__(self, max_total: int, deadline_s: float) -> None:
        self.left = max_total
        self.max_total = max_total
        self.deadline_s = deadline_s
        self._ends: float | None = None

    def take(self) -> float:
        """Count one request; returns the seconds left before the deadline."""
        now = time.monotonic()
        if self._ends is None:
            self._ends = now + self.deadline_s
        remaining = self._ends - now
        if remaining <= 0:
            raise CouldNotVerify(f"the drill's deadline ({self.deadline_s:g} s) passed",
                                 code="DEADLINE", action="raise [drills.scenarios] deadline, or "
                                 "check why the app answers slowly")
        if self.left <= 0:
            raise CouldNotVerify(f"the drill's {self.max_total} requests are used up",
                                 code="REQUEST_LIMIT", action="raise [drills.scenarios] "
                                 "max_total_requests, or run fewer scenarios (--only)")
        self.left -= 1
        return remaining


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    text: str
    #: names of the cookies the response set (values stay in the client's jar)
    set_cookies: tuple[str, ...]

    @property
    def location_path(self) -> str:
        return urllib.parse.urlsplit(self.location).path if self.location else ""


@dataclass
class Http:
    """One scenario's requests against `config.base_url`."""

    config: ScenariosConfig
    budget: Budget
    ssl_context: ssl.SSLContext
    requests: list[dict[str, Any]] = field(default_factory=list)
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.config.base_url.rstrip("/")

    def url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self.base + path_or_url

    def client(self) -> httpx.Client:
        """A new cookie jar (a new browser); closed by close()."""
        c = http.client(verify=self.ssl_context, timeout=self.config.timeout.total_seconds())
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()

    def send(self, client: httpx.Client, method: str, path_or_url: str, *,
             shown: str | None = None, headers: Mapping[str, str] | None = None,
             data: Mapping[str, str] | None = None, json: Any = None,
             content: str | None = None, note: str = "") -> Answer:
        """One request. `shown` is the path recorded instead of the real one (a reset link's
        path with "{token}"); query strings are never recorded."""
        if len(self.requests) >= self.config.max_requests:
            raise CouldNotVerify(f"the scenario used its {self.config.max_requests} requests",
                                 code="REQUEST_LIMIT", action="raise [drills.scenarios] "
                                 "max_requests (or lower the scenario's attempts)")
        remaining = self.budget.take()
        url = self.url(path_or_url)
        record: dict[str, Any] = {
            "method": method,
            "path": shown or urllib.parse.urlsplit(url).path or "/",
        }
        if note:
            record["note"] = note
        self.requests.append(record)
        timeout = min(self.config.timeout.total_seconds(), remaining)
        host = urllib.parse.urlsplit(url).hostname or url
        try:
            with http.translated(host, code="APP_UNREACHABLE",
                                 action=f"check that {self.base} is up and reachable"):
                resp = client.request(method, url, headers=dict(headers or {}), data=data,
                                      json=json, content=content, timeout=timeout)
        except http.Unreachable as exc:
            record["status"] = None
            if exc.kind == "timeout":
                raise CouldNotVerify(
                    f"{host}: no answer within {timeout:.1f} s ({exc.detail})",
                    code="DEADLINE" if timeout < self.config.timeout.total_seconds()
                    else "APP_UNREACHABLE",
                    action="check that the staging app is up, then run the drill again"
                ) from None
            if exc.kind in ("certificate", "tls"):
                raise CouldNotVerify(f"{host}: TLS certificate does not verify",
                                     code="TLS_UNVERIFIED", action="fix the staging certificate "
                                     "or set [drills.scenarios] ca_bundle to its CA") from None
            raise
        record["status"] = resp.status_code
        location = resp.headers.get("location", "")
        if location:
            record["location"] = urllib.parse.urlsplit(location).path
        names = tuple(sorted({c.split("=", 1)[0].strip()
                              for c in resp.headers.get_list("set-cookie")}))
        return Answer(resp.status_code, location, resp.text[:BODY_LIMIT], names)


# -- login ----------------------------------------------------------------------------------------
def _hidden_field(html: str, name: str) -> str | None:
    """The value of `<input … name="NAME" … value="…">` (Django's {% csrf_token %})."""
    for tag in re.findall(r"<input\b[^>]*>", html, flags=re.I):
        if re.search(rf'name\s*=\s*["\']{re.escape(name)}["\']', tag):
            m = re.search(r'value\s*=\s*["\']([^"\']*)["\']', tag)
            if m:
                return m.group(1)
    return None


@dataclass(frozen=True)
class LoginForm:
    """What a login POST carries besides the credentials: the CSRF token as a field and a
    header, and a Referer (Django checks it on HTTPS: docs.djangoproject.com/en/stable/ref/csrf/
    "How it works")."""

    headers: dict[str, str]
    fields: dict[str, str]


def prepare_login(http: Http, client: httpx.Client, cfg: LoginConfig) -> LoginForm:
    headers = {"Referer": http.url(cfg.path)}
    if not cfg.csrf_cookie:
        return LoginForm(headers, {})
    page = http.send(client, "GET", cfg.path, note="login page (CSRF token)")
    token = client.cookies.get(cfg.csrf_cookie) or _hidden_field(page.text, cfg.csrf_field)
    if not token:
        raise CouldNotVerify(f"the login page {cfg.path} answered {page.status} without a CSRF "
                             f"token (no {cfg.csrf_cookie} cookie, no {cfg.csrf_field} field)",
                             code="LOGIN_FAILED", action="check [drills.scenarios.login] "
                             "(path, csrf_cookie; csrf_cookie = \"\" when there is no CSRF)")
    return LoginForm({**headers, cfg.csrf_header: token}, {cfg.csrf_field: token})


def post_login(http: Http, client: httpx.Client, cfg: LoginConfig, form: LoginForm,
               username: str, password: str, note: str = "login") -> Answer:
    body = {cfg.username_field: username, cfg.password_field: password}
    if cfg.format == "json":
        return http.send(client, "POST", cfg.path, headers=form.headers, json=body, note=note)
    return http.send(client, "POST", cfg.path, headers=form.headers,
                     data={**form.fields, **body}, note=note)


def login(http: Http, client: httpx.Client, cfg: LoginConfig, username: str,
          password: str) -> str:
    """Log `client` in; returns the session cookie's value (the caller registers it with the
    redactor). CouldNotVerify(LOGIN_FAILED) when no session cookie comes back."""
    answer = post_login(http, client, cfg, prepare_login(http, client, cfg), username, password)
    session = client.cookies.get(cfg.session_cookie)
    if answer.status >= 400 or not session:
        raise CouldNotVerify(f"the test user {username!r} could not log in: {cfg.path} answered "
                             f"{answer.status} without a {cfg.session_cookie} cookie",
                             code="LOGIN_FAILED", action="check [drills.scenarios.user] (the "
                             "user exists in staging, the password ref is right) and "
                             "[drills.scenarios.login]")
    return str(session)


def refusal(answer: Answer, login_path: str, refusing: tuple[int, ...]) -> bool | None:
    """True: refused (a `refusing` status, or a redirect to the login page); False: accepted
    (2xx); None: neither — proves nothing (a 5xx, a redirect elsewhere)."""
    if 200 <= answer.status < 300:
        return False
    if answer.status in refusing:
        return True
    if answer.status in (301, 302, 303, 307, 308) and answer.location_path.startswith(login_path):
        return True
    return None
