"""Lockout prior-state snapshots in the shared state: sealed with age to [project]
state_recipients before they leave the machine, opened on another machine with [project]
state_identity (unlock), refused without recipients before anything changes. The generic
lockout app (tests/lockout/generic_app.py): real PostgreSQL and Redis; boto3 reads the bucket."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyrage
import pytest

from tests.lockout.generic_app import SQL_TOML, GenericApp, serve
from tests.lockout.project import Project
from tests.records.shared import make_bucket, objects, share
from tests.servers.moto import MotoServer
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.sinks import HttpSink


@pytest.fixture(scope="module")
def gapp(pg_server: PostgresServer, redis_server: RedisServer) -> Iterator[GenericApp]:
    dsn = pg_server.create_database(f"records_{secrets.token_hex(3)}")
    yield from serve(GenericApp(dsn, redis_server.url))


@pytest.fixture
def key() -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.generate()


def machine(root: Path, sink: HttpSink, app: GenericApp, aws: MotoServer, url: str | None,
            *project_lines: str) -> Project:
    proj = Project(root, sink)
    proj.write(app.dsn, f'preset = "generic"\nprobe_url = "{app.url}/me"\n'
                        f'session_cookie = "sid"\n'
                        f'redis = "{proj.ref("redis.url", app.redis_url)}"\n'
                        'session_set = "sessions:user:{id}"\nsession_key = "session:{sid}"\n'
                        f"{SQL_TOML}")
    if url is not None:
        share(proj.config, aws.endpoint_url, url, *project_lines)
    return proj


def snapshot_objects(aws: MotoServer) -> dict[str, bytes]:
    return {k: v for k, v in objects(aws).items() if k.startswith("lockout/")}


def test_lockout_on_a_unlock_on_b_through_a_sealed_snapshot(
        tmp_path: Path, gapp: GenericApp, aws: MotoServer, http_sink: HttpSink,
        key: pyrage.x25519.Identity) -> None:
    url = make_bucket(aws)
    recipients = f'state_recipients = ["{key.to_public()}"]'
    a = machine(tmp_path / "a", http_sink, gapp, aws, url, recipients)
    b = machine(tmp_path / "b", http_sink, gapp, aws, url, recipients)
    share(b.config, aws.endpoint_url, url, f'state_identity = "{b.ref("state.key", str(key))}"')
    uid, email, pw = gapp.add_user()
    r = a.run("lockout", email, "--reason", "stolen laptop", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert gapp.row(uid)[0] is False
    # The bucket holds the snapshot sealed: age's header, and nowhere the password hash.
    (sealed,) = snapshot_objects(aws).values()
    assert sealed.startswith(b"age-encryption.org/v1")
    assert not [k for k, body in objects(aws).items() if pw.encode() in body]
    assert not (b.state / "lockout").exists()
    r = b.run("unlock", uid, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert gapp.row(uid)[:3] == (True, pw, False)
    # B's cache of the snapshot is private, like the file machine A wrote
    (cached,) = (b.state / "lockout").glob("*.json")
    assert cached.stat().st_mode & 0o777 == 0o600
    assert pw in cached.read_text()


def test_unlock_on_b_without_state_identity_refuses_and_changes_nothing(
        tmp_path: Path, gapp: GenericApp, aws: MotoServer, http_sink: HttpSink,
        key: pyrage.x25519.Identity) -> None:
    url = make_bucket(aws)
    recipients = f'state_recipients = ["{key.to_public()}"]'
    a = machine(tmp_path / "a", http_sink, gapp, aws, url, recipients)
    b = machine(tmp_path / "b", http_sink, gapp, aws, url, recipients)
    uid, email, _ = gapp.add_user()
    assert a.run("lockout", email, "--reason", "test", "--yes").returncode == 0
    r = b.run("unlock", uid, "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "state_identity" in r.stdout + r.stderr
    assert gapp.row(uid)[0] is False


def test_an_edited_sealed_snapshot_is_refused_by_its_journaled_digest(
        tmp_path: Path, gapp: GenericApp, aws: MotoServer, http_sink: HttpSink,
        key: pyrage.x25519.Identity) -> None:
    url = make_bucket(aws)
    recipients = f'state_recipients = ["{key.to_public()}"]'
    a = machine(tmp_path / "a", http_sink, gapp, aws, url, recipients)
    b = machine(tmp_path / "b", http_sink, gapp, aws, url, recipients)
    share(b.config, aws.endpoint_url, url, f'state_identity = "{b.ref("state.key", str(key))}"')
    uid, email, pw = gapp.add_user()
    assert a.run("lockout", email, "--reason", "test", "--yes").returncode == 0
    # Someone with the public key re-seals a snapshot of their choosing (a hash they know).
    (name, sealed) = next(iter(snapshot_objects(aws).items()))
    plain = pyrage.decrypt(sealed, [key]).replace(pw.encode(), b"pbkdf2:attacker-chosen")
    aws.client("s3").put_object(Bucket="team-state", Key=f"team/{name}",
                                Body=pyrage.encrypt(plain, [key.to_public()]))
    r = b.run("unlock", uid, "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not match the digest" in r.stdout + r.stderr
    with psycopg.connect(gapp.dsn) as conn:  # the account stays locked
        row = conn.execute("select active from users where id = %s", [int(uid)]).fetchone()
    assert row == (False,)


def test_lockout_on_a_shared_state_without_recipients_is_refused_before_any_change(
        tmp_path: Path, gapp: GenericApp, aws: MotoServer, http_sink: HttpSink) -> None:
    a = machine(tmp_path / "a", http_sink, gapp, aws, make_bucket(aws))
    uid, email, pw = gapp.add_user()
    sid = gapp.login(uid)
    r = a.run("lockout", email, "--reason", "test", "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "state_recipients" in line and "--local-state" in line
    assert gapp.row(uid)[:3] == (True, pw, False)  # nothing changed
    assert gapp.r.sismember(f"sessions:user:{uid}", sid)
    assert not [k for k in objects(aws) if k.startswith(("runs/", "lockout/"))]


def test_local_state_lockout_is_the_emergency_escape_and_state_push_seals_it(
        tmp_path: Path, gapp: GenericApp, aws: MotoServer, http_sink: HttpSink,
        key: pyrage.x25519.Identity) -> None:
    url = make_bucket(aws)
    a = machine(tmp_path / "a", http_sink, gapp, aws, url)
    uid, email, pw = gapp.add_user()
    r = a.run("lockout", email, "--reason", "test", "--yes", "--local-state")
    assert r.returncode == 0, r.stdout + r.stderr
    assert gapp.row(uid)[0] is False and not snapshot_objects(aws)
    # Without recipients the snapshot is not pushed (the run is), and it says why.
    pushed = a.run("state.push")
    assert pushed.returncode == 1 and "state_recipients" in pushed.stdout
    assert not snapshot_objects(aws)
    share(a.config, aws.endpoint_url, url, f'state_recipients = ["{key.to_public()}"]')
    assert a.run("state.push").returncode == 0
    (sealed,) = snapshot_objects(aws).values()
    assert sealed.startswith(b"age-encryption.org/v1") and pw.encode() not in sealed
    b = machine(tmp_path / "b", http_sink, gapp, aws, url,
                f'state_recipients = ["{key.to_public()}"]')
    share(b.config, aws.endpoint_url, url, f'state_identity = "{b.ref("state.key", str(key))}"')
    r = b.run("unlock", uid, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert gapp.row(uid)[:3] == (True, pw, False)
