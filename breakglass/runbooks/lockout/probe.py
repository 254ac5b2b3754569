"""The proof of a lockout: replay a session or token that worked before, and see it refused.

"Refused" is what an app does with an anonymous request to a page that needs a login: 401 or
403 (APIs, DRF), or a redirect to the login page (Django's `login_required`). A 2xx is
"accepted". Anything else — the app down, a 404, a 500, a redirect elsewhere — proves nothing
either way and is "could not verify" (DESIGN principle 1), never a pass.

Credentials are sent in headers only, redirects are not followed (the login page would answer
200), and neither the URL's answer nor an error message ever carries the credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from breakglass.errors import CouldNotVerify

PROBE_FAILED = "PROBE_FAILED"
TIMEOUT = 10.0  # seconds


@dataclass(frozen=True)
class Credential:
    kind: Literal["cookie", "token"]
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
    import httpx

    try:
        with httpx.Client(follow_redirects=False, timeout=TIMEOUT) as client:
            resp = client.get(url, headers=cred.headers(cookie_name))
    except httpx.HTTPError as exc:
        raise CouldNotVerify(f"the probe URL {url} did not answer ({type(exc).__name__})",
                             code=PROBE_FAILED, action="check that the app is up and "
                             "[accounts] probe_url, then `breakglass runs.resume RUN`") from None
    got = verdict(resp.status_code, resp.headers.get("location", ""), login_path)
    if got is None:
        raise CouldNotVerify(
            f"the probe URL {url} answered {resp.status_code}"
            f"{' -> ' + resp.headers['location'] if 'location' in resp.headers else ''}, which "
            "is neither accepted (2xx) nor refused (401/403, a redirect to the login page)",
            code=PROBE_FAILED, action="set [accounts] probe_url to a page that needs a login "
            "(and login_path to the login page's path)")
    return got
