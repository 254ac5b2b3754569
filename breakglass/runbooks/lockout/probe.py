"""The proof of a lockout: replay a session or token that worked before, and see it refused.

Each credential kind has its own probe URL, because one page rarely checks both: a session
cookie is replayed against a page that needs a login (`probe_session_url`; Django's
login_required answers a redirect to LOGIN_URL), an API token against an API URL
(`probe_token_url`; DRF answers 401/403). `probe_url` is the deprecated one-URL-for-both.

"Refused" is what an app does with an anonymous request to a page that needs a login: 401 or
403 (APIs, DRF), or a redirect to the login page (Django's `login_required`). A 2xx is
"accepted". Anything else — the app down, a 404, a 500, a redirect elsewhere — proves nothing
either way and is "could not verify" (DESIGN principle 1), never a pass.

Credentials are sent in headers only, redirects are not followed (the login page would answer
200), and neither the URL's answer nor an error message ever carries the credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    from breakglass.config import Config

CredKind = Literal["cookie", "token"]

PROBE_FAILED = "PROBE_FAILED"
TIMEOUT = 10.0  # seconds


@dataclass(frozen=True)
class Kind:
    """One kind of credential the proof replays, and the words and codes that go with it."""

    cred: CredKind
    key: str  # its probe URL in [accounts]
    label: str  # for people
    option: str  # how the user hands one over
    refused: str  # the proof's code (a note)
    accepted: str  # the failure's code
    accepted_action: str


KINDS = (
    Kind("cookie", "probe_session_url", "session cookie", "--probe-cookie", "SESSIONS_REFUSED",
         "SESSION_STILL_ACCEPTED", "the app keeps sessions somewhere breakglass did not revoke "
         "(another cache, a signed cookie session, a JWT): rotate the app's SECRET_KEY / "
         "signing key to invalidate every session"),
    Kind("token", "probe_token_url", "API token", "--probe-token", "TOKENS_REFUSED",
         "TOKEN_STILL_ACCEPTED", "the app keeps tokens somewhere breakglass did not revoke "
         "(another token table, a JWT): revoke it in the app, or rotate the signing key of "
         "its JWTs"),
)


def kind_of(cred: Credential) -> Kind:
    return next(k for k in KINDS if k.cred == cred.kind)


def url_for(config: Config, kind: Kind) -> str | None:
    """The URL `kind` is replayed against: its own key, else the deprecated probe_url; a path is
    taken under [app] base_url (config.check requires one then)."""
    cfg = config.accounts
    target = (getattr(cfg, kind.key) or cfg.probe_url) if cfg is not None else None
    if target is None or target.startswith(("http://", "https://")):
        return target
    return None if config.app is None else config.app.base_url.rstrip("/") + target


@dataclass(frozen=True)
class Credential:
    kind: CredKind
    value: str
    source: str  # for people: "session 1 of 3 from django_session", "--probe-cookie"

    def headers(self, cookie_name: str) -> dict[str, str]:
        if self.kind == "cookie":
            return {"Cookie": f"{cookie_name}={self.value}"}
        # "Token KEY" is DRF's and knox's scheme; a value with a space is a whole header value
        # ("Bearer eyJ…") for apps with another scheme.
        return {"Authorization": self.value if " " in self.value else f"Token {self.value}"}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "source": self.source}


def verdict(status: int, location: str, login_path: str) -> Literal["accepted", "refused"] | None:
    if 200 <= status < 300:
        return "accepted"
    if status in (401, 403):
        return "refused"
    if status in (301, 302, 303, 307, 308) and login_path in location:
        return "refused"
    return None


def send(url: str, cred: Credential, cookie_name: str,
         login_path: str) -> Literal["accepted", "refused"]:
    """Send `cred` to `url`; raises CouldNotVerify when the answer proves nothing."""
    from breakglass.connectors import http

    resp = http.request("GET", url, headers=cred.headers(cookie_name), timeout=TIMEOUT,
                        code=PROBE_FAILED,
                        action="check that the app is up and the [accounts] probe URLs")
    got = verdict(resp.status_code, resp.headers.get("location", ""), login_path)
    if got is None:
        raise CouldNotVerify(
            f"the probe URL {url} answered {resp.status_code}"
            f"{' -> ' + resp.headers['location'] if 'location' in resp.headers else ''}, which "
            "is neither accepted (2xx) nor refused (401/403, a redirect to the login page)",
            code=PROBE_FAILED, action="point [accounts] probe_session_url at a page that needs "
            "a login (and login_path at the login page), probe_token_url at an API URL that "
            "needs a token")
    return got
