"""`rotate` of a PostgreSQL role's password (kind postgres_role, one role) on the lab's
PostgreSQL, breakglass connecting as a CREATEROLE role that is no superuser (so the privilege
can be refused), the DSN stored in `~/.env` on an sshd host whose consumer checks its health by
connecting with psql.

Faults: SIGKILL at every boundary (normal and --leaked; `create.mid` is between the store write
and the ALTER), once undone; PostgreSQL stopped before `create`; the host's sshd stopped before
the consumer restart; CREATEROLE taken from breakglass's role before `create`.

Read with SFTP (the DSN in the host's ~/.env) and psycopg: the stored DSN names the role and
connects, the old password is refused over SCRAM, and no `.env.breakglass-*.bak` (which holds
the old DSN) is left. After `runs.undo` the stored DSN still connects: a consumer that restarts
is never locked out (the old password itself is replaced by `create`; undo cannot bring it back).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from bench._faults.rotate import (
    APPLIED,
    CHECKED,
    ENTRY,
    LEAKED,
    WITH_MID,
    RotateProject,
    RotateScenario,
    host_toml,
    sftp_read,
    sshd_away,
)
from bench._faults.scenario import Fault, Scenario, register
from breakglass.runbooks.rotate.dotenv_format import read_value
from tests.cli_project import CliProject
from tests.rotate.postgres_role_db import PgRoles, make_roles

KEY = "DATABASE_URL"


@dataclass
class RoleProject(RotateProject):
    roles: PgRoles | None = None
    rotator: str = ""
    rotator_password: str = ""

    @property
    def role(self) -> str:
        assert self.roles is not None
        return self.roles.names[0]

    def stored(self) -> str:
        value = read_value(sftp_read(self.servers[0], self.servers[0].home / ".env"), KEY)
        assert value is not None, f"{KEY} is missing from web1's ~/.env"
        return value


@register
class PostgresRoleScenario(RotateScenario):
    runbook = "rotate.postgres_role"
    steps = (("pin", APPLIED), ("create", WITH_MID), ("consumers", APPLIED),
             ("verify_new", CHECKED), ("revoke", CHECKED), ("verify_old", CHECKED),
             ("delete", CHECKED), ("cleanup", APPLIED))
    leaked_steps = (("create", WITH_MID), ("revoke", CHECKED), ("consumers", APPLIED),
                    ("verify_old", CHECKED), ("cleanup", APPLIED))
    undo_at = "create.after_apply"
    quick = ("sigkill @ create.mid",)

    @classmethod
    def outages(cls) -> list[Fault]:
        return [Fault("database down", "create.before_apply", _pg_away, _pg_back),
                Fault("host down", "consumers.before_apply", *sshd_away(0)),
                Fault("permission refused", "create.before_apply", _no_createrole,
                      _createrole, extra=LEAKED)]

    def setup(self, work: Path) -> CliProject:
        pg = self.lab.postgres()
        roles = make_roles(pg, work)
        proj = RoleProject(work, roles=roles, rotator=f"rotator_{secrets.token_hex(4)}",
                           rotator_password=secrets.token_urlsafe(18),
                           servers=self.lab.hosts(1))
        with roles.admin() as conn:  # CREATEROLE and ADMIN OPTION: what ALTER ROLE needs
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(proj.rotator), sql.Literal(proj.rotator_password)))
            conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                sql.Identifier(proj.role), sql.Identifier(proj.rotator)))
        admin = work / "rotator.dsn"
        admin.write_text(f"postgresql://{proj.rotator}:{proj.rotator_password}@{pg.host}:"
                         f"{pg.port}/postgres")
        admin.chmod(0o600)
        server = proj.servers[0]
        env = server.home / ".env"
        env.write_text(f"SECRET_KEY=unrelated\n{KEY}={roles.dsn(proj.role)}\n")
        env.chmod(0o600)
        if os.geteuid() == 0:
            st = server.home.stat()
            os.chown(env, st.st_uid, st.st_gid)
        # What a consumer does at start: read its env file and connect with the DSN.
        health = (f"health_command = '. \"$HOME/.env\" && {pg.bin_dir}/psql -Atc \"select 1\" "
                  f"\"${KEY}\"'")
        proj.body = (f'[databases.admin]\ndsn = "file:{admin}"\n\n'
                     + host_toml("web1", server, "true", health)
                     + f'[secrets.{ENTRY}]\nkind = "postgres_role"\ndatabase = "admin"\n'
                     f'role = "{proj.role}"\npath = "~/.env"\nkey = "{KEY}"\n'
                     'consumers = ["web1:app"]\n')
        proj.write()
        return proj

    def rotated(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, RoleProject) and proj.roles is not None
        dsn = proj.stored()
        params = psycopg.conninfo.conninfo_to_dict(dsn)
        return [what for what, bad in [
            (f"the stored DSN names {params.get('user')}", params.get("user") != proj.role),
            ("the stored DSN does not connect", not connects(dsn)),
            ("the old password is still accepted",
             proj.roles.accepts(proj.role, proj.roles.passwords[proj.role]))] if bad]

    def kept(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, RoleProject)
        return [] if connects(proj.stored()) else ["the stored DSN does not connect"]

    def values(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, RoleProject) and proj.roles is not None
        stored = psycopg.conninfo.conninfo_to_dict(proj.stored()).get("password")
        return [proj.roles.passwords[proj.role], str(stored or ""), proj.rotator_password,
                proj.roles.pg.password]

    def teardown(self, proj: CliProject) -> None:
        super().teardown(proj)
        assert isinstance(proj, RoleProject)
        for leftover in proj.servers[0].home.glob(".env*"):
            leftover.unlink()


def connects(dsn: str) -> bool:
    """What a consumer that restarts does: connect with the DSN it reads."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("select 1")
        return True
    except psycopg.OperationalError:
        return False


def _pg_away(scenario: Scenario, proj: CliProject) -> None:
    scenario.lab.postgres().stop()


def _pg_back(scenario: Scenario, proj: CliProject) -> None:
    server = scenario.lab.postgres()
    server._start(server.port)  # the same port: every DSN stays right


def _set_createrole(proj: CliProject, on: bool) -> None:
    assert isinstance(proj, RoleProject) and proj.roles is not None
    with proj.roles.admin() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} {}").format(
            sql.Identifier(proj.rotator), sql.SQL("CREATEROLE" if on else "NOCREATEROLE")))


def _no_createrole(scenario: Scenario, proj: CliProject) -> None:
    _set_createrole(proj, False)


def _createrole(scenario: Scenario, proj: CliProject) -> None:
    _set_createrole(proj, True)
