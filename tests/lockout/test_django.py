"""`breakglass lockout USER` / `unlock USER` against a real Django project (tests/lockout/
djapp.py) on the pg_server PostgreSQL, with database sessions and with Redis cache sessions: a
logged-in client's cookie and a DRF token work before and are refused after, through the real
CLI in a subprocess."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import redis

from tests.lockout.project import DjangoApp, Project, start_django
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.sinks import HttpSink

REFUSED = 302  # login_required's redirect to /accounts/login/


@pytest.fixture(scope="module")
def db_app(pg_server: PostgresServer) -> Iterator[DjangoApp]:
    app = start_django(pg_server.create_database(f"dj_db_{secrets.token_hex(3)}"), "db")
    yield app
    app.stop()


@pytest.fixture(scope="module")
def cache_app(pg_server: PostgresServer, redis_server: RedisServer) -> Iterator[DjangoApp]:
    app = start_django(pg_server.create_database(f"dj_cache_{secrets.token_hex(3)}"), "cache",
                       redis_server.url)
    yield app
    app.stop()


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> Project:
    return Project(tmp_path / "proj", http_sink)


def configure(project: Project, app: DjangoApp, sessions: str = "db",
              redis_url: str = "") -> None:
    redis = f'redis = "{project.ref("redis.url", redis_url)}"\n' if redis_url else ""
    project.write(app.dsn, f'preset = "django"\nprobe_url = "{app.url}/whoami/"\n'
                           f'sessions = "{sessions}"\n{redis}')


def user_row(app: DjangoApp, uid: str) -> tuple[bool, str]:
    with psycopg.connect(app.dsn) as conn:
        row = conn.execute("select is_active, password from auth_user where id = %s",
                           [int(uid)]).fetchone()
    assert row is not None
    return bool(row[0]), str(row[1])


def test_db_session_cookie_and_drf_token_work_before_and_are_refused_after(
        db_app: DjangoApp, project: Project) -> None:
    configure(project, db_app)
    uid, email, token = db_app.signup(token=True)
    cookie = db_app.login(email)
    assert db_app.whoami(cookie=cookie) == 200 and db_app.whoami(token=token) == 200
    r = project.run("lockout", email, "--reason", "phished", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert db_app.whoami(cookie=cookie) == REFUSED
    assert db_app.whoami(token=token) == REFUSED
    # Refused because revoked, not only because the user is inactive (Django checks both):
    with psycopg.connect(db_app.dsn) as conn:
        assert conn.execute("select count(*) from django_session where session_key = %s",
                            [cookie]).fetchone() == (0,)
        assert conn.execute("select count(*) from authtoken_token where user_id = %s",
                            [int(uid)]).fetchone() == (0,)
    active, password = user_row(db_app, uid)
    assert not active and password.startswith("!") and len(password) == 41


def test_cache_session_in_redis_is_refused_after(cache_app: DjangoApp, project: Project,
                                                 redis_server: RedisServer) -> None:
    configure(project, cache_app, "cache", redis_server.url)
    uid, email, _ = cache_app.signup()
    _, other_email, _ = cache_app.signup()
    cookie, other = cache_app.login(email), cache_app.login(other_email)
    assert cache_app.whoami(cookie=cookie) == 200
    r = project.run("lockout", uid, "--reason", "test", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert cache_app.whoami(cookie=cookie) == REFUSED
    keys = redis.Redis.from_url(redis_server.url)
    assert not keys.exists(f":1:django.contrib.sessions.cache{cookie}")
    assert keys.exists(f":1:django.contrib.sessions.cache{other}")
    assert cache_app.whoami(cookie=other) == 200  # only the locked-out user's sessions go


def test_dry_run_shows_the_plan_and_changes_nothing(db_app: DjangoApp,
                                                    project: Project) -> None:
    configure(project, db_app)
    uid, email, _ = db_app.signup()
    cookie = db_app.login(email)
    r = project.run("lockout", email, "--reason", "test", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "delete 1 session(s)" in r.stdout and "unusable password" in r.stdout
    assert db_app.whoami(cookie=cookie) == 200 and user_row(db_app, uid)[0]


def test_unknown_user_is_exit_2_with_one_clear_line(db_app: DjangoApp,
                                                    project: Project) -> None:
    configure(project, db_app)
    r = project.run("lockout", "nobody@example.com", "--reason", "test", "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no user 'nobody@example.com'" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    # A refusal changed nothing: resuming would be refused the same way (docs/runs.md).
    assert "runs.resume" not in r.stdout + r.stderr


def test_last_active_admin_is_refused_without_force(pg_server: PostgresServer,
                                                    project: Project) -> None:
    # Its own database: the only admin there is this one.
    app = start_django(pg_server.create_database(f"dj_admin_{secrets.token_hex(3)}"), "db")
    try:
        configure(project, app)
        uid, email, _ = app.signup(admin=True)
        r = project.run("lockout", email, "--reason", "test", "--yes")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "last active admin" in r.stdout + r.stderr
        assert "runs.resume" not in r.stdout + r.stderr  # --force is a new command
        assert user_row(app, uid)[0]
        r = project.run("lockout", email, "--reason", "test", "--force", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not user_row(app, uid)[0]
    finally:
        app.stop()


def test_unlock_restores_the_prior_state_but_not_the_sessions(db_app: DjangoApp,
                                                               project: Project) -> None:
    configure(project, db_app)
    uid, email, _ = db_app.signup()
    cookie = db_app.login(email)
    before = user_row(db_app, uid)
    assert project.run("lockout", email, "--reason", "test", "--yes").returncode == 0
    r = project.run("unlock", email, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert user_row(db_app, uid) == before
    assert db_app.whoami(cookie=cookie) == REFUSED
    assert db_app.whoami(cookie=db_app.login(email)) == 200  # the old password works again


def test_unlock_of_a_user_never_locked_out_is_exit_2(db_app: DjangoApp,
                                                     project: Project) -> None:
    configure(project, db_app)
    _, email, _ = db_app.signup()
    r = project.run("unlock", email, "--yes")
    assert r.returncode == 2 and "nothing to restore" in r.stdout + r.stderr


@pytest.mark.parametrize("point", ["snapshot.after_apply", "disable.after_apply",
                                   "revoke_sessions.before_apply", "force_reset.after_apply"])
def test_killed_at_a_step_boundary_is_finished_by_resume(db_app: DjangoApp, project: Project,
                                                         point: str) -> None:
    configure(project, db_app)
    uid, email, _ = db_app.signup()
    cookie = db_app.login(email)
    project.kill_at(point, "lockout", email, "--reason", "test")
    (run_id,) = project.run_ids()
    r = project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert db_app.whoami(cookie=cookie) == REFUSED
    active, password = user_row(db_app, uid)
    assert not active and password.startswith("!")
    # unlock still finds the state before the lockout, digest and all
    assert project.run("unlock", email, "--yes").returncode == 0
    assert user_row(db_app, uid)[0]


def test_owners_are_told_and_no_session_token_or_hash_reaches_any_output(
        db_app: DjangoApp, project: Project, http_sink: HttpSink) -> None:
    configure(project, db_app)
    uid, email, token = db_app.signup(token=True)
    cookie = db_app.login(email)
    password_hash = user_row(db_app, uid)[1]
    project.run("lockout", email, "--reason", "test", "--dry-run")
    assert project.run("lockout", email, "--reason", "stolen laptop", "--yes",
                       "--json").returncode == 0
    assert project.run("unlock", email, "--yes").returncode == 0
    (run_id, _) = project.run_ids()[-2:]
    project.run("runs.show", run_id)
    notices = [r for r in http_sink.requests if r.path.endswith("/lockout")]
    assert any(b"lockout" in r.decoded and b"succeeded" in r.decoded for r in notices)
    assert project.leaks(cookie, token, password_hash) == []


def test_the_start_notice_leaves_only_once_the_account_is_disabled(
        db_app: DjangoApp, project: Project, http_sink: HttpSink) -> None:
    # Containment first (DESIGN principle 9): the owners' "started" notice is sent in the
    # background after the disable step, so a channel can never hold the containment up.
    configure(project, db_app)
    _, email, _ = db_app.signup()
    r = project.run("lockout", email, "--reason", "phished", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    disabled = next(datetime.fromisoformat(e["ts"]).timestamp()
                    for e in project.events(run_id)
                    if e["type"] == "step_done" and e["data"]["step"] == "disable")
    (start,) = [q for q in http_sink.requests
                if q.path.endswith("/lockout") and run_id.encode() in q.body
                and q.json()["event"] == "start"]
    assert start.at >= disabled
    assert [e["data"]["event"] for e in project.events(run_id) if e["type"] == "delivery"] == [
        "start", "success"]
