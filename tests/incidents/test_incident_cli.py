"""`breakglass incident.open / note / timeline / close` through the real CLI, with attestations
(`breakglass attest`, a real mutating run that needs no server) as the runs in between: the
owners of incident_response told, every run and notice tagged while the incident is open and
not after, the timeline read back from the journals in order with UTC and local time, and the
postmortem draft with the evidence of each change."""

from __future__ import annotations

import hashlib
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.incidents.project import IncidentProject
from tests.servers.sinks import HttpSink


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> IncidentProject:
    return IncidentProject(tmp_path / "p", sink=http_sink).write()


def attest(project: IncidentProject) -> str:
    """One attestation run; returns its run id."""
    before = set(project.run_ids())
    r = project.run("attest", "auth.csrf", "--by", "alice", "--note", "middleware on", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = set(project.run_ids()) - before
    return run_id


def test_open_tells_the_owners_of_incident_response_with_the_id(
        project: IncidentProject) -> None:
    inc = project.open("logins from brazil", "sev1")
    (notice,) = project.notices()
    assert notice["event"] == "incident" and notice["incident"] == inc
    assert notice["title"] == f"[{inc}] Incident opened (sev1): logins from brazil (acme, test)"
    # the delivery is part of the incident's record
    deliveries = [e for e in project.events(project.record(inc)) if e["type"] == "delivery"]
    assert [(d["data"]["person"], d["data"]["ok"]) for d in deliveries] == [("alice", True)]


def test_every_run_and_its_notices_carry_the_open_incident(project: IncidentProject) -> None:
    inc = project.open()
    run_id = attest(project)
    started = project.events(project.state / "runs" / f"{run_id}.jsonl")[0]
    assert started["type"] == "run_started"
    assert started["data"]["incident"] == inc and started["data"]["by"]
    notices = [n for n in project.notices() if n["run_id"] == run_id]
    assert {n["event"] for n in notices} == {"start", "success"}
    assert all(n["incident"] == inc and n["title"].startswith(f"[{inc}] ") for n in notices)


def test_a_run_after_the_close_is_not_tagged(project: IncidentProject) -> None:
    project.open()
    assert project.run("incident.close", "--summary", "false alarm").returncode == 0
    run_id = attest(project)
    started = project.events(project.state / "runs" / f"{run_id}.jsonl")[0]
    assert "incident" not in started["data"]
    assert all(n["incident"] is None for n in project.notices() if n["run_id"] == run_id)


def test_the_timeline_tells_the_story_in_order_from_the_journals(
        project: IncidentProject) -> None:
    inc = project.open("logins from brazil", "sev2")
    assert project.run("incident.note", "40 logins from one address").returncode == 0
    run_id = attest(project)
    doc = project.json("incident.timeline")
    rows = doc["timeline"]
    assert doc["intact"] and doc["runs"] == [run_id]
    assert [r["at"] for r in rows] == sorted(rows_at := [r["at"] for r in rows]) and rows_at
    whats = [r["what"] for r in rows]
    assert whats[0] == f"opened incident {inc}: logins from brazil (sev2)"
    assert whats.index("note: 40 logins from one address") < whats.index(
        "attest on checklist.auth.csrf started")
    ended = next(r for r in rows if r["what"] == "attest on checklist.auth.csrf ended")
    assert ended["result"] == "succeeded (exit 0)" and ended["run_id"] == run_id
    # each row of the run is an event of its journal, at the journal's time
    journal = {(e["ts"]) for e in project.events(project.state / "runs" / f"{run_id}.jsonl")}
    assert {r["at"] for r in rows if r["run_id"] == run_id} <= journal
    assert any(r["result"] == "changed" and r["run_id"] == run_id for r in rows)


def test_the_timeline_gives_utc_and_local_time(project: IncidentProject) -> None:
    project.open()
    env = project.env(TZ="Asia/Kolkata")  # UTC+05:30, no daylight saving
    doc = project.json("incident.timeline")
    r = project.run("incident.timeline", "--json", env=env)
    local = project.run("incident.timeline", "--format", "plain", env=env).stdout
    import json

    for row, there in zip(doc["timeline"], json.loads(r.stdout)["timeline"], strict=True):
        at = datetime.fromisoformat(row["at"])
        want = (at + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S IST")
        assert there["local"] == want
        assert f"{at:%Y-%m-%d %H:%M:%S}  {want}" in local


def test_close_writes_the_postmortem_draft_with_the_evidence_of_each_change(
        project: IncidentProject) -> None:
    inc = project.open()
    run_id = attest(project)
    doc = project.json("incident.close", "--summary", "csrf reviewed after the report")
    paths = {k: Path(v) for k, v in doc["postmortem"]["paths"].items()}
    assert paths == {fmt: project.state / "incidents" / inc / f"postmortem.{fmt}"
                     for fmt in ("md", "html")}
    for p in paths.values():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    final = next(e for e in project.events(project.state / "runs" / f"{run_id}.jsonl")
                 if e["type"] == "run_finished")["hash"]
    md = paths["md"].read_text()
    assert "csrf reviewed after the report" in md
    assert f"breakglass runs.verify {run_id} --anchor {final}" in md
    assert "`auth.csrf` (" in md and "): attested" in md
    assert "time to containment: not reached" in md  # an attestation contains nothing
    html = paths["html"].read_text()
    assert f"breakglass runs.verify {run_id} --anchor {final}" in html
    assert "<script" not in html
    # the close is in the record, with the digest of the draft it wrote
    closed = project.events(project.record(inc))
    (event,) = [e for e in closed if e["type"] == "incident_closed"]
    assert event["data"]["postmortem"]["md_sha256"] == hashlib.sha256(
        paths["md"].read_bytes()).hexdigest()
    assert doc["incident"]["closed"] == event["ts"]
    closing = [n for n in project.notices() if n["event"] == "incident"][-1]
    assert closing["title"].startswith(f"[{inc}] Incident closed: ")
