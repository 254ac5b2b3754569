"""Containment first (issue #10): `lockout` disables the account before it touches the session
store, a Redis that is down leaves a partial result that `runs.resume` finishes, each credential
kind is proven with its own probe URL, and a session store that held none of the user's sessions
while a live session was given is never called proven. End states are checked with independent
clients: psycopg on the app's database, redis-py, and the real Django + DRF app."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import redis
from psycopg import sql

from tests.lockout.generic_app import SQL_TOML, GenericApp, serve
from tests.lockout.project import DjangoApp, Project, StoppableRedis, start_django
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisFactory, RedisServer
from tests.servers.sinks import HttpSink

REFUSED = 302  # login_required's redirect to /accounts/login/
CACHE_KEY = ":1:django.contrib.sessions.cache{}"


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> Project:
    return Project(tmp_path / "proj", http_sink)


@pytest.fixture(scope="module")
def db_app(pg_server: PostgresServer) -> Iterator[DjangoApp]:
    app = start_django(pg_server.create_database(f"dj_kinds_{secrets.token_hex(3)}"), "db")
    yield app
    app.stop()


@pytest.fixture(scope="module")
def cache_app(pg_server: PostgresServer, redis_server: RedisServer) -> Iterator[DjangoApp]:
    app = start_django(pg_server.create_database(f"dj_wrong_{secrets.token_hex(3)}"), "cache",
                       redis_server.url)
    yield app
    app.stop()


@pytest.fixture
def own_redis(redis_server_factory: RedisFactory) -> Iterator[StoppableRedis]:
    server = StoppableRedis(redis_server_factory.start())
    yield server
    server.close()


def accounts(project: Project, app: DjangoApp, sessions: str = "db", redis_url: str = "",
             probes: str = "") -> None:
    store = f'redis = "{project.ref("redis.url", redis_url)}"\n' if redis_url else ""
    probes = probes or (f'probe_session_url = "{app.url}/account/"\n'
                        f'probe_token_url = "{app.url}/api/me/"\n')
    project.write(app.dsn, f'preset = "django"\n{probes}sessions = "{sessions}"\n{store}')


def account_row(app: DjangoApp, uid: str) -> tuple[bool, str, int]:
    """(is_active, password, DRF tokens) read with psycopg, not with breakglass."""
    with psycopg.connect(app.dsn) as conn:
        row = conn.execute("select is_active, password, (select count(*) from authtoken_token "
                           "where user_id = u.id) from auth_user u where id = %s",
                           [int(uid)]).fetchone()
    assert row is not None
    return bool(row[0]), str(row[1]), int(row[2])


def findings(stdout: str) -> dict[str, str]:
    return {f["subject"]: f["code"] for f in json.loads(stdout)["findings"]}


def test_redis_down_disables_first_exit_1_then_resume_revokes_the_sessions(
        pg_server: PostgresServer, own_redis: StoppableRedis, project: Project) -> None:
    app = start_django(pg_server.create_database(f"dj_down_{secrets.token_hex(3)}"), "cache",
                       own_redis.url)
    try:
        accounts(project, app, "cache", own_redis.url)
        uid, email, token = app.signup(token=True)
        cookie = app.login(email)
        assert app.whoami(cookie=cookie) == 200 and app.whoami(token=token) == 200
        own_redis.stop()

        r = project.run("lockout", email, "--reason", "phished", "--yes")
        assert r.returncode == 1, r.stdout + r.stderr
        (run_id,) = project.run_ids()
        assert "account disabled; sessions in Redis NOT revoked" in r.stdout
        assert f"breakglass runs.resume {run_id}" in r.stdout
        # Contained while Redis is down: disabled, unusable password, token gone and refused.
        active, password, tokens = account_row(app, uid)
        assert (active, password[:1], tokens) == (False, "!", 0)
        assert app.whoami(token=token) == REFUSED

        own_redis.start()
        keys = redis.Redis.from_url(own_redis.url)
        assert keys.exists(CACHE_KEY.format(cookie))  # honest: not revoked yet
        r = project.resume(run_id)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not keys.exists(CACHE_KEY.format(cookie))
        assert app.whoami(cookie=cookie) == REFUSED
        assert account_row(app, uid)[0] is False  # the resume did not undo the disable
    finally:
        app.stop()


def test_generic_preset_with_redis_down_is_contained_and_resumed(
        pg_server: PostgresServer, own_redis: StoppableRedis, project: Project) -> None:
    dsn = pg_server.create_database(f"generic_down_{secrets.token_hex(3)}")
    with contextmanager(serve)(GenericApp(dsn, own_redis.url)) as app:
        project.write(dsn, f'preset = "generic"\nprobe_session_url = "{app.url}/me"\n'
                           f'session_cookie = "sid"\n'
                           f'redis = "{project.ref("redis.url", own_redis.url)}"\n'
                           'session_set = "sessions:user:{id}"\nsession_key = "session:{sid}"\n'
                           f'{SQL_TOML}')
        uid, email, _ = app.add_user()
        sid = app.login(uid)
        own_redis.stop()
        r = project.run("lockout", email, "--reason", "phished", "--yes")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "account disabled; sessions in Redis NOT revoked" in r.stdout
        active, _, must_reset, tokens = app.row(uid)
        assert (active, must_reset, tokens) == (False, True, 0)
        own_redis.start()
        (run_id,) = project.run_ids()
        r = project.resume(run_id)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not redis.Redis.from_url(own_redis.url).exists(f"session:{sid}")
        assert httpx.get(f"{app.url}/me", headers={"Cookie": f"sid={sid}"}).status_code == 401


def test_undo_of_a_partial_lockout_leaves_the_account_disabled(
        pg_server: PostgresServer, own_redis: StoppableRedis, project: Project) -> None:
    app = start_django(pg_server.create_database(f"dj_undo_{secrets.token_hex(3)}"), "cache",
                       own_redis.url)
    try:
        accounts(project, app, "cache", own_redis.url)
        uid, email, token = app.signup(token=True)
        own_redis.stop()
        assert project.run("lockout", email, "--reason", "phished", "--yes").returncode == 1
        (run_id,) = project.run_ids()
        r = project.run("runs.undo", run_id, "--yes")
        assert "Traceback" not in r.stdout + r.stderr
        active, password, tokens = account_row(app, uid)
        assert (active, password[:1], tokens) == (False, "!", 0)
        assert app.whoami(token=token) == REFUSED
    finally:
        app.stop()


def test_sessions_in_redis_while_configured_db_is_exit_3_naming_the_store_never_proven(
        cache_app: DjangoApp, project: Project, redis_server: RedisServer) -> None:
    accounts(project, cache_app, "db")
    uid, email, _ = cache_app.signup()
    cookie = cache_app.login(email)
    ref = project.ref("stolen.cookie", cookie)
    r = project.run("lockout", email, "--reason", "phished", "--probe-cookie", ref, "--yes",
                    "--json")
    assert r.returncode == 3, r.stdout + r.stderr
    found = json.loads(r.stdout)["findings"]
    assert [f["code"] for f in found] == ["SESSION_STORE_MISMATCH"]
    assert 'django_session (sessions = "db")' in found[0]["message"]
    assert "SESSION_ENGINE cache" in found[0]["action"]
    keys = redis.Redis.from_url(redis_server.url)
    assert keys.exists(CACHE_KEY.format(cookie))  # it really is still there
    assert account_row(cache_app, uid)[0] is False  # and the account is contained all the same

    # Told where the sessions are, the same run finishes the job.
    (run_id,) = project.run_ids()
    accounts(project, cache_app, "cache", redis_server.url)
    r = project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not keys.exists(CACHE_KEY.format(cookie))
    assert project.leaks(cookie) == []


def test_without_a_probe_cookie_an_empty_configured_store_is_pointed_at_not_probe_url(
        cache_app: DjangoApp, project: Project) -> None:
    accounts(project, cache_app, "db")
    _, email, _ = cache_app.signup()
    cache_app.login(email)
    r = project.run("lockout", email, "--reason", "phished", "--yes", "--json")
    found = {f["subject"]: f for f in json.loads(r.stdout)["findings"]}
    note = found["session cookie"]
    assert note["code"] == "NOTHING_TO_PROBE"
    assert "it holds no live session of anyone — is SESSION_ENGINE cache" in note["message"]
    assert "probe_url" not in note["message"] + note["action"]


def test_each_credential_kind_is_proven_against_its_own_url(db_app: DjangoApp,
                                                            project: Project) -> None:
    accounts(project, db_app)
    _, email, token = db_app.signup(token=True)
    cookie = db_app.login(email)
    r = project.run("lockout", email, "--reason", "phished", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert findings(r.stdout) == {"session cookie": "SESSIONS_REFUSED",
                                  "API token": "TOKENS_REFUSED"}
    assert db_app.whoami(cookie=cookie) == REFUSED and db_app.whoami(token=token) == REFUSED


def test_people_read_which_kind_was_proven(db_app: DjangoApp, project: Project) -> None:
    accounts(project, db_app)
    _, email, _ = db_app.signup(token=True)
    db_app.login(email)
    r = project.run("lockout", email, "--reason", "phished", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line.strip() for line in r.stdout.splitlines()]
    for code, subject, proof in [("SESSIONS_REFUSED", "session cookie",
                                  "proven: 1 session cookie"),
                                 ("TOKENS_REFUSED", "API token", "proven: 1 API token")]:
        (at,) = [i for i, line in enumerate(lines)
                 if code in line.split() and line.endswith(subject)]
        assert lines[at + 1].startswith(proof), r.stdout
    (run_id,) = project.run_ids()
    report = (project.state / "reports" / f"{run_id}.md").read_text()
    assert "session cookie" in report and "API token" in report and "proven: 1" in report


def test_a_kind_without_a_probe_url_is_unproven_exit_3(db_app: DjangoApp,
                                                       project: Project) -> None:
    accounts(project, db_app, probes=f'probe_session_url = "{db_app.url}/account/"\n')
    uid, email, _ = db_app.signup(token=True)
    db_app.login(email)
    r = project.run("lockout", email, "--reason", "phished", "--yes", "--json")
    assert r.returncode == 3, r.stdout + r.stderr
    assert findings(r.stdout) == {"session cookie": "SESSIONS_REFUSED",
                                  "API token": "PROBE_NOT_CONFIGURED"}
    assert account_row(db_app, uid)[:1] == (False,)


def test_a_kind_the_user_does_not_have_is_said_not_replayed(db_app: DjangoApp,
                                                            project: Project) -> None:
    accounts(project, db_app)
    _, email, _ = db_app.signup()  # no token
    db_app.login(email)
    r = project.run("lockout", email, "--reason", "phished", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert findings(r.stdout) == {"session cookie": "SESSIONS_REFUSED",
                                  "API token": "NOTHING_TO_PROBE"}


def test_lockout_without_reason_is_exit_2_and_changes_nothing(db_app: DjangoApp,
                                                              project: Project) -> None:
    accounts(project, db_app)
    uid, email, _ = db_app.signup()
    r = project.run("lockout", email, "--yes")
    assert r.returncode == 2
    assert (r.stdout + r.stderr).strip().splitlines() == [
        "breakglass: lockout needs --reason, e.g. --reason 'phished, INC-142' (recorded in the "
        "journal, the report and the owners' notice)"]
    assert account_row(db_app, uid)[0] is True


@pytest.mark.parametrize(("setting", "error"), [
    ('probe_url = "private"', 'accounts.probe_url: must be a path starting with "/"'),
    ('probe_session_url = "account/"', 'accounts.probe_session_url: must be a path starting'),
    ('probe_token_url = "/api/me/"', "accounts.probe_token_url: a path needs [app] base_url"),
])
def test_a_probe_that_is_not_a_path_or_url_is_exit_2_at_config_check(
        db_app: DjangoApp, project: Project, setting: str, error: str) -> None:
    project.write(db_app.dsn, f'preset = "django"\n{setting}\n')
    r = project.run("config.check")
    assert r.returncode == 2, r.stdout + r.stderr
    assert error in r.stdout + r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("dsn_tail", "error"), [
    (":notaport/app", "databases.app.dsn: the port is not a number from 1 to 65535"),
    ("/app?sslmode=sometimes", "databases.app.dsn: sslmode must be one of"),
])
def test_a_malformed_dsn_is_exit_2_naming_the_key(project: Project, dsn_tail: str,
                                                  error: str) -> None:
    project.write(f"postgresql://app:s3cret-pw@127.0.0.1{dsn_tail}", 'preset = "django"\n')
    r = project.run("lockout", "x@example.com", "--reason", "test", "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert error in " ".join(r.stdout.split())
    assert "s3cret-pw" not in r.stdout + r.stderr


def test_a_rerun_on_a_locked_account_whose_proof_failed_is_unproven_naming_that_run(
        db_app: DjangoApp, project: Project) -> None:
    accounts(project, db_app, probes=f'probe_session_url = "{db_app.url}/nope/"\n')
    _, email, _ = db_app.signup()
    db_app.login(email)
    r = project.run("lockout", email, "--reason", "phished", "--yes", "--json")
    assert r.returncode == 3 and findings(r.stdout) == {"session cookie": "PROBE_FAILED",
                                                        "API token": "NOTHING_TO_PROBE"}
    (first,) = project.run_ids()
    accounts(project, db_app)
    r = project.run("lockout", email, "--reason", "again", "--yes", "--json")
    assert r.returncode == 3, r.stdout + r.stderr  # never "nothing to probe", exit 0
    (found,) = json.loads(r.stdout)["findings"]
    assert found["code"] == "PROOF_UNFINISHED" and first in found["message"]
    assert found["action"] == f"`breakglass runs.resume {first} --yes` finishes that proof"


def test_a_rerun_on_a_locked_account_whose_proof_passed_points_at_that_run(
        db_app: DjangoApp, project: Project) -> None:
    accounts(project, db_app)
    _, email, _ = db_app.signup()
    db_app.login(email)
    assert project.run("lockout", email, "--reason", "phished", "--yes").returncode == 0
    (first,) = project.run_ids()
    r = project.run("lockout", email, "--reason", "again", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    found = json.loads(r.stdout)["findings"]
    assert {f["code"] for f in found} == {"NOTHING_TO_PROBE"}
    assert all(f"lockout run {first} revoked them" in f["message"] for f in found)


@pytest.mark.parametrize("dsn", [
    "postgresql://app@db.internal/app", "postgresql://app@db:6432/app?sslmode=verify-full",
    "host=a,b port=5432,5433 dbname=app", "host=a,b port=,5433 dbname=app sslmode=disable"])
def test_well_formed_dsns_pass_the_port_and_sslmode_checks(dsn: str) -> None:
    from breakglass.connectors.postgres import parse_dsn

    assert parse_dsn(dsn, "databases.app.dsn")["dbname"] == "app"


def test_the_database_gone_mid_lockout_says_the_account_is_disabled_and_how_to_resume(
        db_app: DjangoApp, project: Project) -> None:
    accounts(project, db_app)
    uid, email, token = db_app.signup(token=True)
    project.kill_at("revoke_tokens.before_apply", "lockout", email, "--reason", "phished")
    (run_id,) = project.run_ids()
    assert account_row(db_app, uid)[0] is False  # contained before the database went away
    # The database goes away: the config's DSN points at a port nobody listens on.
    project.write(db_app.dsn.replace(f":{urlsplit(db_app.dsn).port}/", ":1/"),
                  'preset = "django"\n')
    r = project.resume(run_id)
    said = " ".join(r.stdout.split())
    assert r.returncode == 3, r.stdout + r.stderr
    assert "the account was disabled by this run before that" in said
    assert f"when it answers: `breakglass runs.resume {run_id} --yes`" in said
    accounts(project, db_app)
    r = project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert account_row(db_app, uid)[2] == 0 and db_app.whoami(token=token) == REFUSED


def test_undo_of_an_unlock_locks_the_account_again(db_app: DjangoApp,
                                                   project: Project) -> None:
    accounts(project, db_app)
    uid, email, _ = db_app.signup()
    assert project.run("lockout", email, "--reason", "phished", "--yes").returncode == 0
    project.kill_at("restore.after_apply", "unlock", email)
    run_id = project.run_ids()[-1]
    assert account_row(db_app, uid)[0] is True  # the unlock had restored it
    r = project.run("runs.undo", run_id, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    active, password, _ = account_row(db_app, uid)
    assert (active, password[:1]) == (False, "!")
    name = email.split("@")[0]
    assert httpx.post(f"{db_app.url}/login/",
                      data={"username": name, "password": f"pw-{name}"}).status_code == 403


def test_a_privilege_the_role_lacks_is_permission_refused_then_resumed(
        db_app: DjangoApp, project: Project) -> None:
    role, secret = f"bg_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with psycopg.connect(db_app.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login password {}").format(
            sql.Identifier(role), sql.Literal(secret)))
        conn.execute(sql.SQL("grant all on all tables in schema public to {}").format(
            sql.Identifier(role)))
        conn.execute(sql.SQL("revoke delete on authtoken_token from {}").format(
            sql.Identifier(role)))
    dsn = urlsplit(db_app.dsn)
    own = dsn._replace(netloc=f"{role}:{secret}@{dsn.hostname}:{dsn.port}").geturl()
    project.write(own, f'preset = "django"\nprobe_session_url = "{db_app.url}/account/"\n'
                       f'probe_token_url = "{db_app.url}/api/me/"\nsessions = "db"\n')
    uid, email, token = db_app.signup(token=True)
    r = project.run("lockout", email, "--reason", "phished", "--yes", "--json")
    assert r.returncode == 3, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    (found,) = [f for f in json.loads(r.stdout)["findings"] if f["subject"] == "revoke_tokens"]
    assert found["code"] == "PERMISSION_REFUSED"
    assert "permission denied for table authtoken_token" in found["message"]
    assert f"`breakglass runs.resume {run_id} --yes`" in found["action"]
    assert account_row(db_app, uid)[0] is False  # contained all the same
    with psycopg.connect(db_app.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("grant delete on authtoken_token to {}").format(
            sql.Identifier(role)))
    r = project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert account_row(db_app, uid)[2] == 0 and db_app.whoami(token=token) == REFUSED
    assert project.leaks(secret, token) == []
