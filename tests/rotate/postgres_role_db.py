"""Roles on the pg_server fixture for `rotate` of kind postgres_role: each test gets roles of its
own (the server lives for the session), an admin DSN in a 0600 file (a `file:` ref), and the
checks the tests make — does the server accept this login over SCRAM, can the role log in, what
does it store as its password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tests.servers.postgres import PostgresServer


@dataclass
class PgRoles:
    pg: PostgresServer
    admin_ref: str  # "file:PATH" holding the superuser's DSN
    names: tuple[str, str]
    passwords: dict[str, str]

    def database_toml(self) -> str:
        return f'[databases.admin]\ndsn = "{self.admin_ref}"\n'

    def dsn(self, role: str, password: str | None = None) -> str:
        pw = self.passwords[role] if password is None else password
        return (f"postgresql://{role}:{pw}@{self.pg.host}:{self.pg.port}/postgres"
                "?application_name=web")

    def accepts(self, role: str, password: str) -> bool:
        try:
            with psycopg.connect(host=self.pg.host, port=self.pg.port, dbname="postgres",
                                 user=role, password=password, require_auth="scram-sha-256",
                                 connect_timeout=5):
                return True
        except psycopg.OperationalError as exc:
            assert "password authentication failed" in str(exc) or \
                "not permitted to log in" in str(exc), exc
            return False

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.pg.dsn(), autocommit=True)

    def can_login(self, role: str) -> bool:
        with self.admin() as conn:
            row = conn.execute("select rolcanlogin from pg_roles where rolname = %s",
                               [role]).fetchone()
        assert row is not None
        return bool(row[0])

    def stored_verifier(self, role: str) -> str | None:
        with self.admin() as conn:
            row = conn.execute("select rolpassword from pg_authid where rolname = %s",
                               [role]).fetchone()
        assert row is not None
        return None if row[0] is None else str(row[0])


def make_roles(pg: PostgresServer, tmp_path: Path, *, second_login: bool = False) -> PgRoles:
    """Two fresh roles with random passwords (the second NOLOGIN unless asked), members of a
    group role that would own the grants."""
    tag = secrets.token_hex(4)
    names = (f"app_{tag}_a", f"app_{tag}_b")
    passwords = {n: f"old-{n}-{secrets.token_urlsafe(12)}" for n in names}
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(f"app_{tag}")))
        for i, name in enumerate(names):
            login = sql.SQL("LOGIN" if i == 0 or second_login else "NOLOGIN")
            conn.execute(sql.SQL("CREATE ROLE {} {} PASSWORD {} IN ROLE {}").format(
                sql.Identifier(name), login, sql.Literal(passwords[name]),
                sql.Identifier(f"app_{tag}")))
    ref = tmp_path / "admin.dsn"
    ref.write_text(pg.dsn())
    ref.chmod(0o600)
    return PgRoles(pg, f"file:{ref}", names, passwords)
