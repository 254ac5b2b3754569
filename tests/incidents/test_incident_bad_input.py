"""Bad input to the incident commands: one line naming what is wrong and what to do, exit 2, no
traceback, and nothing written (every file of the state folder byte for byte as before)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.incidents.project import IncidentProject
from tests.servers.sinks import HttpSink


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> IncidentProject:
    return IncidentProject(tmp_path / "p", sink=http_sink).write()


def nothing(project: IncidentProject) -> str:
    return ""


def one_open(project: IncidentProject) -> str:
    return project.open()


def one_closed(project: IncidentProject) -> str:
    inc = project.open()
    assert project.run("incident.close", "--summary", "done").returncode == 0
    return inc


CASES: list[tuple[str, Callable[[IncidentProject], str], list[str], str]] = [
    ("note, nothing open", nothing, ["incident.note", "something"], "no open incident"),
    ("close, nothing open", nothing, ["incident.close", "--summary", "x"], "no open incident"),
    ("timeline, nothing open", nothing, ["incident.timeline"], "no open incident"),
    ("note, only a closed one", one_closed, ["incident.note", "late"], "no open incident"),
    ("note to a closed one by id", one_closed, ["incident.note", "late", "--id", "{id}"],
     "is closed"),
    ("close a closed one by id", one_closed, ["incident.close", "--summary", "x", "--id",
                                              "{id}"], "is closed"),
    ("unknown id", one_open, ["incident.note", "x", "--id", "INC-20200101-0000-abcd"],
     "no incident INC-20200101-0000-abcd"),
    ("malformed id", one_open, ["incident.timeline", "--id", "../runs/x"],
     "is not an incident id"),
    ("empty title", nothing, ["incident.open", "  ", "--severity", "sev2"],
     "give the incident a title"),
    ("bad severity", nothing, ["incident.open", "db down", "--severity", "sev5"],
     "--severity 'sev5' is not one of sev1..sev4"),
    ("no severity", nothing, ["incident.open", "db down"], "give --severity"),
    ("a second open", one_open, ["incident.open", "another", "--severity", "sev3"],
     "is open"),
    ("empty note", one_open, ["incident.note", " "], "the note is empty"),
    ("empty summary", one_open, ["incident.close"], "the summary is empty"),
]


@pytest.mark.parametrize(("given", "args", "says"), [(c[1], c[2], c[3]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(
        project: IncidentProject, given: Callable[[IncidentProject], str], args: list[str],
        says: str) -> None:
    inc = given(project)
    before = project.files()
    r = project.run(*[a.replace("{id}", inc) for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert project.files() == before
