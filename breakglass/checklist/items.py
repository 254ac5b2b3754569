"""The seed's security checklist (../shared/seed/security-checklist.txt) as data.

Every line of its final 23-item checklist is covered by at least one item here (`final`), and
every check its sections 1-15 ask for is an item. An item is verified by a command where a
command can see it (`check=True`, a function in breakglass/checklist/checks/), and attested by a
named owner where only a person can (`breakglass attest ID --by NAME`, docs/check.md).

Gates (the seed: "Run this before launch", "Use this page as both a release gate and a monthly
audit"): launch and monthly hold every item; release holds what a release can break — the live
responses, the code and its dependencies, the §14 failure scenarios ("Run explicit tests before
release") and a proven backup.
"""

from __future__ import annotations

from breakglass.checklist.model import ALL_GATES, Gate, Item
from breakglass.engine.findings import Severity

_EVERY = ALL_GATES
_NOT_RELEASE = frozenset({Gate.LAUNCH, Gate.MONTHLY})
C, E, W = Severity.CRITICAL, Severity.ERROR, Severity.WARNING

ITEMS: tuple[Item, ...] = (
    # -- 6. TLS and domain security; final 1, 2 -------------------------------------------------
    Item("tls.https_redirect", "plain HTTP redirects to HTTPS", 6, (1,), C, "release_signoff",
         _EVERY, True, "redirect every http:// request with a 301 to https:// (seed §6, nginx "
         "`return 301 https://$host$request_uri;`)"),
    Item("tls.certificate", "the certificate is valid and matches the host name", 6, (1,), C,
         "release_signoff", _EVERY, True, "install a certificate for the host name from a "
         "trusted CA (e.g. Let's Encrypt) with its full chain"),
    Item("tls.expiry", "the certificate is renewed well before it expires", 6, (1,), E,
         "release_signoff", _EVERY, True, "make automatic renewal work (certbot renew --dry-run) "
         "and reload the server after it renews"),
    Item("tls.version", "only TLS 1.2 or newer is accepted", 6, (1,), E, "release_signoff",
         _EVERY, True, "set `ssl_protocols TLSv1.2 TLSv1.3;` (nginx) or the equivalent"),
    Item("tls.hsts", "HSTS is sent with a max-age of at least a year", 6, (2,), E,
         "release_signoff", _EVERY, True, 'add `Strict-Transport-Security "max-age=31536000; '
         'includeSubDomains" always` once every subdomain serves HTTPS'),
    # -- 7. Browser security headers; final 3 -----------------------------------------------------
    Item("headers.csp", "a Content-Security-Policy is enforced", 7, (3,), E, "release_signoff",
         _EVERY, True, "send Content-Security-Policy (start report-only, then enforce)"),
    Item("headers.nosniff", "X-Content-Type-Options: nosniff", 7, (3,), W, "release_signoff",
         _EVERY, True, 'add `X-Content-Type-Options "nosniff" always`'),
    Item("headers.referrer_policy", "a Referrer-Policy is set", 7, (3,), W, "release_signoff",
         _EVERY, True, 'add `Referrer-Policy "strict-origin-when-cross-origin" always`'),
    Item("headers.clickjacking", "framing is refused (frame-ancestors or X-Frame-Options)", 7,
         (3,), E, "release_signoff", _EVERY, True, "send CSP `frame-ancestors 'none'` or "
         "`X-Frame-Options: DENY`"),
    Item("headers.cors", "CORS does not reflect arbitrary origins with credentials", 1, (3,), C,
         "release_signoff", _EVERY, True, "allow only your own origins; never echo the "
         "request's Origin together with Access-Control-Allow-Credentials: true"),
    # -- 1. Runtime configuration; final 4 --------------------------------------------------------
    Item("app.debug_off", "no debug pages or stack traces in production", 1, (4,), C,
         "release_signoff", _EVERY, True, "set DEBUG=False (Django), NODE_ENV=production "
         "(Express), FLASK_DEBUG=0 (Flask), then redeploy"),
    # -- 2. Secrets; final 5, 6 -------------------------------------------------------------------
    Item("secrets.not_committed", "no secrets in the repository or its history", 2, (5,), C,
         "key_rotation", _EVERY, True, "rotate each committed secret (`breakglass rotate NAME "
         "--leaked`), then remove it from the tree"),
    Item("secrets.rotated", "every secret that was ever exposed has been rotated", 2, (5,), C,
         "key_rotation", _EVERY, False, "rotate it (`breakglass rotate NAME --leaked`), then "
         "attest", attest_days=90),
    Item("secrets.separate_envs", "dev, staging and production use separate credentials", 2,
         (6,), E, "key_rotation", _NOT_RELEASE, False, "issue separate credentials per "
         "environment, then attest", attest_days=90),
    # -- 3. Authentication; final 7-10 ------------------------------------------------------------
    Item("cookies.secure", "session and CSRF cookies are Secure, HttpOnly and SameSite", 3, (7,),
         C, "release_signoff", _EVERY, True, "set SESSION_COOKIE_SECURE/HTTPONLY/SAMESITE "
         "(Django) or cookie: {secure, httpOnly, sameSite} (Express)"),
    Item("auth.csrf", "CSRF protection on cookie-based forms and unsafe methods", 3, (8,), E,
         "release_signoff", _EVERY, False, "enable the framework's CSRF middleware, then "
         "attest"),
    Item("auth.password_hashing", "passwords are hashed with Argon2id or bcrypt", 3, (9,), E,
         "release_signoff", _NOT_RELEASE, False, "switch the password hasher to Argon2id, then "
         "attest", attest_days=180),
    Item("auth.rate_limit", "login, reset and signup are rate limited", 3, (10,), E,
         "release_signoff", _EVERY, True, "add a limit_req zone on the auth routes (seed §3) "
         "and re-run `breakglass drill.scenarios`"),
    Item("auth.reset_expiry", "an expired password-reset link is rejected", 14, (), E,
         "release_signoff", _EVERY, True, "expire reset tokens server-side and re-run "
         "`breakglass drill.scenarios`"),
    Item("auth.session_revocation", "a revoked session no longer works", 14, (7,), C,
         "incident_response", _EVERY, True, "store sessions server-side and delete them on "
         "logout and lockout; re-run `breakglass drill.scenarios`"),
    # -- 4. Authorization; final 11, 12 -----------------------------------------------------------
    Item("admin.restricted", "admin accounts are few and protected by MFA", 4, (11,), E,
         "access_approvals", _NOT_RELEASE, False, "enable MFA for every admin and remove "
         "unneeded admins, then attest"),
    Item("admin.routes", "admin routes are refused to anonymous and non-admin users", 4,
         (11, 12), C, "release_signoff", _EVERY, True, "enforce the role check on the server "
         "(requireAdmin) and re-run `breakglass drill.scenarios`"),
    Item("authz.tenant_isolation", "another tenant's resource is refused", 4, (12,), C,
         "release_signoff", _EVERY, True, "check the tenant id on every query (`WHERE "
         "tenant_id = $1 AND id = $2`) and re-run `breakglass drill.scenarios`"),
    # -- 5, 8. Network and data stores; final 13-15 -----------------------------------------------
    Item("net.datastores_private", "PostgreSQL, MySQL and Redis listen on no public address",
         8, (13,), C, "incident_response", _NOT_RELEASE, True, "bind them to 127.0.0.1 or a "
         "private address and block the ports in the firewall"),
    Item("net.dashboards_private", "Flower, RQ dashboard, Adminer, phpMyAdmin listen on no "
         "public address", 5, (13, 14), C, "incident_response", _NOT_RELEASE, True,
         "bind them to 127.0.0.1 and reach them through an SSH tunnel"),
    Item("net.firewall", "the firewall denies inbound traffic by default", 5, (14,), E,
         "incident_response", _NOT_RELEASE, True, "`ufw default deny incoming`, allow 80, 443 "
         "and 22 from your address, `ufw enable`"),
    Item("ssh.hardened", "SSH: keys only, no password login, no root login", 5, (15,), C,
         "incident_response", _NOT_RELEASE, True, "set PasswordAuthentication no, "
         "PermitRootLogin no, PubkeyAuthentication yes; reload sshd"),
    Item("db.least_privilege", "the app's database role is not a superuser and holds no "
         "needless grants", 8, (13,), C, "access_approvals", _NOT_RELEASE, True,
         "give the app a role with CONNECT, USAGE and table DML only (seed §8)"),
    Item("redis.private", "Redis requires auth or is reachable on loopback only", 8, (13,), C,
         "incident_response", _NOT_RELEASE, True, "set `requirepass` (or ACL users) and `bind "
         "127.0.0.1`"),
    # -- 11. Dependencies; final 16 ---------------------------------------------------------------
    Item("deps.audit", "dependencies have no known vulnerabilities", 11, (16,), E,
         "dependency_patching", _EVERY, True, "upgrade the listed packages (high severity "
         "first), or document why not"),
    # -- 9, 10. Uploads, payments; final 17, 18 ---------------------------------------------------
    Item("uploads.private", "a private file is refused without auth", 9, (17,), C,
         "release_signoff", _EVERY, True, "serve private files through a permission check or "
         "signed URLs; re-run `breakglass drill.scenarios`"),
    Item("uploads.validation", "uploads are validated (type, size, name) and stored privately",
         9, (17,), E, "release_signoff", _NOT_RELEASE, False, "validate MIME type, extension "
         "and size, randomize names, then attest", attest_days=90),
    Item("webhooks.signatures", "an invalid webhook signature is rejected", 10, (18,), C,
         "release_signoff", _EVERY, True, "verify signatures (stripe.Webhook.construct_event) "
         "and re-run `breakglass drill.scenarios`"),
    Item("payments.server_side", "access follows verified provider events, never the client",
         10, (), E, "release_signoff", _NOT_RELEASE, False, "grant access only from verified "
         "webhook events stored server-side, then attest", attest_days=90),
    # -- 13. Backups; final 19 --------------------------------------------------------------------
    Item("backups.verified", "backups are fresh, encrypted, retained and intact", 13, (19,), C,
         "backup_restore", _EVERY, True, "fix what `breakglass backup.verify` reports"),
    Item("backups.restore_tested", "a restore drill passed within 35 days", 13, (19,), C,
         "backup_restore", _EVERY, True, "run `breakglass drill.restore --yes` (and schedule it: "
         "`breakglass drill.schedule`)"),
    # -- 12. Monitoring; final 20 -----------------------------------------------------------------
    Item("monitoring.sentry", "error tracking is configured and reachable", 12, (20,), E,
         "incident_response", _EVERY, True, 'set [sentry] dsn = "env:SENTRY_DSN" and make sure '
         "the host can reach it"),
    Item("monitoring.alerting", "alerts fire on 401/403/429/5xx spikes and failed webhooks",
         12, (20,), E, "incident_response", _NOT_RELEASE, False, "set up the alerts, then "
         "attest"),
    # -- 15 and the rest; final 21-23 -------------------------------------------------------------
    Item("ops.owners", "every responsibility has an owner with a working notice channel", 15,
         (), E, "release_signoff", _EVERY, True, "name an owner for each responsibility under "
         "[owners]; `breakglass notify.test` proves the channels"),
    Item("ops.runbook_docs", "incident steps are documented: rotation, lockout, rollback, "
         "restore", 15, (21,), E, "incident_response", _NOT_RELEASE, True,
         "write the steps down (or link breakglass's docs) where [checklist.ops] docs points"),
    Item("access.consoles", "Stripe, cloud console, DNS and CI/CD access is limited to who "
         "needs it", 4, (22,), E, "access_approvals", _NOT_RELEASE, False,
         "remove unneeded members and tokens, then attest", attest_days=90),
    Item("ops.state_bucket", "the shared state's bucket is versioned, has Object Lock and "
         "blocks public access", 15, (), E, "incident_response", _NOT_RELEASE, True,
         "turn on versioning and Block Public Access; Object Lock needs a new bucket "
         "(docs/state.md)"),
    Item("ops.review_scheduled", "the security review runs monthly", 15, (23,), W,
         "release_signoff", _NOT_RELEASE, True, "run `breakglass check --gate monthly` every "
         "month (cron or CI)"),
)

BY_ID: dict[str, Item] = {item.id: item for item in ITEMS}


def get(item_id: str) -> Item | None:
    return BY_ID.get(item_id)


def in_gate(gate: Gate | None) -> list[Item]:
    """Items of `gate` in checklist order; every item when gate is None."""
    return [i for i in ITEMS if gate is None or gate in i.gates]
