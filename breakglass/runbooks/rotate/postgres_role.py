"""`kind = "postgres_role"`: a PostgreSQL role's password, and the value consumers read.

Two shapes (docs/rotate.md):

Before anything changes, the admin DSN's role must be allowed to ALTER the roles (PostgreSQL
16+: superuser, or CREATEROLE with ADMIN OPTION on the role — which the creator of a role gets;
before 16, CREATEROLE; a role may always set its own password): ALTER_ROLE_NOT_PERMITTED, exit 3,
nothing changed, otherwise.

single role (`role = "app"`)
    create   generate a password, write the new value where consumers read it, then ALTER ROLE
             app PASSWORD. From the ALTER the server takes only the new password, so consumers
             opening new connections fail until they restart (said in the plan). Store first,
             so the new password is never lost; when the ALTER is refused, the store gets the
             old value back before the step fails — it never holds a password the server
             refuses. A stop between the two leaves the store ahead of the server: the next
             observation sees a stored password the server refuses, and create ALTERs to it.
    the old password dies with the ALTER (one password per role): revoke has nothing to do,
    verify_old proves the server refuses it.

alternating roles (`roles = ["app_a", "app_b"]`, both members of the role owning the grants)
    create   give the idle role a fresh password and LOGIN, end the sessions it still has (opened
             with its earlier password, which a grace period let live), then point the stored
             DSN at it; the active role keeps working meanwhile: no downtime. A store that
             refuses the write leaves consumers on the active role.
    revoke   ALTER ROLE <old> NOLOGIN once the new login is verified (undo: LOGIN)
    delete   after `grace`: its password is erased and its remaining sessions ended

Where consumers read the value: `store = "aws-sm:NAME" | "ssm:NAME"`, or the `key` line of the
env file at `path` on every `consumers` host — the store layer, rotate/stores/ (an env file is
written on every host or on none; this run's backups are deleted by the `cleanup` step).
`format = "dsn"` (default) stores a whole DSN (a URI keeps its shape, user and password
replaced), `"password"` only the password (single role).

Identity without the value: a credential is `ROLE#<sha256 prefix of its password>`
(stores.value_digest, as env-file rotations journal it). Values are read again from the store —
the old one from its history: Secrets Manager versions, SSM parameter history, or the env file's
backup of this run — never from the journal.

The password never reaches the server in clear: PQencryptPasswordConn (psycopg's
`pgconn.encrypt_password`, what psql's \\password uses) computes the SCRAM-SHA-256 verifier
client-side, SASLprep included, and ALTER ROLE receives the verifier — so the server log
(log_statement = 'ddl'), pg_stat_statements and an error report can only ever show a salted hash.
The protocol has no parameter for ALTER ROLE: the verifier goes in as `sql.Literal`, the role as
`sql.Identifier`, and no statement text is ever logged or journaled.

Proof: a login over the admin DSN's server with `require_auth=scram-sha-256` (libpq >= 16), so a
`trust` or `md5` line in pg_hba.conf cannot make "accepted" or "refused" mean nothing; the
refusal must be the server's ("password authentication failed", "not permitted to log in"):
anything else — down, timeout, an unknown message (lc_messages not English) — could not verify.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, assert_never
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import Field

from breakglass.config.base import NonEmpty
from breakglass.engine.findings import Finding, Outcome, Severity, as_ok
from breakglass.engine.runbook import StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rotate.base import Cred, Kind, KindSpec, Snapshot, generate_value
from breakglass.runbooks.rotate.settings import EnvLine, Generated, StoredRef
from breakglass.runbooks.rotate.stores import Store, store_for, value_digest

if TYPE_CHECKING:
    import psycopg

    from breakglass.config import Config

#: what consumers read: a whole DSN (user and password in it) or only the password
Format = Literal["dsn", "password"]
#: the server's words for "this password / login is refused" (PostgreSQL auth.c, English)
REFUSALS = ("password authentication failed", "is not permitted to log in")
NOT_SCRAM = "LOGIN_NOT_SCRAM"
NOT_PERMITTED = "ALTER_ROLE_NOT_PERMITTED"


def login_id(role: str, password: str) -> str:
    return f"{role}#{value_digest(password)[:12]}"


def with_login(dsn: str, user: str, password: str) -> str:
    """`dsn` logging in as `user` with `password`; everything else kept. A URI stays a URI
    (dj-database-url and friends read only that form), key=value stays key=value."""
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(dsn)
        host = parts.netloc.rpartition("@")[2]
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                 if k not in ("user", "password")]
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, user=user, password=password)


class Settings(StoredRef, EnvLine, Generated):
    """`[secrets.NAME]` with `kind = "postgres_role"`: one `role` or two alternating `roles`;
    consumers read the value from `store`, or from `path`/`key` on their hosts."""

    kind: Literal["postgres_role"]
    database: NonEmpty | None = Field(
        None, description="the [databases.NAME] whose DSN may ALTER ROLE", examples=["admin"])
    role: NonEmpty | None = Field(None, description="the one role whose password rotates")
    roles: list[NonEmpty] | None = Field(
        None, description="two roles that take turns (no downtime), e.g. [\"app_a\", \"app_b\"]")
    format: Format | None = Field(
        None, description='what consumers read: "dsn" (default) or "password"')
    required = ("database",)


# -- the kinds ----------------------------------------------------------------------------------

def postgres_role_kind(secret: str, cfg: Settings, config: Config) -> Kind[Settings]:
    """The kind for `[secrets.NAME]` (its SPEC): alternating when `roles` is set."""
    cls = AlternatingRoles if cfg.roles else SingleRole
    return cls(secret, cfg, config)


class _RoleKind(Kind[Settings]):
    noun = "password"
    still_valid_code = "OLD_PASSWORD_STILL_VALID"

    def __init__(self, secret: str, cfg: Settings, config: Config) -> None:
        super().__init__(secret, cfg, config)
        self._check_config()

    def _check_config(self) -> None:
        key, cfg = f"secrets.{self.secret}", self.cfg
        if cfg.database not in self.config.databases:
            known = ", ".join(sorted(self.config.databases)) or "none"
            raise UsageError(f"{key}.database: no [databases.{cfg.database}] in the "
                             f"configuration (configured: {known})")
        if bool(cfg.role) == bool(cfg.roles):
            raise UsageError(f'{key}: set role = "app" (one role) or roles = ["app_a", '
                             '"app_b"] (alternating), exactly one of them')
        if cfg.roles is not None and (len(cfg.roles) != 2 or cfg.roles[0] == cfg.roles[1]):
            raise UsageError(f"{key}.roles: name two different roles, e.g. "
                             '["app_a", "app_b"]')
        if (cfg.path is None) != (cfg.key is None) or (cfg.store is None) == (cfg.path is None):
            raise UsageError(f'{key}: say where consumers read the value: store = '
                             '"aws-sm:NAME" | "ssm:NAME", or path + key (an env file on the '
                             "consumers' hosts)")
        if cfg.path is not None and not cfg.consumers:
            raise UsageError(f'{key}.path: an env file needs consumers = ["HOST:SERVICE"] '
                             "naming the hosts it is on")
        if cfg.path is not None:
            from breakglass.runbooks.rotate.stores.dotenv_hosts import check_path

            check_path(self.secret, cfg.path)
        if cfg.roles and self.format != "dsn":
            raise UsageError(f'{key}.format: alternating roles need format = "dsn" (the user '
                             "changes with the password)")

    @property
    def all_roles(self) -> list[str]:
        return list(self.cfg.roles or ([self.cfg.role] if self.cfg.role else []))

    @property
    def format(self) -> Format:
        return self.cfg.format or "dsn"

    @cached_property
    def store(self) -> Store:
        return store_for(self.config, self.secret, ref=self.cfg.store, path=self.cfg.path,
                         key=self.cfg.key)

    @property
    def cleans_up(self) -> bool:
        return self.cfg.path is not None  # an env file's backups hold the old DSN

    def leftovers(self, ctx: StepContext) -> list[str]:
        return self.store.leftovers(ctx)

    def clean_up(self, ctx: StepContext) -> dict[str, Any]:
        return self.store.clean_up(ctx)

    @property
    def where(self) -> str:
        return f"databases.{self.cfg.database}, read by consumers from {self.store.where}"

    # -- reading the store ---------------------------------------------------------------------
    def _split(self, value: str) -> tuple[str | None, str]:
        """(user, password) in a stored value."""
        match self.format:
            case "password":
                return None, value
            case "dsn":
                from breakglass.connectors.postgres import parse_dsn

                params = parse_dsn(value)
                return params.get("user"), params.get("password", "")
            case unknown:
                assert_never(unknown)

    def _stored(self, ctx: StepContext) -> tuple[str | None, str, str] | None:
        """(user, password, whole value) when every place holds the same value, else None."""
        values = set(self.store.read_all(ctx).values())
        for v in values:
            ctx.register_secret(v)
        if len(values) != 1 or None in values:
            return None
        value = values.pop()
        assert value is not None
        user, password = self._split(value)
        ctx.register_secret(password)
        return user, password, value

    def _template(self, ctx: StepContext) -> str:
        """A stored value to build the new one from (any place's, when they disagree)."""
        found = [v for v in self.store.read_all(ctx).values() if v]
        if not found:
            raise UsageError(f"secrets.{self.secret}: {self.store.where} holds no value; put "
                             f"the {self.format} consumers use there first")
        ctx.register_secret(found[0])
        return found[0]

    def _find(self, ctx: StepContext, cred_id: str) -> str | None:
        """The password of `cred_id`, read back from the store or its history."""
        role = cred_id.partition("#")[0]
        for value in [*self.store.read_all(ctx).values(), *self.store.previous(ctx)]:
            if not value:
                continue
            ctx.register_secret(value)
            user, password = self._split(value)
            ctx.register_secret(password)
            if login_id(user or role, password) == cred_id:
                return password
        return None

    def old_value(self, ctx: StepContext, old_id: str) -> str | None:
        return self._find(ctx, old_id)

    # -- the server ----------------------------------------------------------------------------
    def _admin_dsn(self, ctx: StepContext) -> str:
        assert self.cfg.database is not None
        return ctx.secret(self.config.databases[self.cfg.database].dsn)

    def _admin(self, ctx: StepContext) -> psycopg.Connection[Any]:
        from breakglass.connectors.postgres import connect

        return connect(self._admin_dsn(ctx), autocommit=True)

    def _set_password(self, ctx: StepContext, role: str, password: str,
                      login: bool = False) -> None:
        """ALTER ROLE role PASSWORD (a SCRAM verifier); `login`: and LOGIN (an idle role of
        alternating roles; a single role logs in already, and may be the admin DSN's own)."""
        from psycopg import sql

        with self._admin(ctx) as conn:
            verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(),
                                                    b"scram-sha-256").decode()
            ctx.register_secret(verifier)
            self._alter(conn, sql.SQL("ALTER ROLE {} WITH {}PASSWORD {}").format(
                sql.Identifier(role), sql.SQL("LOGIN " if login else ""),
                sql.Literal(verifier)), role)

    def _not_permitted(self, ctx: StepContext) -> dict[str, str]:
        """role -> why the admin DSN's role may not ALTER it (ALTER ROLE in the PostgreSQL 16
        reference: superusers alter anyone; CREATEROLE roles alter non-superuser roles they
        hold ADMIN OPTION on — before 16, CREATEROLE alone sufficed; any role may set its own
        password)."""
        with self._admin(ctx) as conn:
            me = conn.execute("select current_user, rolsuper, rolcreaterole, "
                              "current_setting('server_version_num')::int from pg_roles "
                              "where rolname = current_user").fetchone()
            rows = conn.execute("select rolname, rolsuper, pg_has_role(current_user, oid, "
                                "'MEMBER WITH ADMIN OPTION') from pg_roles where rolname = "
                                "any(%s)", [self.all_roles]).fetchall()
        assert me is not None
        user, superuser, createrole, version = str(me[0]), bool(me[1]), bool(me[2]), int(me[3])
        why: dict[str, str] = {}
        for name, is_super, admin in rows:
            if superuser or (name == user and self.cfg.role == name):
                continue  # a single role may be the admin DSN's own: it sets its own password
            if is_super:
                why[name] = f"{name} is a superuser and {user} is not"
            elif not createrole:
                why[name] = f"{user} has neither SUPERUSER nor CREATEROLE"
            elif version >= 160000 and not admin:
                why[name] = (f"{user} has CREATEROLE but not ADMIN OPTION on {name} "
                             "(PostgreSQL 16+ needs both)")
        return why

    def _permission_error(self, why: dict[str, str]) -> CouldNotVerify:
        role, reason = next(iter(why.items()))
        return CouldNotVerify(
            f"the DSN of databases.{self.cfg.database} may not ALTER ROLE {role}: {reason}",
            code=NOT_PERMITTED, action=f"GRANT {role} TO <that role> WITH ADMIN OPTION (with "
            "CREATEROLE), or use a superuser's DSN; then rotate (or resume) again")

    def _require_permission(self, ctx: StepContext) -> None:
        why = self._not_permitted(ctx)
        if why:
            raise self._permission_error(why)

    @staticmethod
    def _end_sessions(conn: psycopg.Connection[Any], role: str) -> int:
        row = conn.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                           "where usename = %s and pid <> pg_backend_pid()", [role]).fetchone()
        return int(row[0]) if row else 0

    def _alter(self, conn: psycopg.Connection[Any], statement: Any, role: str) -> None:
        from breakglass.connectors.postgres import StatementFailed, statements

        try:
            with statements():
                conn.execute(statement)
        except StatementFailed as exc:
            # The server's message names the role and the reason, never the statement text.
            raise CouldNotVerify(f"ALTER ROLE {role} failed: {exc.reason}",
                                 code="ALTER_ROLE_FAILED",
                                 action=f"the DSN of databases.{self.cfg.database} must be "
                                        "allowed to ALTER ROLE (superuser or CREATEROLE with "
                                        "ADMIN on the role); then resume the run") from None

    def _login(self, ctx: StepContext, role: str, password: str) -> bool:
        """Whether the server accepts `role` with `password` over SCRAM-SHA-256."""
        from breakglass.connectors.postgres import DATABASE_UNREACHABLE, ConnectFailed, connect

        try:
            with connect(self._admin_dsn(ctx), key=f"databases.{self.cfg.database}.dsn",
                         user=role, password=password, require_auth="scram-sha-256") as conn:
                row = conn.execute("select current_user").fetchone()
            return row is not None and row[0] == role
        except ConnectFailed as exc:
            line = exc.reason
            if any(r in line for r in REFUSALS):
                return False
            if "require_auth" in line or "authentication method requirement" in line:
                raise CouldNotVerify(
                    f"the server did not ask {role} for a SCRAM-SHA-256 password ({line})",
                    code=NOT_SCRAM, action="use scram-sha-256 for this role in pg_hba.conf: "
                    "with trust or md5 a login proves nothing about the password") from None
            raise CouldNotVerify(f"could not try the login of {role}: {line}",
                                 code=DATABASE_UNREACHABLE,
                                 action="check that the server is up, then resume") from None

    def _can_login(self, ctx: StepContext) -> dict[str, bool]:
        with self._admin(ctx) as conn:
            rows = conn.execute("select rolname, rolcanlogin from pg_roles where rolname = "
                                "any(%s)", [self.all_roles]).fetchall()
        return {str(r[0]): bool(r[1]) for r in rows}

    def start_findings(self, ctx: StepContext) -> list[Finding]:
        # Checked before anything changes: an ALTER of a missing role, or one the admin DSN may
        # not make, would fail only after the new value was written where consumers read it.
        seen = self._can_login(ctx)
        missing = [self.finding("ROLE_MISSING", f"role {r} does not exist on databases."
                                f"{self.cfg.database}", f"create it (alternating roles: with the "
                                f"grants of the other, e.g. CREATE ROLE {r} NOLOGIN IN ROLE "
                                "<the role owning the grants>); then rotate again", role=r)
                   for r in self.all_roles if r not in seen]
        if missing:
            return missing
        why = self._not_permitted(ctx)
        if not why:
            return []
        # Could not rotate (exit 3), like any credential refused: nothing was changed.
        exc = self._permission_error(why)
        return [Finding(NOT_PERMITTED, str(exc), exc.action, Severity.ERROR, Outcome.UNVERIFIED,
                        f"secrets.{self.secret}", {"secret": self.secret, "kind": self.kind,
                                                   "roles": sorted(why)})]

    # -- proof ---------------------------------------------------------------------------------
    def verify_new_text(self) -> str:
        return "the new login must be accepted over SCRAM-SHA-256 by the server"

    def verify_old_text(self) -> str:
        return "the old password must be refused by the server (SCRAM-SHA-256)"

    def verify_works(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        stored = self._stored(ctx)
        if snap.new is None or stored is None or self._id(stored) != snap.new.id:
            return [self.finding("NEW_PASSWORD_NOT_STORED", f"{self.store.where} does not hold"
                                 " the new login", "resume the run: create writes it again")]
        role = snap.new.id.partition("#")[0]
        if not self._login(ctx, role, stored[1]):
            return [self.finding("NEW_PASSWORD_REFUSED", f"the server refuses the new password "
                                 f"of {role}", "check the role (LOGIN, VALID UNTIL) and "
                                 "pg_hba.conf, then resume the run", role=role)]
        return []

    def verify_refused(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        role = snap.old.id.partition("#")[0]
        old = self._find(ctx, snap.old.id)
        if old is None:
            raise CouldNotVerify(f"the old password of {role} is no longer in {self.store.where}"
                                 " or its history: its refusal cannot be tried",
                                 code="OLD_PASSWORD_UNKNOWN", action="try a login with the "
                                 "leaked password by hand; it must fail")
        if self._login(ctx, role, old):
            return [self.finding(self.still_valid_code, f"the server still accepts the old "
                                 f"password of {role}", self._still_valid_action(role),
                                 role=role)]
        return [as_ok(self.finding("OLD_PASSWORD_REFUSED", f"the server refuses the old "
                                   f"password of {role}", "nothing", role=role))]

    def _still_valid_action(self, role: str) -> str:
        return f"resume the run; if it stays, set a password by hand: ALTER ROLE {role} PASSWORD"

    def _id(self, stored: tuple[str | None, str, str]) -> str:
        return login_id(stored[0] or self.cfg.role or "", stored[1])


class SingleRole(_RoleKind):
    revoked_by_promotion = True

    @property
    def role(self) -> str:
        assert self.cfg.role is not None
        return self.cfg.role

    def current(self, ctx: StepContext) -> Cred:
        stored = self._stored(ctx)
        if stored is None:
            raise UsageError(f"secrets.{self.secret}: {self.store.where} holds no value (or "
                             f"its hosts disagree); put the {self.format} consumers use there")
        if stored[0] not in (None, self.role):
            raise UsageError(f"secrets.{self.secret}: the DSN in {self.store.where} logs in as "
                             f"{stored[0]}, not role {self.role}")
        return Cred(self._id(stored))

    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot:
        stored = self._stored(ctx)
        sid = self._id(stored) if stored else None
        changed = stored is not None and sid != old_id
        # One password per role: once the server takes the new one, the old one is gone. A new
        # stored value the server refuses is one a stop left between the write and the ALTER.
        accepted = changed and stored is not None and self._login(ctx, self.role, stored[1])
        return Snapshot(Cred(old_id, "gone" if accepted else "current"),
                        Cred(str(sid)) if accepted else None, accepted,
                        facts={"role": self.role, "stored_in": self.store.where,
                               "pending": changed and not accepted})

    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        if snap.facts.get("pending"):  # written before a stop: the ALTER is what is missing
            stored = self._stored(ctx)
            assert stored is not None
            password = stored[1]
            result: dict[str, Any] = {"stored_in": self.store.where,
                                      "note": "written before a stop"}
        else:
            self._require_permission(ctx)  # refused before anything changes
            password = generate_value(self.cfg)
            ctx.register_secret(password)
            value = password if self.format == "password" else with_login(
                self._template(ctx), self.role, password)
            ctx.register_secret(value)
            result = self.store.write(ctx, value)
        ctx.progress(f"ALTER ROLE {self.role}", 1, 2)
        try:
            self._require_permission(ctx)
            self._set_password(ctx, self.role, password)
        except CouldNotVerify as exc:
            raise self._put_back(ctx, exc) from exc
        ctx.progress(f"ALTER ROLE {self.role}", 2, 2)
        return {**result, "role": self.role, "password": "set (SCRAM-SHA-256 verifier)"}

    def _put_back(self, ctx: StepContext, exc: CouldNotVerify) -> CouldNotVerify:
        """The server refused the new password: the store gets the old value back, so that a
        consumer that restarts still connects."""
        try:
            self.store.restore(ctx)
        except CouldNotVerify as again:
            return CouldNotVerify(
                f"{exc}; putting the old {self.format} back in {self.store.where} failed too "
                f"({again}): it holds a password the server REFUSES, so a consumer that "
                "restarts cannot connect", code=exc.code, action="run the recovery plan below "
                "now (it puts the old value back), then fix the privilege and resume",
                evidence={"recovery_plan": self.store.recovery(ctx)})
        return CouldNotVerify(f"{exc}. {self.store.where} holds the old {self.format} again: "
                              "consumers connect as before", code=exc.code, action=exc.action)

    def create_text(self, snap: Snapshot) -> str:
        if snap.facts.get("pending"):
            return (f"ALTER ROLE {self.role} PASSWORD to the new password this run already "
                    f"wrote to {self.store.where} (a stop came between the two)")
        return (f"generate a password ({self.cfg.length} characters) for role {self.role}, "
                f"write the new {self.format} to {self.store.where}, then ALTER ROLE "
                f"{self.role} PASSWORD (a SCRAM verifier computed here; refused: the old value "
                "goes back in the store). From the ALTER the server refuses the old password, "
                "so consumers fail to open NEW connections until restarted — downtime of a "
                "single role; roles = [a, b] avoids it")

    def promotion_text(self) -> str:
        return f"ALTER ROLE {self.role} (step create) replaced the old password: nothing left"

    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        return {"role": self.role, "note": "nothing to delete: ALTER ROLE replaced the password"}

    def recovery(self, snap: Snapshot) -> list[str]:
        return [f"# single role: the server takes only the new password of {self.role}, so "
                "putting the old value back would not help;",
                f"# fix the consumer so that it starts with the new value in {self.store.where}"
                ", then `breakglass runs.resume RUN_ID`"]


class AlternatingRoles(_RoleKind):
    @property
    def roles(self) -> tuple[str, str]:
        assert self.cfg.roles is not None
        return self.cfg.roles[0], self.cfg.roles[1]

    def other(self, role: str) -> str:
        return self.roles[1] if role == self.roles[0] else self.roles[0]

    def current(self, ctx: StepContext) -> Cred:
        stored = self._stored(ctx)
        if stored is None or stored[0] not in self.roles:
            user = stored[0] if stored else None
            raise UsageError(f"secrets.{self.secret}: the DSN in {self.store.where} "
                             f"{'logs in as ' + str(user) if user else 'is missing'}; it must "
                             f"use one of the roles {', '.join(self.roles)}")
        return Cred(self._id(stored))

    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot:
        old_role = old_id.partition("#")[0]
        stored = self._stored(ctx)
        sid = self._id(stored) if stored else None
        mine = stored is not None and stored[0] == self.other(old_role) and sid != old_id
        can_login = self._can_login(ctx)
        if can_login.get(old_role):
            state = "current"
        else:  # PASSWORD NULL cannot be observed without superuser: the journal says it
            state = "gone" if ctx.outputs.get("delete") else "revoked"
        return Snapshot(Cred(old_id, state), Cred(sid) if mine and sid else None, mine,
                        facts={"can_login": can_login, "stored_in": self.store.where,
                               "recovery": self.store.recovery(ctx) if mine else []})

    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        from psycopg import sql

        role = self.other(snap.old.id.partition("#")[0])
        self._require_permission(ctx)  # refused before anything changes
        could_login = bool(snap.facts.get("can_login", {}).get(role))
        password = generate_value(self.cfg)
        ctx.register_secret(password)
        value = with_login(self._template(ctx), role, password)
        ctx.register_secret(value)
        # Role first, DSN second: a run killed in between leaves consumers on the old role and
        # a password nobody knows, which the next observation replaces (create runs again).
        self._set_password(ctx, role, password, login=True)
        with self._admin(ctx) as conn:
            # Sessions the role still has were opened with its earlier password (a grace period
            # kept them): whoever holds that password must not ride the flip back.
            ended = self._end_sessions(conn, role)
        ctx.progress("point the DSN at the new role", 1, 2)
        try:
            result = self.store.write(ctx, value)
        except CouldNotVerify:
            if not could_login:  # consumers stay on the active role: the idle one stays idle
                with self._admin(ctx) as conn:
                    self._alter(conn, sql.SQL("ALTER ROLE {} NOLOGIN").format(
                        sql.Identifier(role)), role)
            raise
        ctx.progress("point the DSN at the new role", 2, 2)
        return {**result, "role": role, "sessions_ended": ended}

    def create_text(self, snap: Snapshot) -> str:
        old = snap.old.id.partition("#")[0]
        return (f"give role {self.other(old)} a new password ({self.cfg.length} characters, "
                f"LOGIN), end the sessions it still has (opened with its earlier password), "
                f"and point the DSN in {self.store.where} at it ({old} keeps working "
                "meanwhile)")

    def revoke(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        from psycopg import sql

        role = snap.old.id.partition("#")[0]
        with self._admin(ctx) as conn:
            self._alter(conn, sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)),
                        role)
        return {"role": role, "login": False}

    def revoke_text(self, snap: Snapshot) -> str:
        role = snap.old.id.partition("#")[0]
        return (f"ALTER ROLE {role} NOLOGIN: its logins are refused from here (sessions already "
                f"open go on; undo: ALTER ROLE {role} LOGIN)")

    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        from psycopg import sql

        role = snap.old.id.partition("#")[0]
        with self._admin(ctx) as conn:
            self._alter(conn, sql.SQL("ALTER ROLE {} WITH NOLOGIN PASSWORD NULL").format(
                sql.Identifier(role)), role)
            # After the grace period a session still open as the old role is a straggler or
            # whoever holds the leaked password: it ends here.
            ended = self._end_sessions(conn, role)
        return {"role": role, "password": "erased", "sessions_ended": ended}

    def delete_text(self, snap: Snapshot) -> str:
        role = snap.old.id.partition("#")[0]
        return (f"erase the password of role {role} (PASSWORD NULL, stays NOLOGIN) and end its "
                "open sessions; the next rotation gives it a fresh one")

    def _still_valid_action(self, role: str) -> str:
        return f"resume the run; if it stays: ALTER ROLE {role} NOLOGIN PASSWORD NULL"

    def recovery(self, snap: Snapshot) -> list[str]:
        return list(snap.facts.get("recovery") or [])


SPEC = KindSpec(Settings, postgres_role_kind, docs="rotate.md#postgres_role",
                summary="a PostgreSQL role's password on the server, and the DSN or password "
                        "consumers read")
