"""The incident's record is a hash-chained journal like a run's: an edit to it, or to the journal
of a run tagged with it, makes `incident.timeline` say TAMPERED and exit 1 (the story is still
shown: a person needs it during the incident, marked as a claim); a note or a close is refused,
exit 1, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.incidents.project import IncidentProject
from tests.incidents.test_incident_cli import attest
from tests.servers.sinks import HttpSink


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> IncidentProject:
    return IncidentProject(tmp_path / "p", sink=http_sink).write()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_an_edited_incident_record_is_tampered_exit_1(project: IncidentProject) -> None:
    inc = project.open()
    assert project.run("incident.note", "the attacker used 1.2.3.4").returncode == 0
    edit(project.record(inc), "1.2.3.4", "5.6.7.8")
    r = project.run("incident.timeline")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"TAMPERED: incident record {project.record(inc)}: line 3: " in r.stdout
    doc = project.json("incident.timeline", code=1)
    assert doc["intact"] is False and doc["incident"]["intact"] is False
    before = project.files()
    for args in (["incident.note", "more"], ["incident.close", "--summary", "done"]):
        r = project.run(*args)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "does not verify" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert project.files() == before


def test_an_edited_run_journal_of_the_incident_is_tampered_exit_1(
        project: IncidentProject) -> None:
    project.open()
    run_id = attest(project)
    edit(project.state / "runs" / f"{run_id}.jsonl", '"middleware on"', '"middleware off"')
    r = project.run("incident.timeline")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"TAMPERED: run {run_id}: " in r.stdout
    assert f"`breakglass runs.verify {run_id}`" in r.stdout
