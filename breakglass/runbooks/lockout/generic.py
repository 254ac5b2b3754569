"""The generic preset: the app's own schema, described by named SQL statements in
[accounts.sql], and sessions in Redis (a per-user set of session ids and/or key patterns).

Statements get `%(user)s` as a query parameter (never formatted into the text): in `find` it is
what the user typed, elsewhere the id `find` returned; `restore` also gets every column
`snapshot` returned. breakglass cannot observe what `disable`, `revoke_sessions`,
`revoke_tokens` and `force_reset` change unless `find` returns `is_active`, so they are planned
on every run and must be idempotent (an UPDATE or a DELETE is).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from breakglass.config.models import AccountsSqlConfig
from breakglass.errors import UsageError
from breakglass.runbooks.lockout.presets import Account, Preset, Sessions, Tokens

if TYPE_CHECKING:
    import psycopg
    import redis

#: strings at least this long in a snapshot row are registered as secrets (a password hash,
#: a TOTP seed); shorter ones ("member", "t") would mask ordinary words in every output
SECRET_LEN = 16


class GenericPreset(Preset):
    name = "generic"

    @property
    def sql(self) -> AccountsSqlConfig:
        assert self.cfg.sql is not None  # the model requires [accounts.sql] for generic
        return self.cfg.sql

    def _rows(self, conn: psycopg.Connection[Any], which: str,
              params: Mapping[str, Any]) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        statement = getattr(self.sql, which)
        with conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(statement, dict(params))
            except Exception as exc:
                # The statement is the user's config: show which one failed, never the values.
                raise UsageError(f"accounts.sql.{which} failed: {type(exc).__name__}: "
                                 f"{str(exc).strip().splitlines()[0] if str(exc) else ''}"
                                 ) from None
            return list(cur.fetchall()) if cur.description else []

    def _run(self, conn: psycopg.Connection[Any], which: str, account: Account) -> int:
        if getattr(self.sql, which) is None:
            return 0
        from psycopg.rows import dict_row

        with conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(getattr(self.sql, which), {"user": account.id})
            except Exception as exc:
                raise UsageError(f"accounts.sql.{which} failed: {type(exc).__name__}") from None
            return max(cur.rowcount, 0)

    def find(self, conn: psycopg.Connection[Any], user: str) -> Account | None:
        rows = self._rows(conn, "find", {"user": user})
        if len(rows) > 1:
            raise UsageError(f"accounts.sql.find returned {len(rows)} users for {user!r}; "
                             "give the user's id")
        if not rows:
            return None
        row = rows[0]
        if "id" not in row:
            raise UsageError("accounts.sql.find must return a column named id")
        uid = str(row["id"])
        label = f"{row.get('email') or user} (#{uid})" if str(user) != uid else f"#{uid}"
        active = row.get("is_active")
        return Account(uid, label, None if active is None else bool(active),
                       bool(row.get("is_admin")))

    def other_admins(self, conn: psycopg.Connection[Any], account: Account) -> int | None:
        if self.sql.other_admins is None:
            return None
        rows = self._rows(conn, "other_admins", {"user": account.id})
        return int(next(iter(rows[0].values()))) if rows else 0

    def password_unusable(self, conn: psycopg.Connection[Any], account: Account) -> bool | None:
        return None

    def prior(self, conn: psycopg.Connection[Any], account: Account) -> dict[str, Any]:
        if self.sql.snapshot is None:
            return {}
        rows = self._rows(conn, "snapshot", {"user": account.id})
        if not rows:
            return {}
        row = {k: v if isinstance(v, bool | int | float | str) or v is None else str(v)
               for k, v in rows[0].items()}
        self.ctx.redactor.register_many(v for v in row.values()
                                        if isinstance(v, str) and len(v) >= SECRET_LEN)
        return row

    def sessions(self, conn: psycopg.Connection[Any], account: Account) -> Sessions:
        got, down = self.from_redis(lambda client: self._keys(client, account))
        keys, sids = got or ([], [])
        self.ctx.redactor.register_many(sids)
        return Sessions((), tuple(dict.fromkeys(keys)), tuple(sids), store_down=down)

    def _keys(self, client: redis.Redis, account: Account) -> tuple[list[str], list[str]]:
        from breakglass.connectors.redis import scan_keys

        keys: list[str] = []
        sids: list[str] = []
        if self.cfg.session_set and self.cfg.session_key:
            set_key = self.cfg.session_set.format(id=account.id)
            sids = sorted(m.decode() if isinstance(m, bytes) else str(m)
                          for m in client.smembers(set_key))
            keys += [k for sid in sids
                     if client.exists(k := self.cfg.session_key.format(sid=sid))]
            if client.exists(set_key):
                keys.append(set_key)
        for pattern in self.cfg.session_patterns:
            found = scan_keys(client, pattern.format(id=account.id))
            keys += [k.decode() if isinstance(k, bytes) else str(k) for k in found]
        return keys, sids

    def session_store(self) -> str:
        places = [p for p in (self.cfg.session_set, *self.cfg.session_patterns) if p]
        where = [f"Redis ({', '.join(places)})"] if places else []
        if self.sql.revoke_sessions:
            where.append("[accounts.sql].revoke_sessions")
        return " and ".join(where) or "nowhere (no session store is configured)"

    def tokens(self, conn: psycopg.Connection[Any], account: Account) -> Tokens:
        return Tokens()

    def token_store(self, conn: psycopg.Connection[Any]) -> str:
        return "the app's own tables, which breakglass does not read (generic preset)"

    def disable(self, conn: psycopg.Connection[Any], account: Account) -> None:
        self._run(conn, "disable", account)

    def revoke_sessions(self, conn: psycopg.Connection[Any], account: Account,
                        found: Sessions) -> int:
        done = self._run(conn, "revoke_sessions", account)
        return done + self.delete_keys(found.redis)

    def revoke_tokens(self, conn: psycopg.Connection[Any], account: Account) -> int:
        return self._run(conn, "revoke_tokens", account)

    def force_reset(self, conn: psycopg.Connection[Any], account: Account) -> None:
        self._run(conn, "force_reset", account)

    def restore(self, conn: psycopg.Connection[Any], account: Account,
                prior: Mapping[str, Any]) -> None:
        if self.sql.restore is None:
            raise UsageError("unlock with the generic preset needs [accounts.sql].restore (and "
                             "snapshot, to record what it restores)")
        self._rows(conn, "restore", {**prior, "user": account.id})

    def blind_sql(self, statement: str) -> bool:
        return getattr(self.sql, statement, None) is not None


PRESET = GenericPreset
