"""Data-store checks (seed §8 "Protect data stores"): db.least_privilege, redis.private.

The facts are read elsewhere (breakglass/checklist/pgroles.py, breakglass/connectors/
redisfacts.py); this module decides what each one means, with the reasons, and is pure apart
from the two @check functions that fetch them.

db.least_privilege logs in with the app's own DSN and reads, in a read-only transaction, what
its login role may do: attributes, every role it is a member of directly or through other
roles, who owns the database and its relations, grants it may pass on. Each excess is one
finding; docs/checks/datastores.md explains each choice with the PostgreSQL documentation.

redis.private knocks without credentials: a NOAUTH refusal proves that auth is on (then the ACL,
seen with the URL's own credentials, must hold no user that takes any password). A server that
answers must listen on loopback only (CONFIG GET bind); when CONFIG is renamed away or denied
and the URL is a loopback one, nothing proves that, so the item is "could not verify".

Neither check writes anything, and neither puts a password in a message or evidence: Redis URLs
are shown as host:port/db, DSNs as host:port/dbname.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult, check, not_configured
from breakglass.checklist.pgroles import Privileges, read_privileges
from breakglass.connectors.redisfacts import RedisFacts, classify, observe
from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.errors import CouldNotVerify, UsageError

if TYPE_CHECKING:
    import psycopg

C, E, W = Severity.CRITICAL, Severity.ERROR, Severity.WARNING

DB = "db.least_privilege"
REDIS = "redis.private"

DB_UNREACHABLE = "DB_UNREACHABLE"
DB_AUTH_FAILED = "DB_AUTH_FAILED"
# The server answered and refused this login (libpq passes the server's FATAL line through).
_AUTH_REFUSALS = ("authentication failed", "no pg_hba.conf entry", "is not permitted to log in",
                  "no password supplied", "does not exist", "password is required")

#: Login names that come with a PostgreSQL install (initdb's default bootstrap superuser); an
#: app logging in as one shares the administrator's credentials (seed §8: "Avoid: default DB
#: users, shared root DB creds across apps").
DEFAULT_ROLES = frozenset({"postgres"})

#: Predefined roles that give more than an app's own tables ("Predefined Roles", PostgreSQL 16
#: docs §22.5): severity and why. Roles that only read statistics or settings (pg_monitor,
#: pg_read_all_stats, …) are listed in the evidence, not judged.
PRIVILEGED_ROLES: dict[str, tuple[Severity, str]] = {
    # "they could be used to gain superuser-level access, therefore great care should be taken
    # when granting these roles to users" (§22.5)
    "pg_read_server_files": (C, "reads any file the server can (COPY FROM a file), a path to "
                                "superuser"),
    "pg_write_server_files": (C, "writes any file the server can (COPY TO a file), a path to "
                                 "superuser"),
    "pg_execute_server_program": (C, "runs programs on the database host as the server's OS "
                                     "user (COPY … PROGRAM)"),
    # as if it had SELECT / INSERT, UPDATE, DELETE on every table of every database
    "pg_read_all_data": (E, "reads every table of every database of the cluster"),
    "pg_write_all_data": (E, "writes every table of every database of the cluster"),
    # an app may already cancel its own role's queries without it
    "pg_signal_backend": (W, "cancels and terminates other roles' sessions"),
    # PostgreSQL 17: VACUUM, ANALYZE, CLUSTER, REFRESH, REINDEX and LOCK TABLE on every relation
    "pg_maintain": (W, "locks and maintains every relation (LOCK TABLE on anything)"),
}


# -- db.least_privilege ---------------------------------------------------------------------------


def judge_privileges(p: Privileges, subject: str) -> list[Finding]:
    """The findings for what the app's role holds (pure: tested without a server too)."""
    found: list[Finding] = []

    def add(code: str, severity: Severity, message: str, action: str, **ev: Any) -> None:
        found.append(Finding(code, message, action, severity, subject=subject, evidence=ev))

    who = f"the app's role {p.login}"
    for r in p.roles:
        if r.superuser:
            # Superuser bypasses every permission check ("Role Attributes", §22.2), so this
            # role's other attributes add nothing: named in the message, not one finding each.
            also = [a for a in ("createrole", "createdb", "replication", "bypassrls")
                    if getattr(r, a)]
            add("DB_SUPERUSER", C, f"{who} is a superuser{r.how}"
                f"{' (also ' + ', '.join(also).upper() + ')' if also else ''}: a SQL injection "
                "owns the whole cluster and the host's files", "give the app its own role "
                "without SUPERUSER (seed §8: CONNECT, USAGE and table DML only)",
                via=list(r.via), also=also)
            continue
        if r.createrole:
            # Before 16 a CREATEROLE role could grant itself any non-superuser role, e.g.
            # pg_execute_server_program; 16 limits it to roles it has ADMIN on (16 release notes).
            add("DB_CREATEROLE", C if p.major < 16 else E, f"{who} may create and alter "
                f"roles{r.how}", "ALTER ROLE … NOCREATEROLE; manage roles with an admin login",
                via=list(r.via))
        if r.createdb:
            add("DB_CREATEDB", W, f"{who} may create databases{r.how}",
                "ALTER ROLE … NOCREATEDB", via=list(r.via))
        if r.replication:
            # CREATE ROLE docs: "a very highly privileged role, and should only be used on roles
            # actually used for replication": it may stream a copy of every database.
            add("DB_REPLICATION", C, f"{who} may open replication connections{r.how} and copy "
                "every database of the cluster", "ALTER ROLE … NOREPLICATION", via=list(r.via))
        if r.bypassrls:
            add("DB_BYPASSRLS", E, f"{who} bypasses row-level security{r.how}: tenant "
                "policies do not apply to it", "ALTER ROLE … NOBYPASSRLS", via=list(r.via))
        if r.name in PRIVILEGED_ROLES and r.via:
            sev, why = PRIVILEGED_ROLES[r.name]
            add("DB_PRIVILEGED_ROLE", sev, f"{who} is a member of {r.name}"
                f"{'' if len(r.via) == 1 else r.how}: it {why}",
                f"REVOKE {r.via[0]} FROM {p.login}" if len(r.via) == 1 else
                f"REVOKE {r.via[0]} FROM {p.login} (it leads to {r.name})",
                role=r.name, via=list(r.via))
    if p.login in DEFAULT_ROLES:
        add("DB_DEFAULT_ROLE", E, f"the app logs in as {p.login}, the default administrator "
            "of a PostgreSQL install", "create a role for the app alone and move its DSN to it "
            "(seed §8: avoid default DB users)")
    owners = {r.name: r for r in p.roles}
    if p.db_owner in owners:
        # Only the owner (or a superuser) may DROP DATABASE or ALTER it (DROP DATABASE docs).
        add("DB_OWNS_DATABASE", E, f"{who} owns the database {p.database}"
            f"{owners[p.db_owner].how}: it may drop or alter it and grant access to it",
            "ALTER DATABASE … OWNER TO an admin/migration role", owner=p.db_owner)
    if p.owned_count:
        # Owners may DROP, ALTER and TRUNCATE, and pass on any grant (ALTER TABLE docs).
        add("DB_OWNS_OBJECTS", W, f"{who} owns {p.owned_count} table(s)/view(s)/sequence(s) "
            f"in {p.database}, e.g. {', '.join(p.owned[:3])}: it may drop or alter them",
            "run migrations as a separate owner role; give the app SELECT, INSERT, UPDATE, "
            "DELETE (seed §8)", relations=list(p.owned), count=p.owned_count)
    if p.grantable_count:
        add("DB_GRANT_OPTION", W, f"{who} holds {p.grantable_count} privilege(s) WITH GRANT "
            f"OPTION, e.g. {', '.join(p.grantable[:3])}: it may give them to any role",
            "REVOKE GRANT OPTION FOR … FROM the app's role", grants=list(p.grantable),
            count=p.grantable_count)
    return found


def _app_database(ctx: CheckContext) -> tuple[str, str] | CheckResult:
    """(name, dsn ref) of the app's database, or the result saying why there is none."""
    databases = ctx.config.databases
    chosen = ctx.config.checklist.data.app_database
    if chosen is None:
        if not databases:
            return not_configured(DB, "no [databases.*] is configured",
                                  "add [databases.app] dsn = \"env:DATABASE_URL\" with the app's "
                                  "own login")
        if len(databases) > 1:
            names = sorted(databases)
            return CheckResult([unverified(
                "DB_APP_DATABASE_UNSET", f"{DB} not checked: {len(names)} databases are "
                f"configured ({', '.join(names)}) and none is named the app's",
                "set [checklist.data] app_database to the one whose DSN is the app's own login, "
                f"e.g. app_database = \"{names[0]}\"", DB, databases=names)], {"databases": names})
        chosen = next(iter(databases))
    if chosen not in databases:  # the config crosscheck rejects this; stay defensive
        return not_configured(DB, f"[databases.{chosen}] does not exist",
                              "fix [checklist.data] app_database", app_database=chosen)
    return chosen, databases[chosen].dsn


def _connect(dsn: str) -> psycopg.Connection[Any]:
    """The connector's connection, its one failure code split in two: the server refused this
    login (DB_AUTH_FAILED) or could not be reached (DB_UNREACHABLE)."""
    from breakglass.connectors import postgres

    try:
        return postgres.connect(dsn)
    except CouldNotVerify as exc:
        text = str(exc)
        if any(r in text for r in _AUTH_REFUSALS):
            raise CouldNotVerify(text, code=DB_AUTH_FAILED,
                                 action="the server refused the app's login: check the DSN's "
                                        "user, password and database name") from None
        raise CouldNotVerify(text, code=DB_UNREACHABLE, action=exc.action) from None


@check(DB)
def least_privilege(ctx: CheckContext) -> CheckResult:
    picked = _app_database(ctx)
    if isinstance(picked, CheckResult):
        return picked
    from breakglass.connectors.postgres import parse_dsn

    name, ref = picked
    dsn = ctx.secrets.resolve(ref)
    params = parse_dsn(dsn)
    target = {"database": name, "host": params.get("host") or params.get("hostaddr") or
              "local socket", "port": params.get("port", "5432"),
              "dbname": params.get("dbname", "")}
    conn = _connect(dsn)
    try:
        conn.read_only = True  # observe only: every statement runs in a READ ONLY transaction
        privileges = read_privileges(conn)
        conn.rollback()
    finally:
        conn.close()
    evidence = {"target": target, **privileges.evidence()}
    return CheckResult(judge_privileges(privileges, f"databases.{name}"), evidence)


# -- redis.private --------------------------------------------------------------------------------

_FIX_REDIS = "set requirepass (or ACL users) and bind 127.0.0.1 (seed §8); keep protected-mode yes"


def judge_redis(f: RedisFacts, where: str) -> list[Finding]:
    """The findings for what a Redis server showed a client without credentials (pure)."""
    severity = BY_ID[REDIS].severity

    def finding(code: str, message: str, action: str, sev: Severity = severity,
                **ev: Any) -> Finding:
        return Finding(code, message, action, sev, subject=where, evidence=ev or f.evidence())

    nopass_fix = "ACL SETUSER <user> resetpass >… (or off), then ACL SAVE / CONFIG REWRITE"
    if f.auth == "required":
        if not f.acl_nopass_users:
            return []
        return [finding("REDIS_ACL_NOPASS_USER", f"Redis at {where} requires auth, but ACL "
                        f"user(s) {', '.join(f.acl_nopass_users)} accept any password",
                        nopass_fix, users=list(f.acl_nopass_users))]
    if f.auth == "denied":
        # Protected mode refuses non-loopback clients only while the default user has no
        # password (redis.conf 7.0 "protected mode"): it listens on the network, password-less.
        return [finding("REDIS_NO_AUTH_EXPOSED", f"Redis at {where} listens on a network "
                        "address and has no password; only protected mode refused this "
                        "non-loopback client", _FIX_REDIS, Severity.ERROR)]
    found: list[Finding] = []
    if f.requirepass_set:
        # requirepass only sets the default user's password at startup; an ACL rule (aclfile,
        # ACL SETUSER default nopass) can still let anyone in (Redis ACL docs, "nopass").
        found.append(finding("REDIS_REQUIREPASS_IGNORED", f"Redis at {where} has requirepass "
                             "set, yet answered without a password: the default user is "
                             "`nopass` in its ACL", nopass_fix.replace("<user>", "default"),
                             requirepass_set=True))
    if f.bind is None:
        if f.url_host == "loopback":
            found.append(unverified(
                "REDIS_BIND_UNKNOWN", f"Redis at {where} answers without a password and CONFIG "
                "GET is renamed or denied, so where it listens cannot be seen",
                "set requirepass (or ACL users), or allow CONFIG GET for the checker; then "
                "`ss -ltn` on the host shows the bind address", where, **f.evidence()))
        else:  # reached without a password over a non-loopback address: that is the proof
            found.append(finding("REDIS_NO_AUTH_EXPOSED", f"Redis at {where} answered without "
                                 f"a password over a {f.url_host} address", _FIX_REDIS))
        return found
    exposed = [a or "*" for a in (f.bind.split() or [""]) if classify(a) != "loopback"]
    if f.tcp_ports and exposed:
        # Redis >= 7 applies protected mode whatever `bind` says: non-loopback clients are
        # refused while the default user has no password. Before 7 an explicit bind switched
        # it off (redis.conf 6.x "protected mode"). Without it, anyone reaching the port has
        # every command, CONFIG SET dir included (Redis security docs).
        major = (f.version or "").split(".")[0]
        guarded = f.protected_mode == "yes" and major.isdigit() and int(major) >= 7
        found.append(finding(
            "REDIS_NO_AUTH_EXPOSED", f"Redis at {where} has no password and listens on "
            f"{', '.join(exposed)}" + (" (protected mode still refuses non-loopback clients; "
                                        "one CONFIG SET from this host removes that)" if
                                        guarded else ": anyone who reaches the port has every "
                                        "command"),
            _FIX_REDIS, Severity.ERROR if guarded else severity,
            **f.evidence(), exposed=exposed))
    return found


@check(REDIS)
def redis_private(ctx: CheckContext) -> CheckResult:
    from breakglass.connectors.redis import describe

    refs: Sequence[str] = ctx.config.checklist.data.redis
    if not refs:
        return not_configured(REDIS, "no Redis URL in [checklist.data] redis",
                              "add redis = [\"env:REDIS_URL\"] to [checklist.data]")
    findings: list[Finding] = []
    evidence: dict[str, Any] = {}
    for ref in refs:
        url = ctx.secrets.resolve(ref)
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise UsageError(f"{ref}: a Redis URL must start with redis://, rediss:// or "
                             "unix:// (the value is not shown)")
        where = describe(url)
        try:
            facts = observe(url, ctx.redactor)
        except CouldNotVerify as exc:  # this URL only: the others are still looked at
            findings.append(unverified(exc.code, str(exc), exc.action, where))
            evidence[where] = {"error": exc.code}
            continue
        findings += judge_redis(facts, where)
        evidence[where] = facts.evidence()
    return CheckResult(findings, {"redis": evidence})
