"""The django preset: django.contrib.auth's `auth_user`, sessions in `django_session` and/or a
Redis cache, DRF (`authtoken_token`) and django-rest-knox (`knox_authtoken`) tokens.

What "locked out" means is Django's own: `is_active = false` (ModelBackend refuses inactive
users, and `get_user` drops their sessions too) and an unusable password, `"!"` followed by 40
random characters, which is what `make_password(None)` stores (django/contrib/auth/hashers.py,
UNUSABLE_PASSWORD_PREFIX and UNUSABLE_PASSWORD_SUFFIX_LENGTH).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from psycopg import sql

from breakglass.errors import UsageError
from breakglass.runbooks.lockout import sessions as sx
from breakglass.runbooks.lockout.presets import Account, Preset, Sessions, Tokens

if TYPE_CHECKING:
    import psycopg
    import redis

#: the default key of one session in the cache, per SESSION_ENGINE (KEY_PREFIX "", VERSION 1:
#: django/core/cache/backends/base.py default_key_func -> ":1:" + the backend's cache_key)
CACHE_KEYS = {"cache": ":1:django.contrib.sessions.cache{sid}",
              "cached_db": ":1:django.contrib.sessions.cached_db{sid}"}
#: token tables of DRF's authtoken and django-rest-knox; only DRF keeps the key itself
TOKEN_TABLES = ("authtoken_token", "knox_authtoken")
UNUSABLE_PREFIX = "!"
_ALPHABET = string.ascii_letters + string.digits
_FIND = "select id, username, email, is_active, is_superuser or is_staff from auth_user "


class DjangoPreset(Preset):
    name = "django"

    @property
    def cache_key(self) -> str:
        return self.cfg.session_key or CACHE_KEYS.get(self.cfg.sessions, CACHE_KEYS["cache"])

    def find(self, conn: psycopg.Connection[Any], user: str) -> Account | None:
        # Three whole statements (no text assembled): the user's input is only ever a parameter.
        if user.isdigit():
            rows = conn.execute(_FIND + "where id = %s", [int(user)]).fetchall()
        elif "@" in user:
            rows = conn.execute(_FIND + "where lower(email) = lower(%s)", [user]).fetchall()
        else:
            rows = conn.execute(_FIND + "where username = %s", [user]).fetchall()
        if len(rows) > 1:  # Django does not make email unique
            raise UsageError(f"{len(rows)} users have the email {user!r}; give the user's id "
                             f"({', '.join(str(r[0]) for r in rows)})")
        if not rows:
            return None
        uid, username, email, active, admin = rows[0]
        label = f"{email or username} (#{uid})"
        return Account(str(uid), label, bool(active), bool(admin))

    def other_admins(self, conn: psycopg.Connection[Any], account: Account) -> int | None:
        row = conn.execute("select count(*) from auth_user where is_active and "
                           "(is_superuser or is_staff) and id <> %s", [int(account.id)]
                           ).fetchone()
        return int(row[0]) if row else 0

    def _password(self, conn: psycopg.Connection[Any], account: Account) -> str:
        row = conn.execute("select password from auth_user where id = %s",
                           [int(account.id)]).fetchone()
        value = str(row[0]) if row else ""
        self.ctx.register_secret(value)  # a hash is still a secret: it can be cracked offline
        return value

    def password_unusable(self, conn: psycopg.Connection[Any], account: Account) -> bool | None:
        return self._password(conn, account).startswith(UNUSABLE_PREFIX)

    def prior(self, conn: psycopg.Connection[Any], account: Account) -> dict[str, Any]:
        row = conn.execute("select is_active from auth_user where id = %s",
                           [int(account.id)]).fetchone()
        return {"is_active": bool(row[0]) if row else None,
                "password": self._password(conn, account)}

    def sessions(self, conn: psycopg.Connection[Any], account: Account) -> Sessions:
        db: list[str] = []
        seen = 0
        if self.cfg.sessions in ("db", "cached_db"):
            rows = conn.execute("select session_key, session_data from django_session "
                                "where expire_date > now()").fetchall()
            db = [str(k) for k, data in rows if sx.owner(sx.decode_db(str(data))) == account.id]
            seen = len(rows)
        cached, down = None, None
        if self.cfg.sessions != "db":
            # cached_db keeps the same pickled dict in the cache: scanned like "cache", so an
            # entry whose row is already gone (a half-done revoke) is still found.
            cached, down = self.from_redis(lambda client: self._cached(client, account))
        keys, undecodable, scanned = cached or ([], 0, 0)
        prefix, _, suffix = self.cache_key.partition("{sid}")
        sids = list(dict.fromkeys([*db, *(k[len(prefix):len(k) - len(suffix)] for k in keys)]))
        self.ctx.redactor.register_many(sids)
        return Sessions(tuple(db), tuple(keys), tuple(sids), undecodable, down,
                        None if down else max(seen, scanned))

    def _cached(self, client: redis.Redis, account: Account) -> tuple[list[str], int, int]:
        """(keys of the user's sessions, undecodable entries, session entries scanned)"""
        from breakglass.connectors.redis import scan_keys

        keys: list[str] = []
        undecodable = 0
        head, _, tail = self.cache_key.partition("{sid}")
        found = scan_keys(client, f"{head}*{tail}")
        values = client.mget(found) if found else []
        for key, value in zip(found, values, strict=True):
            session = sx.decode_cache(_bytes(value)) if value is not None else None
            if session is None:
                undecodable += 1
            elif sx.owner(session) == account.id:
                keys.append(key.decode())
        return keys, undecodable, len(found)

    def session_store(self) -> str:
        where = {"db": "django_session", "cache": f"the Redis cache ({self.cache_key})",
                 "cached_db": f"django_session and the Redis cache ({self.cache_key})"}
        return f'{where[self.cfg.sessions]} (sessions = "{self.cfg.sessions}")'

    def store_hint(self) -> str:
        if self.cfg.sessions == "db":
            return ("is SESSION_ENGINE cache or cached_db? Then set [accounts] sessions and "
                    "redis to match; signed_cookies sessions die only with a new SECRET_KEY")
        return ("check SESSION_ENGINE, CACHES (KEY_PREFIX, VERSION: set session_key) and that "
                "[accounts] redis is the cache's Redis")

    def tokens(self, conn: psycopg.Connection[Any], account: Account) -> Tokens:
        tables: dict[str, int] = {}
        keys: list[str] = []
        for table in self._token_tables(conn):
            row = conn.execute(sql.SQL("select count(*) from {} where user_id = %s").format(
                sql.Identifier(table)), [int(account.id)]).fetchone()
            tables[table] = int(row[0]) if row else 0
            if table == "authtoken_token":
                keys += [str(r[0]) for r in conn.execute(
                    "select key from authtoken_token where user_id = %s", [int(account.id)])]
        self.ctx.redactor.register_many(keys)
        return Tokens(tables, tuple(keys))

    def token_store(self, conn: psycopg.Connection[Any]) -> str:
        return (", ".join(self._token_tables(conn))
                or f"no token table of DRF or knox ({', '.join(TOKEN_TABLES)})")

    def _token_tables(self, conn: psycopg.Connection[Any]) -> list[str]:
        return [t for t in TOKEN_TABLES
                if (row := conn.execute("select to_regclass(%s)", [t]).fetchone()) and row[0]]

    def disable(self, conn: psycopg.Connection[Any], account: Account) -> None:
        conn.execute("update auth_user set is_active = false where id = %s", [int(account.id)])

    def revoke_sessions(self, conn: psycopg.Connection[Any], account: Account,
                        found: Sessions) -> int:
        done = 0
        if found.db:
            cur = conn.execute("delete from django_session where session_key = any(%s)",
                               [list(found.db)])
            done += cur.rowcount
        return done + self.delete_keys(found.redis)

    def revoke_tokens(self, conn: psycopg.Connection[Any], account: Account) -> int:
        return sum(conn.execute(sql.SQL("delete from {} where user_id = %s").format(
            sql.Identifier(t)), [int(account.id)]).rowcount for t in self._token_tables(conn))

    def force_reset(self, conn: psycopg.Connection[Any], account: Account) -> None:
        unusable = UNUSABLE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))
        conn.execute("update auth_user set password = %s where id = %s",
                     [unusable, int(account.id)])

    def restore(self, conn: psycopg.Connection[Any], account: Account,
                prior: Mapping[str, Any]) -> None:
        conn.execute("update auth_user set is_active = %s, password = %s where id = %s",
                     [bool(prior["is_active"]), str(prior["password"]), int(account.id)])


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


PRESET = DjangoPreset
