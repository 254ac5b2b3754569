"""An incident in the shared state (S3 on moto): opened on machine A, seen by machine B — B's
runs are tagged with it and B's notes join its record —, closed on A with the postmortem draft
stored in the bucket. What the bucket holds is read with boto3, never through breakglass."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tests.incidents.project import IncidentProject
from tests.incidents.test_incident_cli import attest
from tests.records.shared import make_bucket, objects, share
from tests.servers.moto import MotoServer
from tests.servers.sinks import HttpSink


def test_an_incident_opened_on_one_machine_tags_the_runs_of_another(
        tmp_path: Path, aws: MotoServer, http_sink: HttpSink) -> None:
    name = f"incidents-{secrets.token_hex(3)}"
    url = make_bucket(aws, name)
    a, b = (IncidentProject(tmp_path / m, sink=http_sink).write() for m in ("a", "b"))
    for m in (a, b):
        share(m.config, aws.endpoint_url, url)
    inc = a.open("leaked key in a public gist", "sev1")
    run_id = attest(b)
    assert b.events(b.state / "runs" / f"{run_id}.jsonl")[0]["data"]["incident"] == inc
    assert b.run("incident.note", "gist removed at 03:12").returncode == 0

    doc = a.json("incident.timeline")
    assert doc["runs"] == [run_id]
    assert "note: gist removed at 03:12" in [r["what"] for r in doc["timeline"]]

    closed = a.json("incident.close", "--summary", "key rotated, gist removed")
    assert closed["incident"]["closed"]
    bucket = objects(aws, name)
    record = [json.loads(line) for line in bucket[f"incidents/{inc}.jsonl"].splitlines()]
    assert [e["type"] for e in record if e["type"] != "delivery"] == [
        "incident_opened", "note", "incident_closed"]
    assert bucket[f"incidents/{inc}/postmortem.md"] == (
        a.state / "incidents" / inc / "postmortem.md").read_bytes()
    assert f"incidents/{inc}/postmortem.html" in bucket
    # B sees the close: a note is refused, nothing written
    r = b.run("incident.note", "too late")
    assert r.returncode == 2 and "no open incident" in r.stderr, r.stderr
    assert objects(aws, name)[f"incidents/{inc}.jsonl"] == bucket[f"incidents/{inc}.jsonl"]


def test_an_incident_opened_with_local_state_is_shared_by_state_push(
        tmp_path: Path, aws: MotoServer, http_sink: HttpSink) -> None:
    name = f"incidents-{secrets.token_hex(3)}"
    url = make_bucket(aws, name)
    a, b = (IncidentProject(tmp_path / m, sink=http_sink).write() for m in ("a", "b"))
    for m in (a, b):
        share(m.config, aws.endpoint_url, url)
    r = a.run("incident.open", "S3 is down too", "--severity", "sev2", "--local-state", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    inc = json.loads(r.stdout)["incident"]["id"]
    assert a.run("incident.note", "working from the laptop", "--local-state").returncode == 0
    assert not [k for k in objects(aws, name) if k.startswith("incidents/")]
    r = a.run("state.push")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 incident record(s)" in r.stdout
    assert objects(aws, name)[f"incidents/{inc}.jsonl"] == a.record(inc).read_bytes()
    # B sees it open and adds to it through the bucket
    assert b.run("incident.note", "S3 is back").returncode == 0
    notes = [n["text"] for n in a.json("incident.timeline")["incident"]["notes"]]
    assert notes == ["working from the laptop", "S3 is back"]
