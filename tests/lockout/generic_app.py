"""A small non-Django app for the generic preset: its own schema (`users`, `api_tokens`) in
PostgreSQL and Redis sessions (`session:<sid>` -> user id, plus the per-user set
`sessions:user:<id>`), served by wsgiref in a thread.

GET /me with `Cookie: sid=<sid>` answers 200 while the session exists in Redis, 401 otherwise.
It does not look at `users.active`: the proof must come from revoking the session.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psycopg
import redis

SCHEMA = """
create table if not exists users (
    id serial primary key, email text unique not null, password_hash text not null,
    active boolean not null default true, is_admin boolean not null default false,
    must_reset boolean not null default false, locked_reason text);
create table if not exists api_tokens (user_id int not null references users(id),
    token text not null);
"""

SQL_TOML = """
[accounts.sql]
find = '''select id, email, active as is_active, is_admin from users
          where email = %(user)s or id::text = %(user)s'''
snapshot = "select active, password_hash, must_reset from users where id = %(user)s::int"
disable = "update users set active = false where id = %(user)s::int"
revoke_tokens = "delete from api_tokens where user_id = %(user)s::int"
force_reset = '''update users set must_reset = true,
                 password_hash = 'reset:' || md5(random()::text) where id = %(user)s::int'''
restore = '''update users set active = %(active)s, password_hash = %(password_hash)s,
             must_reset = %(must_reset)s where id = %(user)s::int'''
other_admins = "select count(*) from users where is_admin and active and id <> %(user)s::int"
"""


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class GenericApp:
    dsn: str
    redis_url: str
    url: str = ""
    server: WSGIServer | None = None

    def __post_init__(self) -> None:
        self.r = redis.Redis.from_url(self.redis_url)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)

    def wsgi(self, environ: dict[str, Any],
             start: Callable[[str, list[tuple[str, str]]], Any]) -> Iterable[bytes]:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        sid = cookie["sid"].value if "sid" in cookie else ""
        uid = self.r.get(f"session:{sid}") if sid else None
        if environ["PATH_INFO"] == "/me" and uid is not None:
            start("200 OK", [("Content-Type", "text/plain")])
            return [uid if isinstance(uid, bytes) else str(uid).encode()]
        start("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"log in"]

    def add_user(self, *, admin: bool = False) -> tuple[str, str, str]:
        """(id, email, password_hash) of a new user with an API token."""
        email = f"g{secrets.token_hex(4)}@example.com"
        pw = f"pbkdf2:{secrets.token_hex(20)}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("insert into users (email, password_hash, is_admin) "
                               "values (%s, %s, %s) returning id", [email, pw, admin]).fetchone()
            assert row is not None
            conn.execute("insert into api_tokens values (%s, %s)",
                         [row[0], secrets.token_hex(20)])
        return str(row[0]), email, pw

    def login(self, uid: str) -> str:
        """What the app's login does: a session key plus the user's session set."""
        sid = secrets.token_urlsafe(24)
        self.r.set(f"session:{sid}", uid)
        self.r.sadd(f"sessions:user:{uid}", sid)
        return sid

    def row(self, uid: str) -> tuple[Any, ...]:
        with psycopg.connect(self.dsn) as conn:
            got = conn.execute("select active, password_hash, must_reset, "
                               "(select count(*) from api_tokens where user_id = users.id) "
                               "from users where id = %s", [int(uid)]).fetchone()
        assert got is not None
        return tuple(got)


def serve(app: GenericApp) -> Iterator[GenericApp]:
    server = make_server("127.0.0.1", 0, app.wsgi, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url, app.server = f"http://127.0.0.1:{server.server_port}", server
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
