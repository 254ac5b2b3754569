"""Access scenarios (seed §14, §4, §9): a private file is refused without auth, another tenant's
resource is refused, admin routes are refused to anonymous and non-admin users.

"Refused" is 401, 403 or 404 (hiding that a resource exists is a refusal too), or a redirect to
the login page; 2xx is accepted; anything else proves nothing ("could not verify")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from breakglass.drills.scenarios.base import Probe, Result, failed, not_configured, passed, unclear
from breakglass.drills.scenarios.http import refusal
from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    import httpx

REFUSING = (401, 403, 404)


def _judge(p: Probe, client: httpx.Client, paths: list[str], who: str) -> list[str]:
    """GET each path as `who`; returns the paths that were accepted."""
    open_: list[str] = []
    for path in paths:
        answer = p.http.send(client, "GET", path, note=who)
        got = refusal(answer, p.cfg.login.path, REFUSING)
        if got is None:
            raise unclear(f"{path} ({who})", answer.status,
                          "accepted (2xx) nor refused (401/403/404, a redirect to the login page)")
        if got is False:
            open_.append(path)
    return open_


def private_file(p: Probe) -> Result:
    pf = p.cfg.private_file
    if pf is None:
        raise not_configured("private_file", "no [drills.scenarios.private_file] paths")
    open_ = _judge(p, p.http.client(), pf.paths, "anonymous")
    if open_:
        return failed("PRIVATE_FILE_PUBLIC", f"served without auth: {', '.join(open_)}",
                      "serve private files through a permission check or short-lived signed "
                      "URLs (seed §9), never from a public bucket or static folder", paths=open_)
    return passed("PRIVATE_FILE_REFUSED", f"{len(pf.paths)} private file(s) refused without auth",
                  paths=pf.paths)


def tenant_isolation(p: Probe) -> Result:
    ti = p.cfg.tenant_isolation
    if ti is None:
        raise not_configured("tenant_isolation", "no [drills.scenarios.tenant_isolation]")
    client = p.logged_in()
    if ti.own_path:
        own = p.http.send(client, "GET", ti.own_path, note="own tenant (control)")
        if not 200 <= own.status < 300:
            raise CouldNotVerify(f"{ti.own_path} (the test user's own tenant) answered "
                                 f"{own.status}: a refusal of the other tenant would prove "
                                 "nothing", code="CONTROL_FAILED", action="set "
                                 "tenant_isolation.own_path to a resource the test user may see")
    open_ = _judge(p, client, ti.other_paths, "as tenant A's user")
    if open_:
        return failed("OTHER_TENANT_ACCESSIBLE", f"tenant A's user got another tenant's "
                      f"resource: {', '.join(open_)}", "scope every query by the session's "
                      "tenant (`WHERE tenant_id = $1 AND id = $2`) and answer 404",
                      paths=open_)
    return passed("OTHER_TENANT_REFUSED", f"{len(ti.other_paths)} resource(s) of another tenant "
                  "refused", paths=ti.other_paths, control=ti.own_path)


def admin_routes(p: Probe) -> Result:
    ar = p.cfg.admin_routes
    if ar is None:
        raise not_configured("admin_routes", "no [drills.scenarios.admin_routes] paths")
    anonymous = _judge(p, p.http.client(), ar.paths, "anonymous")
    if anonymous:
        return failed("ADMIN_ROUTE_OPEN", f"open to anonymous users: {', '.join(anonymous)}",
                      "require an admin role on the server for every admin route",
                      paths=anonymous, who="anonymous")
    if p.cfg.user is None:
        raise not_configured("admin_routes", "refused to anonymous users, but the non-admin "
                             "user was not tried: no [drills.scenarios.user]")
    member = _judge(p, p.logged_in(), ar.paths, "non-admin user")
    if member:
        return failed("ADMIN_ROUTE_OPEN", f"open to a non-admin user: {', '.join(member)}",
                      "check the admin role on the server (requireAdmin, is_staff), not just "
                      "a logged-in session", paths=member, who="non-admin user")
    return passed("ADMIN_ROUTES_REFUSED", f"{len(ar.paths)} admin route(s) refused to anonymous "
                  "and non-admin users", paths=ar.paths)
