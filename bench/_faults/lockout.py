"""`lockout` and `unlock` of a user of the real Django + DRF app of the lockout tests
(tests/lockout/djapp.py), its sessions in Redis (SESSION_ENGINE cache), its database on the
lab's PostgreSQL, reached by breakglass as a role of its own (so a privilege can be refused).

Faults: SIGKILL at every boundary a step reaches (no lockout step reports progress, so there is
no `mid`; `find`, `prove` and unlock's `find` plan nothing, so only `after_verify`) — resumed,
once undone with `runs.undo`; Redis (the session store) down when the lockout starts, or going
away after a kill; the app's database going away after a kill; a privilege refused to
breakglass's role (DELETE on authtoken_token for lockout, UPDATE on auth_user for unlock).

Containment is the rule: after any fault past the disable, the account is disabled already —
read right after the fault, before any recovery. Recovery is what a person does: bring the
service back or grant the privilege, then `runs.resume` (or `runs.undo`).

The end state is read with psycopg (auth_user, authtoken_token), redis-py (the session's cache
key) and the app itself over HTTP (the session cookie and the API token replayed, the password
tried at /login/). Canaries: the user's password, its hash, its session key, its API token and
breakglass's role password; the lockout snapshot (state_dir/lockout/, 0600, holds the hash and
the session on purpose — docs/lockout.md) is the one file not searched.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg
import redis
from psycopg import sql

from bench._faults.scenario import (
    STRANDED,
    Fault,
    Scenario,
    register,
    status_of,
)
from tests.cli_project import CliProject
from tests.lockout.project import DjangoApp, StoppableRedis, start_django
from tests.servers.redis import start_redis

LOCKOUT_STEPS = ("find", "snapshot", "disable", "revoke_tokens", "force_reset",
                 "revoke_sessions", "prove")
APPLIED = ("before_apply", "after_apply", "after_verify")
#: boundaries after which the account must already be disabled (containment first)
CONTAINED_FROM = LOCKOUT_STEPS.index("disable")
CACHE_KEY = ":1:django.contrib.sessions.cache{}"
REFUSED = 302  # /whoami/ answers login_required's redirect to a session or token it refuses


@dataclass
class User:
    uid: str
    email: str
    password: str
    token: str
    cookie: str
    hash: str


@dataclass
class LockoutProject(CliProject):
    app: DjangoApp | None = None
    store: StoppableRedis | None = None
    role: str = ""
    role_password: str = ""
    user: User | None = field(default=None)

    def secret(self, name: str, value: str) -> str:
        path = self.root / name
        path.write_text(value)
        path.chmod(0o600)
        return f"file:{path}"

    def write(self) -> None:
        assert self.app is not None and self.store is not None
        dsn = urlsplit(self.app.dsn)
        netloc = f"{quote(self.role)}:{quote(self.role_password)}@{dsn.hostname}:{dsn.port}"
        own = urlunsplit((dsn.scheme, netloc, dsn.path, "", ""))
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            '[owners]\nincident_response = ["bob"]\n\n[people.bob]\nnotify = []\n\n'
            f'[databases.app]\ndsn = "{self.secret("app.dsn", own)}"\n\n'
            '[accounts]\ndatabase = "app"\npreset = "django"\nsessions = "cache"\n'
            f'redis = "{self.secret("redis.url", self.store.url)}"\n'
            f'probe_session_url = "{self.app.url}/account/"\n'
            f'probe_token_url = "{self.app.url}/api/me/"\n')

    # -- independent reads ------------------------------------------------------------------
    def row(self) -> tuple[bool, str, int]:
        """(is_active, password hash, DRF tokens), read with psycopg as the app's owner."""
        assert self.app is not None and self.user is not None
        with psycopg.connect(self.app.dsn, connect_timeout=5) as conn:
            got = conn.execute(
                "select is_active, password, (select count(*) from authtoken_token "
                "where user_id = u.id) from auth_user u where id = %s",
                [int(self.user.uid)]).fetchone()
        assert got is not None
        return bool(got[0]), str(got[1]), int(got[2])

    def session_stored(self) -> bool:
        assert self.store is not None and self.user is not None
        return bool(redis.Redis.from_url(self.store.url, socket_timeout=5).exists(
            CACHE_KEY.format(self.user.cookie)))

    def password_works(self) -> bool:
        assert self.app is not None and self.user is not None
        name = self.user.email.split("@")[0]
        r = httpx.post(f"{self.app.url}/login/",
                       data={"username": name, "password": self.user.password}, timeout=10)
        return r.status_code == 200

    def grant(self, privilege: str, table: str, *, give: bool) -> None:
        assert self.app is not None
        verb = "grant {} on {} to {}" if give else "revoke {} on {} from {}"
        with psycopg.connect(self.app.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL(verb).format(sql.SQL(privilege), sql.Identifier(table),
                                              sql.Identifier(self.role)))


class _AccountScenario(Scenario):
    """What lockout and unlock share: the app, its Redis, a user with a live session and an
    API token, breakglass's own role, the canaries and the leak search."""

    command = "lockout"

    def setup(self, work: Path) -> CliProject:
        pg = self.lab.postgres()
        dsn = pg.create_database(f"faults_lock_{secrets.token_hex(4)}")
        store = StoppableRedis(start_redis())
        proj = LockoutProject(work, store=store, role=f"bg_{secrets.token_hex(4)}",
                              role_password=secrets.token_urlsafe(18))
        proj.app = start_django(dsn, "cache", store.url)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("create role {} login password {}").format(
                sql.Identifier(proj.role), sql.Literal(proj.role_password)))
            conn.execute(sql.SQL("grant all on all tables in schema public to {}").format(
                sql.Identifier(proj.role)))
        uid, email, token = proj.app.signup(token=True)
        cookie = proj.app.login(email)
        proj.user = User(uid, email, f"pw-{email.split('@')[0]}", token, cookie, "")
        proj.user.hash = proj.row()[1]
        proj.write()
        self.user = email
        return proj

    def args(self) -> tuple[str, ...]:
        extra = ("--reason", "phished, INC-142") if self.command == "lockout" else ()
        return (self.command, self.user, *extra)

    def inject(self, proj: CliProject, fault: Fault) -> bool:
        assert isinstance(proj, LockoutProject)
        if fault.kind == "sigkill" or fault.away is not None:
            try:
                proj.kill_at(fault.point, *self.args())
            except AssertionError as exc:
                if "before" in str(exc):
                    return False
                raise
        else:  # the fault is there when the run starts; the run fails by itself
            REFUSALS[fault.kind](proj, fault, True)
            proj.run(*self.args(), "--yes")
        # Containment, read before anyone recovers anything (and before a service goes away).
        if self._contained_by(fault) and proj.row()[0]:
            raise RuntimeError(f"not contained: the account is still active after {fault.label}")
        if fault.away is not None:
            fault.away(self, proj)
        return True

    def _contained_by(self, fault: Fault) -> bool:
        return False

    def recover(self, proj: CliProject, fault: Fault, run_id: str) -> tuple[str, str]:
        if fault.away is None and fault.kind in REFUSALS:
            assert isinstance(proj, LockoutProject)
            said = list(proj.outputs.values())[-1]
            REFUSALS[fault.kind](proj, fault, False)  # the person fixes the cause…
            if "Traceback" in said or f"runs.resume {run_id}" not in said:
                return STRANDED, f"the failed run gave no way forward:\n{said[-800:]}"
            fault = replace(fault, away=None)  # …and resumes as the run said, as after a kill
        return super().recover(proj, fault, run_id)

    def run_id(self, proj: CliProject) -> str:
        return sorted(p.stem for p in (proj.state / "runs").glob("*.jsonl"))[-1]

    def canaries(self, proj: CliProject) -> list[str]:
        assert isinstance(proj, LockoutProject) and proj.user is not None
        u = proj.user
        return [u.password, u.hash, u.cookie, u.token, proj.role_password]

    def written(self, proj: CliProject) -> Iterable[Path]:
        # The lockout snapshot holds the hash and the sessions on purpose (0600, 0700 folder).
        return (p for p in super().written(proj) if (proj.state / "lockout") not in p.parents)

    def teardown(self, proj: CliProject) -> None:
        super().teardown(proj)
        assert isinstance(proj, LockoutProject)
        if proj.app is not None:
            proj.app.stop()
        if proj.store is not None:
            proj.store.close()
            proj.store.server.close()


@register
class LockoutScenario(_AccountScenario):
    runbook = "lockout"

    @classmethod
    def faults(cls, quick: bool) -> list[Fault]:
        if quick:
            return [Fault("sigkill", "disable.after_apply"),
                    Fault("redis down", "revoke_sessions")]
        kills = [Fault("sigkill", f"{s}.{p}") for s in LOCKOUT_STEPS
                 for p in (("after_verify",) if s in ("find", "prove") else APPLIED)]
        return [*kills,
                Fault("sigkill", "disable.after_apply", then="undo"),
                Fault("redis down", "revoke_sessions"),
                Fault("redis down", "disable.after_apply", _redis_away, _redis_back),
                Fault("redis down", "revoke_sessions.before_apply", _redis_away, _redis_back),
                Fault("database down", "disable.before_apply", _db_away, _db_back),
                Fault("database down", "revoke_tokens.after_apply", _db_away,
                      _db_back),
                Fault("permission refused", "revoke_tokens")]

    def _contained_by(self, fault: Fault) -> bool:
        step, _, point = fault.point.partition(".")
        if "." not in fault.point:  # a fault met while running: disable comes before it
            return LOCKOUT_STEPS.index(step) > CONTAINED_FROM
        at = LOCKOUT_STEPS.index(step)
        return at > CONTAINED_FROM or (at == CONTAINED_FROM and point != "before_apply")

    def check(self, proj: CliProject, run_id: str) -> str | None:
        assert isinstance(proj, LockoutProject) and proj.app is not None
        assert proj.user is not None
        status = status_of(proj, run_id)
        active, password, tokens = proj.row()
        if active:
            return f"the run ended {status!r} and the account is ACTIVE"
        if status != "succeeded":  # only "undone" may stop short, and contained
            return None if status == "undone" else f"the run ended {status!r}"
        wrong = [what for what, bad in [
            ("the password is usable", not password.startswith("!")),
            (f"{tokens} API token(s) remain", tokens != 0),
            ("the session is still in Redis", proj.session_stored()),
            ("the app accepts the session cookie",
             proj.app.whoami(cookie=proj.user.cookie) != REFUSED),
            ("the app accepts the API token", proj.app.whoami(token=proj.user.token) != REFUSED),
            ("the app accepts the password", proj.password_works())] if bad]
        return "; ".join(wrong) or None


@register
class UnlockScenario(_AccountScenario):
    runbook = "unlock"
    command = "unlock"

    def setup(self, work: Path) -> CliProject:
        proj = super().setup(work)
        r = proj.run("lockout", self.user, "--reason", "phished, INC-142", "--yes")
        if r.returncode != 0:
            raise RuntimeError(f"the lockout before the unlock ended {r.returncode}:\n"
                               f"{(r.stdout + r.stderr)[-600:]}")
        return proj

    @classmethod
    def faults(cls, quick: bool) -> list[Fault]:
        if quick:
            return [Fault("sigkill", "restore.after_apply")]
        return [Fault("sigkill", "find.after_verify"),
                *(Fault("sigkill", f"restore.{p}") for p in APPLIED),
                Fault("sigkill", "restore.after_apply", then="undo"),
                Fault("database down", "restore.before_apply", _db_away, _db_back),
                Fault("permission refused", "restore")]

    def check(self, proj: CliProject, run_id: str) -> str | None:
        assert isinstance(proj, LockoutProject) and proj.app is not None
        assert proj.user is not None
        status = status_of(proj, run_id)
        active, password, tokens = proj.row()
        if status == "undone":  # the undo of an unlock locks the account again
            wrong = [what for what, bad in [
                ("the account is active", active),
                ("the app accepts the password", proj.password_works())] if bad]
            return "; ".join(wrong) or None
        if status != "succeeded":
            return f"the run ended {status!r} (account active: {active})"
        wrong = [what for what, bad in [
            ("the account is inactive", not active),
            ("the password hash is not the one before the lockout", password != proj.user.hash),
            (f"{tokens} API token(s) came back", tokens != 0),
            ("the session came back to Redis", proj.session_stored()),
            ("the app accepts the old session cookie",
             proj.app.whoami(cookie=proj.user.cookie) != REFUSED),
            ("the app refuses the password", not proj.password_works())] if bad]
        return "; ".join(wrong) or None


def _redis_away(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, LockoutProject) and proj.store is not None
    proj.store.stop()


def _redis_back(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, LockoutProject) and proj.store is not None
    proj.store.start()


def _db_away(scenario: Scenario, proj: CliProject) -> None:
    scenario.lab.postgres().stop()


def _db_back(scenario: Scenario, proj: CliProject) -> None:
    server = scenario.lab.postgres()
    server._start(server.port)  # the same port: the app's and breakglass's DSNs stay right


def _refuse_redis(proj: LockoutProject, fault: Fault, on: bool) -> None:
    assert proj.store is not None
    proj.store.stop() if on else proj.store.start()


#: the privilege each step needs, by the step a "permission refused" fault names
PRIVILEGES = {"revoke_tokens": ("delete", "authtoken_token"), "restore": ("update", "auth_user")}


def _refuse_privilege(proj: LockoutProject, fault: Fault, on: bool) -> None:
    privilege, table = PRIVILEGES[fault.point]
    proj.grant(privilege, table, give=not on)


REFUSALS: dict[str, Callable[[LockoutProject, Fault, bool], None]] = {
    "redis down": _refuse_redis, "permission refused": _refuse_privilege}
