"""An incident with a real containment run: `breakglass lockout` of an account of the generic
app (real PostgreSQL and Redis, tests/lockout/generic_app.py) while the incident is open. The
lockout's notices reach the HTTP sink tagged with the incident, the timeline reads its journal,
and the postmortem's time to containment is the journals' own: from the incident_opened event to
the lockout's run_finished event."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.incidents.project import IncidentProject
from tests.lockout.generic_app import SQL_TOML, GenericApp, serve
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.sinks import HttpSink


@pytest.fixture(scope="module")
def gapp(pg_server: PostgresServer, redis_server: RedisServer) -> Iterator[GenericApp]:
    dsn = pg_server.create_database(f"incident_{secrets.token_hex(3)}")
    yield from serve(GenericApp(dsn, redis_server.url))


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink, gapp: GenericApp) -> IncidentProject:
    proj = IncidentProject(tmp_path / "p", sink=http_sink)
    proj.root.mkdir(parents=True)
    refs = {}
    for name, value in (("app.dsn", gapp.dsn), ("redis.url", gapp.redis_url)):
        (proj.root / name).write_text(value)
        (proj.root / name).chmod(0o600)
        refs[name] = f"file:{proj.root / name}"
    return proj.write(
        f'\n[databases.app]\ndsn = "{refs["app.dsn"]}"\n\n[accounts]\ndatabase = "app"\n'
        f'preset = "generic"\nprobe_url = "{gapp.url}/me"\nsession_cookie = "sid"\n'
        f'redis = "{refs["redis.url"]}"\nsession_set = "sessions:user:{{id}}"\n'
        f'session_key = "session:{{sid}}"\n{SQL_TOML}')


def test_a_lockout_during_the_incident_is_its_containment(
        project: IncidentProject, gapp: GenericApp) -> None:
    inc = project.open("account takeover of a customer", "sev1")
    uid, email, _ = gapp.add_user()
    sid = gapp.login(uid)
    r = project.run("lockout", email, "--reason", "stolen session", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert httpx.get(f"{gapp.url}/me", headers={"Cookie": f"sid={sid}"}).status_code == 401
    (run_id,) = project.run_ids()
    assert project.run("incident.note", "customer confirmed the takeover").returncode == 0

    # the lockout's notices, as the sink received them, carry the incident
    notices = [n for n in project.notices() if n["run_id"] == run_id]
    assert {n["event"] for n in notices} >= {"start", "success"}
    assert all(n["incident"] == inc and n["title"].startswith(f"[{inc}] ") for n in notices)

    # the timeline is read from the lockout's journal
    rows = project.json("incident.timeline")["timeline"]
    mine = [r for r in rows if r["run_id"] == run_id]
    assert mine[0]["what"] == f"lockout on user {email} started"
    assert any(r["what"].startswith("disable") and r["result"] == "changed" for r in mine), mine
    assert [r["result"] for r in mine if r["what"].endswith(" ended")] == ["succeeded (exit 0)"]

    doc = project.json("incident.close", "--summary", "session stolen; account locked")
    opened = next(e for e in project.events(project.record(inc))
                  if e["type"] == "incident_opened")["ts"]
    finished = next(e for e in project.events(project.state / "runs" / f"{run_id}.jsonl")
                    if e["type"] == "run_finished")
    ttc = doc["postmortem"]["containment"]
    assert (ttc["from"], ttc["to"], ttc["run_id"]) == (opened, finished["ts"], run_id)
    want = (datetime.fromisoformat(finished["ts"]) - datetime.fromisoformat(opened))
    assert ttc["seconds"] == round(want.total_seconds(), 3)
    assert doc["postmortem"]["followups"] == []
    md = (project.state / "incidents" / inc / "postmortem.md").read_text()
    assert f"### lockout on user {email}: succeeded" in md
    assert f"breakglass runs.verify {run_id} --anchor {finished['hash']}" in md
    assert "sent to alice via json://" in md
