"""What a lockout needs to know about an app's accounts, and the preset interface.

A preset (django.py, generic.py) reads and changes one user's account in the app's PostgreSQL
and, when sessions live there, its Redis. Steps (runbook.py) call it; they own plans, journaling
and proofs. Every method takes an open connection: a step opens one per phase.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from breakglass.engine.runbook import StepContext
from breakglass.errors import CouldNotVerify, UsageError

if TYPE_CHECKING:
    import psycopg
    from redis import Redis

    from breakglass.config.models import AccountsConfig

T = TypeVar("T")


@dataclass(frozen=True)
class Account:
    id: str
    label: str  # for people: "alice@example.com (#3)"
    is_active: bool | None  # None: the preset cannot tell
    is_admin: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "is_active": self.is_active,
                "is_admin": self.is_admin}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Account:
        return cls(str(d["id"]), str(d["label"]), d.get("is_active"), bool(d.get("is_admin")))


@dataclass(frozen=True)
class Sessions:
    """One user's live sessions. `sids` are session ids a browser sends as its cookie (what the
    probe replays); `db` the rows and `redis` the keys to delete."""

    db: tuple[str, ...] = ()
    redis: tuple[str, ...] = ()
    sids: tuple[str, ...] = ()
    undecodable: int = 0  # cache entries whose owner could not be read (left alone)
    #: why the Redis part could not be read ("Redis at host:6379/0: ConnectionError: …"); the
    #: other fields then hold what the database alone showed
    store_down: str | None = None
    #: live sessions of *anyone* seen in the store (None: the preset cannot tell); 0 in a
    #: production app means the sessions live somewhere else
    seen: int | None = None

    @property
    def count(self) -> int:
        return len(self.db) + len(self.redis)


@dataclass(frozen=True)
class Tokens:
    tables: Mapping[str, int] = field(default_factory=dict)  # table -> this user's rows
    keys: tuple[str, ...] = ()  # tokens sent as "Authorization: Token KEY" (DRF)

    @property
    def count(self) -> int:
        return sum(self.tables.values())


class Preset(ABC):
    #: statements the runbook cannot observe (generic SQL) are planned every time
    name: str = ""

    def __init__(self, cfg: AccountsConfig, ctx: StepContext) -> None:
        self.cfg, self.ctx = cfg, ctx

    @contextmanager
    def db(self) -> Iterator[psycopg.Connection[Any]]:
        from breakglass.connectors.postgres import connect, privileges

        dbs = self.ctx.config.databases
        if self.cfg.database not in dbs:
            raise UsageError(f"accounts.database: no [databases.{self.cfg.database}] "
                             f"(configured: {', '.join(sorted(dbs)) or 'none'})")
        try:
            conn = connect(self.ctx.secret(dbs[self.cfg.database].dsn), autocommit=True,
                           key=f"databases.{self.cfg.database}.dsn")
        except CouldNotVerify as exc:
            # The run stops here whatever step it is in; the way forward is the same for all
            # (issue #10: a failure says what state things are in and how to go on).
            done = ("; the account was disabled by this run before that"
                    if "disable" in self.ctx.outputs else "")
            raise CouldNotVerify(f"{exc}{done}", code=exc.code,
                                 action=f"{exc.action}; when it answers: `breakglass "
                                 f"runs.resume {self.ctx.run_id} --yes`") from None
        try:
            with privileges(f"databases.{self.cfg.database}",
                            f"`breakglass runs.resume {self.ctx.run_id} --yes`"):
                yield conn
        finally:
            conn.close()

    @contextmanager
    def redis(self) -> Iterator[Redis | None]:
        from breakglass.connectors.redis import connect

        if self.cfg.redis is None:
            yield None
            return
        with connect(self.ctx.secret(self.cfg.redis)) as client:
            yield client

    def from_redis(self, read: Callable[[Redis], T]) -> tuple[T | None, str | None]:
        """(read(client), None); (None, None) without a Redis; (None, why) when it is down: a
        session store that is down must not stop the lockout (containment first, DESIGN
        principle 9); the steps turn `why` into a partial result."""
        try:
            with self.redis() as client:
                return (None if client is None else read(client)), None
        except CouldNotVerify as exc:
            return None, str(exc)

    # -- reads --------------------------------------------------------------------------------
    @abstractmethod
    def find(self, conn: psycopg.Connection[Any], user: str) -> Account | None: ...

    @abstractmethod
    def other_admins(self, conn: psycopg.Connection[Any], account: Account) -> int | None:
        """Active admins other than `account`; None when the preset cannot tell."""

    @abstractmethod
    def password_unusable(self, conn: psycopg.Connection[Any], account: Account) -> bool | None:
        """True when the password can no longer log in; None: cannot tell (always reset)."""

    @abstractmethod
    def prior(self, conn: psycopg.Connection[Any], account: Account) -> dict[str, Any]:
        """The state unlock restores (may hold a password hash: it goes to the 0600 file)."""

    @abstractmethod
    def sessions(self, conn: psycopg.Connection[Any], account: Account) -> Sessions:
        """The user's live sessions; never raises for Redis being down (Sessions.store_down)."""

    @abstractmethod
    def session_store(self) -> str:
        """Where `sessions` looks, for people: 'django_session (sessions = "db")'."""

    def store_hint(self) -> str:
        """What to check when a live session is not where `session_store` looks."""
        return "set [accounts] to where the app keeps its sessions"

    @abstractmethod
    def tokens(self, conn: psycopg.Connection[Any], account: Account) -> Tokens: ...

    @abstractmethod
    def token_store(self, conn: psycopg.Connection[Any]) -> str:
        """Where `tokens` looks, for people: "authtoken_token"."""

    def differs(self, conn: psycopg.Connection[Any], account: Account,
                prior: Mapping[str, Any]) -> list[str]:
        """Fields of `prior` that the account does not have now (empty: restored)."""
        now = self.prior(conn, account)
        return [k for k, v in prior.items() if now.get(k) != v]

    # -- changes ------------------------------------------------------------------------------
    @abstractmethod
    def disable(self, conn: psycopg.Connection[Any], account: Account) -> None: ...

    @abstractmethod
    def revoke_sessions(self, conn: psycopg.Connection[Any], account: Account,
                        found: Sessions) -> int: ...

    @abstractmethod
    def revoke_tokens(self, conn: psycopg.Connection[Any], account: Account) -> int: ...

    @abstractmethod
    def force_reset(self, conn: psycopg.Connection[Any], account: Account) -> None: ...

    @abstractmethod
    def restore(self, conn: psycopg.Connection[Any], account: Account,
                prior: Mapping[str, Any]) -> None: ...

    def delete_keys(self, keys: tuple[str, ...]) -> int:
        """Delete session keys from Redis (CouldNotVerify REDIS_UNREACHABLE when it is down)."""
        if not keys:
            return 0
        with self.redis() as client:
            assert client is not None  # keys were found there
            return int(client.delete(*keys))

    # -- what the plan says for statements the runbook cannot observe -----------------------
    def blind_sql(self, statement: str) -> bool:
        """True when `statement` (disable, revoke_sessions, ...) is configured SQL whose effect
        cannot be observed beforehand: it is planned (and run) every time; it must be
        idempotent (docs/lockout.md)."""
        return False


def preset_for(ctx: StepContext) -> Preset:
    cfg = ctx.config.accounts
    if cfg is None:
        raise UsageError("no [accounts] section in the configuration: lockout needs "
                         'database = "main" and preset = "django" or "generic" '
                         "(docs/lockout.md)")
    module = importlib.import_module(f"breakglass.runbooks.lockout.{cfg.preset}")
    preset: Preset = module.PRESET(cfg, ctx)
    return preset
