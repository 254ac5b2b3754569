"""`breakglass rotate` for kind postgres_role, through the real CLI against a real PostgreSQL
that checks SCRAM-SHA-256 passwords (pg_server) and Secrets Manager on moto (where consumers read
the DSN): the new login is accepted, the old password is refused by the server, alternating roles
flip the DSN and retire the old role, a SIGKILL at any step boundary is finished by
`runs.resume`, a failure at any step leaves the stored DSN one the server accepts (checked with
psycopg), and no password reaches any output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.rotate.aws_project import RotateProject, rotate_project
from tests.rotate.postgres_role_db import PgRoles, make_roles
from tests.servers.moto import MotoServer
from tests.servers.postgres import PostgresServer
from tests.servers.sshd import SshdFactory, SshdServer

__all__ = ["rotate_project"]  # the fixture, imported for pytest

STORE = "prod/database-url"


def stored(aws: MotoServer) -> str:
    return str(aws.client("secretsmanager").get_secret_value(
        SecretId=STORE, VersionStage="AWSCURRENT")["SecretString"])


def login_of(dsn: str) -> tuple[str, str]:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    return str(params["user"]), str(params["password"])


@pytest.fixture
def roles(pg_server: PostgresServer, tmp_path: Path) -> PgRoles:
    return make_roles(pg_server, tmp_path)


def project(aws: MotoServer, rotate_project: Any, roles: PgRoles, secret: str) -> RotateProject:
    aws.client("secretsmanager").create_secret(Name=STORE,
                                               SecretString=roles.dsn(roles.names[0]))
    proj: RotateProject = rotate_project(aws)
    proj.write(secret, extra=roles.database_toml())
    return proj


def single(roles: PgRoles, more: str = "") -> str:
    return (f'[secrets.DB]\nkind = "postgres_role"\ndatabase = "admin"\n'
            f'role = "{roles.names[0]}"\nstore = "aws-sm:{STORE}"\n{more}')


def alternating(roles: PgRoles, more: str = "") -> str:
    return (f'[secrets.DB]\nkind = "postgres_role"\ndatabase = "admin"\n'
            f'roles = ["{roles.names[0]}", "{roles.names[1]}"]\nstore = "aws-sm:{STORE}"\n{more}')


# -- single role -------------------------------------------------------------------------------

def test_single_role_new_password_accepted_old_refused_dsn_shape_kept(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a = roles.names[0]
    proj = project(aws, rotate_project, roles, single(roles))
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    dsn = stored(aws)
    user, new = login_of(dsn)
    assert user == a and new != roles.passwords[a] and len(new) == 32
    assert dsn.startswith(f"postgresql://{a}:") and dsn.endswith("?application_name=web")
    assert roles.accepts(a, new) and not roles.accepts(a, roles.passwords[a])
    assert proj.leaks(roles.passwords[a], new, roles.pg.password) == []


def test_single_role_password_reaches_the_server_only_as_a_scram_verifier(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    proj = project(aws, rotate_project, roles, single(roles))
    assert proj.run("rotate", "DB", "--yes").returncode == 0
    verifier = roles.stored_verifier(roles.names[0])
    assert verifier is not None and verifier.startswith("SCRAM-SHA-256$4096:")
    log = roles.pg.log_path.read_text(errors="replace") if roles.pg.log_path.exists() else ""
    assert login_of(stored(aws))[1] not in log


def test_single_role_dry_run_says_the_downtime_and_changes_nothing(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a = roles.names[0]
    proj = project(aws, rotate_project, roles, single(roles))
    r = proj.run("rotate", "DB", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("[pin]", "[create]", "[verify_new]", "[verify_old]"):
        assert step in r.stdout
    assert "fail to open NEW connections until restarted" in r.stdout
    assert stored(aws) == roles.dsn(a) and roles.accepts(a, roles.passwords[a])


def test_password_format_stores_only_the_password(aws: MotoServer, rotate_project: Any,
                                                  roles: PgRoles) -> None:
    a = roles.names[0]
    aws.client("secretsmanager").create_secret(Name=STORE, SecretString=roles.passwords[a])
    proj: RotateProject = rotate_project(aws)
    proj.write(single(roles, 'format = "password"\n'), extra=roles.database_toml())
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    new = stored(aws)
    assert roles.accepts(a, new) and not roles.accepts(a, roles.passwords[a])


SINGLE_POINTS = ["pin.after_apply", "create.before_apply", "create.mid", "create.after_apply",
                 "create.after_verify", "verify_new.after_verify", "verify_old.after_verify"]


@pytest.mark.parametrize("point", SINGLE_POINTS)
def test_single_role_killed_at_a_step_boundary_is_finished_by_resume(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, point: str) -> None:
    a = roles.names[0]
    proj = project(aws, rotate_project, roles, single(roles))
    proj.kill_at(point, "DB")
    (run_id,) = proj.run_ids()
    r = proj.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    new = login_of(stored(aws))[1]
    assert roles.accepts(a, new) and not roles.accepts(a, roles.passwords[a])
    versions = aws.client("secretsmanager").list_secret_version_ids(SecretId=STORE)["Versions"]
    assert len(versions) == 2  # one new value: nothing written twice
    assert proj.leaks(roles.passwords[a], new) == []


# -- alternating roles ---------------------------------------------------------------------------

def test_alternating_flips_the_dsn_to_the_other_role_and_retires_the_old(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a, b = roles.names
    proj = project(aws, rotate_project, roles, alternating(roles))
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    user, new = login_of(stored(aws))
    assert user == b and roles.accepts(b, new)
    assert not roles.can_login(a) and not roles.accepts(a, roles.passwords[a])
    assert roles.stored_verifier(a) is None  # grace unset: erased in the same run
    assert proj.leaks(roles.passwords[a], new) == []


def test_alternating_with_grace_disables_the_old_role_but_keeps_its_password(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a, _ = roles.names
    proj = project(aws, rotate_project, roles, alternating(roles, 'grace = "7d"\n'))
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not roles.can_login(a) and roles.stored_verifier(a) is not None
    assert "kept, out of use, until" in r.stdout


def test_alternating_second_rotation_flips_back_with_a_fresh_password(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a, b = roles.names
    proj = project(aws, rotate_project, roles, alternating(roles))
    assert proj.run("rotate", "DB", "--yes").returncode == 0
    _, b_password = login_of(stored(aws))
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    user, new = login_of(stored(aws))
    assert user == a and new != roles.passwords[a] and roles.accepts(a, new)
    assert not roles.can_login(b) and not roles.accepts(b, b_password)


def test_alternating_leaked_erases_the_old_password_and_ends_its_sessions_despite_grace(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a, _ = roles.names
    proj = project(aws, rotate_project, roles, alternating(roles, 'grace = "7d"\n'))
    with psycopg.connect(roles.dsn(a), autocommit=True) as intruder:
        r = proj.run("rotate", "DB", "--leaked", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        with pytest.raises(psycopg.OperationalError):
            intruder.execute("select 1")
    assert roles.stored_verifier(a) is None and not roles.can_login(a)


ALT_POINTS = ["pin.after_apply", "create.mid", "create.after_apply", "create.after_verify",
              "verify_new.after_verify", "revoke.after_apply", "verify_old.after_verify",
              "delete.after_apply"]


@pytest.mark.parametrize("point", ALT_POINTS)
def test_alternating_killed_at_a_step_boundary_is_finished_by_resume(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, point: str) -> None:
    a, b = roles.names
    proj = project(aws, rotate_project, roles, alternating(roles))
    proj.kill_at(point, "DB")
    (run_id,) = proj.run_ids()
    r = proj.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    user, new = login_of(stored(aws))
    assert user == b and roles.accepts(b, new)
    assert not roles.accepts(a, roles.passwords[a]) and roles.stored_verifier(a) is None
    assert proj.leaks(roles.passwords[a], new) == []


def test_old_role_enabled_again_while_the_run_was_stopped_is_disabled_again_by_resume(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a, _ = roles.names
    proj = project(aws, rotate_project, roles, alternating(roles, 'grace = "7d"\n'))
    proj.kill_at("revoke.after_verify", "DB")
    with roles.admin() as conn:  # someone turns the old login back on meanwhile
        conn.execute(f'ALTER ROLE "{a}" LOGIN')
    (run_id,) = proj.run_ids()
    r = proj.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not roles.can_login(a) and not roles.accepts(a, roles.passwords[a])


def test_an_old_password_the_server_still_accepts_is_old_password_still_valid(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    from breakglass.config import load_config
    from breakglass.engine.redaction import Redactor
    from breakglass.engine.runbook import StepContext
    from breakglass.runbooks.rotate.base import Cred, Snapshot
    from breakglass.runbooks.rotate.postgres_role import login_id
    from breakglass.runbooks.rotate.runbook import kind_for
    from breakglass.secrets import Secrets

    a = roles.names[0]
    proj = project(aws, rotate_project, roles, single(roles))
    config = load_config(proj.config)
    redactor = Redactor()
    ctx = StepContext(run_id="t", runbook="rotate", config=config, params={},
                      state_dir=proj.state, redactor=redactor,
                      secrets=Secrets(config, redactor))
    old = Cred(login_id(a, roles.passwords[a]), "gone")  # as if revoked: it was not
    findings = kind_for(config, "DB").verify_refused(ctx, Snapshot(old))
    assert [f.code for f in findings] == ["OLD_PASSWORD_STILL_VALID"]


# -- bad configuration ---------------------------------------------------------------------------

def one_line_error(r: Any) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return str(lines[0])


@pytest.mark.parametrize(("secret", "says"), [
    ('role = "x"\nroles = ["a", "b"]\nstore = "aws-sm:s"\n', "exactly one of them"),
    ('store = "aws-sm:s"\n', "exactly one of them"),
    ('roles = ["a", "a"]\nstore = "aws-sm:s"\n', "two different roles"),
    ('role = "x"\n', "say where consumers read the value"),
    ('role = "x"\npath = "/srv/.env"\nkey = "DATABASE_URL"\n', "needs consumers"),
    ('roles = ["a", "b"]\nstore = "aws-sm:s"\nformat = "password"\n', 'need format = "dsn"'),
])
def test_bad_postgres_role_config_is_exit_2_with_one_line(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, secret: str, says: str) -> None:
    proj: RotateProject = rotate_project(aws)
    proj.write('[secrets.DB]\nkind = "postgres_role"\ndatabase = "admin"\n' + secret,
               extra=roles.database_toml())
    assert says in one_line_error(proj.run("rotate", "DB", "--dry-run"))


def test_unknown_database_is_exit_2_naming_the_configured_ones(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    proj: RotateProject = rotate_project(aws)
    proj.write('[secrets.DB]\nkind = "postgres_role"\ndatabase = "main"\nrole = "x"\n'
               'store = "aws-sm:s"\n', extra=roles.database_toml())
    line = one_line_error(proj.run("rotate", "DB", "--dry-run"))
    assert "no [databases.main]" in line and "admin" in line


def test_a_missing_role_blocks_the_rotation_before_anything_changes(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a = roles.names[0]
    proj = project(aws, rotate_project, roles, (
        '[secrets.DB]\nkind = "postgres_role"\ndatabase = "admin"\n'
        f'roles = ["{a}", "{a}_missing"]\nstore = "aws-sm:{STORE}"\n'))
    r = proj.run("rotate", "DB", "--yes", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ROLE_MISSING" in [f["code"] for f in json.loads(r.stdout)["findings"]]
    assert stored(aws) == roles.dsn(a)


# -- env file on consumer hosts ------------------------------------------------------------------
def env_project(rotate_project: Any, aws: MotoServer, roles: PgRoles,
                sshd: SshdServer | list[SshdServer], secret_more: str, health: str,
                path: str | None = None) -> RotateProject:
    a = roles.names[0]
    servers = sshd if isinstance(sshd, list) else [sshd]
    hosts = ""
    for i, server in enumerate(servers, start=1):
        env = server.home / ".env"
        env.write_text(f"SECRET_KEY=unrelated\nDATABASE_URL={roles.dsn(a)}\n")
        env.chmod(0o600)
        _chown_like_home(env, server.home)
        hosts += (f'[hosts.web{i}]\naddress = "{server.host}"\nport = {server.port}\n'
                  f'user = "{server.user}"\nkey = "file:{server.key_path}"\n'
                  f'known_hosts = "{server.known_hosts}"\nrestart = "true"\n'
                  f"health_command = '{health}'\n")
    consumers = ", ".join(f'"web{i}:app"' for i in range(1, len(servers) + 1))
    proj: RotateProject = rotate_project(aws)
    proj.write(f'[secrets.DB]\nkind = "postgres_role"\ndatabase = "admin"\n'
               f'path = "{path or servers[0].home / ".env"}"\nkey = "DATABASE_URL"\n'
               f"consumers = [{consumers}]\n{secret_more}",
               extra=roles.database_toml() + hosts)
    return proj



def _chown_like_home(path: Path, home: Path) -> None:
    import os

    st = home.stat()
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)


def psql_health(pg: PostgresServer) -> str:
    # What a real consumer does at start: read its env file (a shell reads the quoting the
    # way dotenv_format.py writes it) and connect with the DSN.
    return f'. "$HOME/.env" && {pg.bin_dir}/psql -Atc "select 1" "$DATABASE_URL"'


def env_dsn(sshd: SshdServer) -> str:
    from breakglass.runbooks.rotate.dotenv_format import read_value

    value = read_value((sshd.home / ".env").read_text(), "DATABASE_URL")
    assert value is not None
    return value


def test_env_file_consumers_get_the_new_dsn_and_pass_their_health_check(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, sshd_server: SshdServer) -> None:
    a, b = roles.names
    proj = env_project(rotate_project, aws, roles, sshd_server, f'roles = ["{a}", "{b}"]\n',
                       psql_health(roles.pg))
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (sshd_server.home / ".env").read_text().startswith("SECRET_KEY=unrelated\n")
    user, new = login_of(env_dsn(sshd_server))
    assert user == b and roles.accepts(b, new) and not roles.accepts(a, roles.passwords[a])
    assert proj.leaks(roles.passwords[a], new) == []


def test_env_file_consumer_failing_health_stops_before_revocation_with_a_recovery_plan(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, sshd_server: SshdServer) -> None:
    a, b = roles.names
    proj = env_project(rotate_project, aws, roles, sshd_server, f'roles = ["{a}", "{b}"]\n',
                       "false")
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Recovery plan (CONSUMER_UNHEALTHY, web1:app):" in r.stdout, r.stdout
    assert ".breakglass-" in r.stdout and ".bak" in r.stdout  # the env file's backup goes back
    assert roles.can_login(a) and roles.accepts(a, roles.passwords[a])  # the old role lives
    (run_id,) = proj.run_ids()
    applied = {e["data"]["step"] for e in proj.events(run_id)
               if e["type"] == "step_apply_started"}
    assert applied == {"pin", "create", "consumers"}
    new = login_of(env_dsn(sshd_server))[1]
    assert proj.leaks(roles.passwords[a], new) == []


# -- never store what the server has not accepted -----------------------------------------------

def connects(dsn: str) -> bool:
    """What a consumer that restarts does: connect with the DSN it reads."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("select 1")
        return True
    except psycopg.OperationalError:
        return False


def limited_admin(roles: PgRoles, tmp_path: Path, *, admin_option: bool) -> str:
    """`[databases.admin]` as a CREATEROLE role that is not a superuser, holding ADMIN OPTION
    on the app roles or not (PostgreSQL 16 needs both to ALTER them)."""
    name, password = f"rotator_{roles.names[0]}", "rotator-pw-0123456789"
    with roles.admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)))
        if admin_option:
            for role in roles.names:
                conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                    sql.Identifier(role), sql.Identifier(name)))
    ref = tmp_path / "rotator.dsn"
    ref.write_text(f"postgresql://{name}:{password}@{roles.pg.host}:{roles.pg.port}/postgres")
    ref.chmod(0o600)
    return f'[databases.admin]\ndsn = "file:{ref}"\n'


def set_createrole(roles: PgRoles, on: bool) -> None:
    with roles.admin() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} {}").format(
            sql.Identifier(f"rotator_{roles.names[0]}"),
            sql.SQL("CREATEROLE" if on else "NOCREATEROLE")))


def test_an_admin_dsn_that_may_not_alter_the_role_is_refused_before_any_change(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, tmp_path: Path) -> None:
    a = roles.names[0]
    aws.client("secretsmanager").create_secret(Name=STORE, SecretString=roles.dsn(a))
    proj: RotateProject = rotate_project(aws)
    proj.write(single(roles), extra=limited_admin(roles, tmp_path, admin_option=False))
    r = proj.run("rotate", "DB", "--yes", "--json")
    assert r.returncode == 3, r.stdout + r.stderr  # could not rotate: a credential refused
    (found,) = [f for f in json.loads(r.stdout)["findings"]
                if f["code"] == "ALTER_ROLE_NOT_PERMITTED"]
    assert "ADMIN OPTION" in found["message"]
    assert stored(aws) == roles.dsn(a) and connects(stored(aws))
    assert len(aws.client("secretsmanager").list_secret_version_ids(
        SecretId=STORE)["Versions"]) == 1  # nothing written
    assert proj.leaks(roles.passwords[a]) == []


def test_an_alter_refused_after_the_store_write_puts_the_old_dsn_back_and_resume_finishes(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, tmp_path: Path) -> None:
    a = roles.names[0]
    aws.client("secretsmanager").create_secret(Name=STORE, SecretString=roles.dsn(a))
    proj: RotateProject = rotate_project(aws)
    proj.write(single(roles), extra=limited_admin(roles, tmp_path, admin_option=True))
    proj.kill_at("create.mid", "DB")  # the new DSN is stored, the ALTER not made
    written = stored(aws)
    assert written != roles.dsn(a) and not connects(written)
    set_createrole(roles, False)  # the privilege is revoked at that boundary
    (run_id,) = proj.run_ids()
    r = proj.resume(run_id)
    assert r.returncode == 3, r.stdout + r.stderr
    (failed,) = [e["data"]["finding"] for e in proj.events(run_id) if e["type"] == "step_failed"]
    assert failed["code"] == "ALTER_ROLE_NOT_PERMITTED"
    assert "holds the old dsn again" in failed["message"]
    assert stored(aws) == roles.dsn(a) and connects(stored(aws))  # consumers still connect
    set_createrole(roles, True)  # the cause fixed, the same run finishes
    r = proj.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    new = login_of(stored(aws))[1]
    assert connects(stored(aws)) and not roles.accepts(a, roles.passwords[a])
    assert proj.leaks(roles.passwords[a], new, login_of(written)[1]) == []


def sftp_listing(server: SshdServer) -> list[str]:
    """The host's home as SFTP lists it (an independent client, not breakglass)."""
    with server.connect() as client, client.open_sftp() as sftp:
        return sorted(sftp.listdir(str(server.home)))


def test_a_store_write_refused_on_one_host_leaves_every_host_on_the_old_dsn_until_resume(
        aws: MotoServer, rotate_project: Any, roles: PgRoles,
        sshd_factory: SshdFactory) -> None:
    a = roles.names[0]
    servers = sshd_factory.start(2)
    proj = env_project(rotate_project, aws, roles, servers, f'role = "{a}"\n', "true",
                       path="~/.env")
    servers[1].home.chmod(0o555)  # the login user cannot create the temp file or the backup
    try:
        r = proj.run("rotate", "DB", "--yes")
    finally:
        servers[1].home.chmod(0o755)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "put back as it was on web1" in r.stdout
    for server in servers:  # web1 was written, then put back: no host holds the new DSN
        assert env_dsn(server) == roles.dsn(a) and connects(env_dsn(server))
        assert not [f for f in sftp_listing(server) if ".breakglass-" in f]  # fresh hosts
    assert roles.accepts(a, roles.passwords[a])
    (run_id,) = proj.run_ids()
    r = proj.resume(run_id)  # the host fixed: the same run finishes on every host
    assert r.returncode == 0, r.stdout + r.stderr
    new = {env_dsn(server) for server in servers}
    assert len(new) == 1 and connects(new.pop()) and not roles.accepts(a, roles.passwords[a])
    assert proj.leaks(roles.passwords[a]) == []


def test_a_tilde_path_is_the_file_in_the_sftp_home(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, sshd_server: SshdServer) -> None:
    a = roles.names[0]
    proj = env_project(rotate_project, aws, roles, sshd_server, f'role = "{a}"\n',
                       psql_health(roles.pg), path="~/.env")
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    user, new = login_of(env_dsn(sshd_server))
    assert user == a and new != roles.passwords[a] and connects(env_dsn(sshd_server))


def test_backups_holding_the_old_dsn_are_deleted_when_the_run_succeeds(
        aws: MotoServer, rotate_project: Any, roles: PgRoles, sshd_server: SshdServer) -> None:
    a, b = roles.names
    proj = env_project(rotate_project, aws, roles, sshd_server,
                       f'roles = ["{a}", "{b}"]\ngrace = "7d"\n',
                       psql_health(roles.pg))
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[cleanup]" in r.stdout
    (run_id,) = proj.run_ids()
    listing = sftp_listing(sshd_server)  # the host is shared: other tests leave their own
    assert ".env" in listing and f".env.breakglass-{run_id}.bak" not in listing
    assert connects(env_dsn(sshd_server))


def test_flipping_back_to_a_role_ends_the_sessions_its_earlier_password_opened(
        aws: MotoServer, rotate_project: Any, roles: PgRoles) -> None:
    a = roles.names[0]
    proj = project(aws, rotate_project, roles, alternating(roles, 'grace = "7d"\n'))
    with psycopg.connect(roles.dsn(a), autocommit=True) as intruder:
        assert proj.run("rotate", "DB", "--yes").returncode == 0  # a -> b; a kept for grace
        intruder.execute("select 1")  # the grace period lets it live
        r = proj.run("rotate", "DB", "--yes")  # b -> a, with a fresh password
        assert r.returncode == 0, r.stdout + r.stderr
        assert login_of(stored(aws))[0] == a
        with pytest.raises(psycopg.OperationalError):
            intruder.execute("select 1")
    assert connects(stored(aws))
