"""`breakglass lockout` with the generic preset: a small app with its own schema and Redis
sessions (tests/lockout/generic_app.py), its SQL statements in [accounts.sql], sessions found
through the per-user set. Plus a session kept where breakglass does not look: still accepted,
SESSION_STILL_ACCEPTED, exit 1."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.lockout.generic_app import SQL_TOML, GenericApp, serve
from tests.lockout.project import Project
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.sinks import HttpSink


@pytest.fixture(scope="module")
def gapp(pg_server: PostgresServer, redis_server: RedisServer) -> Iterator[GenericApp]:
    dsn = pg_server.create_database(f"generic_{secrets.token_hex(3)}")
    yield from serve(GenericApp(dsn, redis_server.url))


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> Project:
    return Project(tmp_path / "proj", http_sink)


def configure(project: Project, app: GenericApp, *, sessions: bool = True) -> None:
    where = ('session_set = "sessions:user:{id}"\nsession_key = "session:{sid}"\n'
             if sessions else "")
    project.write(app.dsn, f'preset = "generic"\nprobe_url = "{app.url}/me"\n'
                           f'session_cookie = "sid"\n'
                           f'redis = "{project.ref("redis.url", app.redis_url)}"\n'
                           f'{where}{SQL_TOML}')


def me(app: GenericApp, sid: str) -> int:
    return httpx.get(f"{app.url}/me", headers={"Cookie": f"sid={sid}"}).status_code


def test_generic_lockout_revokes_redis_sessions_tokens_and_password(
        gapp: GenericApp, project: Project) -> None:
    configure(project, gapp)
    uid, email, _ = gapp.add_user()
    sid = gapp.login(uid)
    assert me(gapp, sid) == 200
    r = project.run("lockout", email, "--reason", "credential stuffing", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert me(gapp, sid) == 401
    active, pw, must_reset, tokens = gapp.row(uid)
    assert (active, must_reset, tokens) == (False, True, 0) and pw.startswith("reset:")
    assert not gapp.r.exists(f"sessions:user:{uid}")


def test_generic_unlock_restores_the_snapshot_columns(gapp: GenericApp,
                                                      project: Project) -> None:
    configure(project, gapp)
    uid, _, pw = gapp.add_user()
    assert project.run("lockout", uid, "--reason", "test", "--yes").returncode == 0
    r = project.run("unlock", uid, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert gapp.row(uid)[:3] == (True, pw, False)


def test_a_session_breakglass_does_not_revoke_is_session_still_accepted_exit_1(
        gapp: GenericApp, project: Project) -> None:
    # No session_set configured: the session survives, the probe given by reference finds it.
    configure(project, gapp, sessions=False)
    uid, email, _ = gapp.add_user()
    sid = gapp.login(uid)
    ref = project.ref("stolen.cookie", sid)
    r = project.run("lockout", email, "--reason", "test", "--probe-cookie", ref, "--yes", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == [
        "SESSION_STILL_ACCEPTED", "SESSION_STORE_MISMATCH"]
    assert project.leaks(sid) == []


def test_probe_cookie_value_on_the_command_line_is_refused_exit_2(
        gapp: GenericApp, project: Project) -> None:
    configure(project, gapp)
    r = project.run("lockout", "x@example.com", "--reason", "test", "--probe-cookie",
                    "abcdef123456", "--yes")
    assert r.returncode == 2 and "reference" in r.stdout + r.stderr
    assert "abcdef123456" not in r.stdout + r.stderr


def test_generic_last_admin_is_refused_without_force(gapp: GenericApp,
                                                     project: Project) -> None:
    configure(project, gapp)
    with psycopg.connect(gapp.dsn, autocommit=True) as conn:
        conn.execute("update users set is_admin = false")
    uid, email, _ = gapp.add_user(admin=True)
    r = project.run("lockout", email, "--reason", "test", "--yes")
    assert r.returncode == 2 and "last active admin" in r.stdout + r.stderr
    assert "runs.resume" not in r.stdout + r.stderr  # a refusal: nothing to resume
    assert gapp.row(uid)[0] is True


def test_probe_url_down_is_exit_3(gapp: GenericApp, project: Project,
                                  http_sink: HttpSink) -> None:
    configure(project, gapp)
    project.config.write_text(project.config.read_text().replace(
        f"{gapp.url}/me", f"{http_sink.down_url}/me"))
    uid, email, _ = gapp.add_user()
    gapp.login(uid)
    r = project.run("lockout", email, "--reason", "test", "--yes")
    assert r.returncode == 3, r.stdout + r.stderr
    assert gapp.row(uid)[0] is False  # the lockout itself was not held up by the probe


def test_accounts_naming_an_unknown_database_is_one_config_line_exit_2(
        gapp: GenericApp, project: Project) -> None:
    configure(project, gapp)
    project.config.write_text(project.config.read_text().replace(
        'database = "app"', 'database = "ap"'))
    r = project.run("lockout", "x@example.com", "--reason", "test", "--yes")
    assert r.returncode == 2
    assert 'accounts.database: unknown database "ap" (did you mean "app"?)' in r.stdout + r.stderr


def test_generic_preset_without_its_statements_is_one_config_line_exit_2(
        gapp: GenericApp, project: Project) -> None:
    project.write(gapp.dsn, 'preset = "generic"\n')
    r = project.run("lockout", "x@example.com", "--reason", "test", "--yes")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert 'accounts: preset = "generic" needs an [accounts.sql] table' in r.stdout + r.stderr
