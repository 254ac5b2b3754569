"""Authentication scenarios (seed §14, §3): brute-force logins hit a rate limit, an expired
password-reset link is rejected, a revoked session no longer works."""

from __future__ import annotations

import secrets as _random

from breakglass.drills.scenarios.base import Probe, Result, failed, not_configured, passed, unclear
from breakglass.drills.scenarios.http import post_login, prepare_login, refusal
from breakglass.errors import CouldNotVerify


def brute_force(p: Probe) -> Result:
    """Wrong-password logins until the app limits them (a limited status, or `limited_text` in
    the answer: a lockout page) or `attempts` were made. Each password is random, so none can
    ever be right."""
    bf = p.cfg.brute_force
    if bf is None:
        raise not_configured("brute_force", "no [drills.scenarios.brute_force]")
    client = p.http.client()
    form = prepare_login(p.http, client, p.cfg.login)
    statuses: list[int] = []
    for n in range(1, bf.attempts + 1):
        answer = post_login(p.http, client, p.cfg.login, form, bf.username,
                            "wrong-" + _random.token_urlsafe(12), note=f"wrong password #{n}")
        statuses.append(answer.status)
        if answer.status in bf.limited_status or (bf.limited_text
                                                  and bf.limited_text in answer.text):
            return passed("RATE_LIMITED", f"login was limited after {n} wrong passwords "
                          f"(answer {answer.status})", attempts=n, limited_status=answer.status)
        if answer.status >= 500:
            raise unclear(f"wrong-password login #{n}", answer.status,
                          "a refusal nor a rate limit")
    return failed("NO_RATE_LIMIT", f"{bf.attempts} wrong-password logins for {bf.username!r} "
                  f"were never limited (answers: {_counts(statuses)})",
                  "limit the login route (nginx limit_req, django-axes, express-rate-limit: "
                  "seed §3), then run `breakglass drill.scenarios --only brute_force`",
                  attempts=bf.attempts)


def reset_expired(p: Probe) -> Result:
    re_ = p.cfg.reset_expired
    if re_ is None:
        raise not_configured("reset_expired", "no [drills.scenarios.reset_expired] (an expired "
                             "reset token created in staging)")
    token = p.secret(re_.token)
    answer = p.http.send(p.http.client(), "GET", re_.path.replace("{token}", token),
                         shown=re_.path, note="expired reset link")
    rejected = answer.status in re_.rejected_status or (
        bool(re_.rejected_text) and re_.rejected_text in answer.text)
    if rejected:
        return passed("RESET_REJECTED", f"the expired reset link was rejected ({answer.status})",
                      status=answer.status)
    if answer.status < 400:
        to = f" -> {answer.location_path}" if answer.location else ""
        return failed("EXPIRED_RESET_ACCEPTED", f"the expired reset link was accepted "
                      f"({answer.status}{to})",
                      "expire reset tokens server-side (Django: PASSWORD_RESET_TIMEOUT; or store "
                      "a short expiry with the token) and set rejected_text if your app answers "
                      "200 with an error page", status=answer.status)
    raise unclear("the expired reset link", answer.status,
                  f"a rejection ({', '.join(map(str, re_.rejected_status))}) nor an acceptance")


def session_revoked(p: Probe) -> Result:
    """Log in, prove the session works on probe_path, log out (or revoke), replay the old
    session cookie from a fresh client: it must be refused."""
    sr = p.cfg.session_revoked
    if sr is None:
        raise not_configured("session_revoked", "no [drills.scenarios.session_revoked]")
    login_cfg = p.cfg.login
    client = p.logged_in()
    old = str(client.cookies.get(login_cfg.session_cookie))
    before = p.http.send(client, "GET", sr.probe_path, note="with the fresh session")
    if not 200 <= before.status < 300:
        raise CouldNotVerify(f"{sr.probe_path} answered {before.status} to a fresh session: the "
                             "replay could prove nothing", code="CONTROL_FAILED",
                             action="set session_revoked.probe_path to a page the logged-in "
                                    "test user can open")
    headers = {"Referer": p.http.url(login_cfg.path)}
    csrf = client.cookies.get(login_cfg.csrf_cookie) if login_cfg.csrf_cookie else None
    if csrf:
        headers[login_cfg.csrf_header] = csrf
    where = sr.revoke_url or sr.logout_path
    if where is None:
        raise not_configured("session_revoked", "neither logout_path nor revoke_url")
    out = p.http.send(client, "POST", where, headers=headers,
                      data={login_cfg.csrf_field: csrf} if csrf else None, note="log out")
    if out.status >= 400:
        raise CouldNotVerify(f"logging out ({where}) answered {out.status}", code="LOGOUT_FAILED",
                             action="check session_revoked.logout_path / revoke_url")
    replay = p.http.client()
    after = p.http.send(replay, "GET", sr.probe_path, note="replay of the logged-out session",
                        headers={"Cookie": f"{login_cfg.session_cookie}={old}"})
    got = refusal(after, login_cfg.path, (401, 403))
    if got is True:
        return passed("SESSION_REFUSED", f"the logged-out session was refused ({after.status}"
                      f"{' -> ' + after.location_path if after.location else ''})",
                      before=before.status, logout=out.status, replay=after.status)
    if got is False:
        return failed("SESSION_STILL_ACCEPTED", f"{sr.probe_path} still answered {after.status} "
                      "to the session cookie after logout", "store sessions server-side and "
                      "delete them on logout (Django: the db/cache session backend, not "
                      "signed_cookies; JWTs need a deny-list)", before=before.status,
                      logout=out.status, replay=after.status)
    raise unclear("the replayed session", after.status,
                  "accepted (2xx) nor refused (401/403, a redirect to the login page)")


def _counts(statuses: list[int]) -> str:
    seen: dict[int, int] = {}
    for s in statuses:
        seen[s] = seen.get(s, 0) + 1
    return ", ".join(f"{n}× {s}" for s, n in seen.items())
