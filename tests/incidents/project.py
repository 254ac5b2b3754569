"""A project folder for the incident tests, driven through the real CLI: alice owns
incident_response, and her channel is the HTTP sink under a path of the test's own (a real apprise
delivery whose requests the test picks out by that path). Attestations (`breakglass attest`) are
the runs that need no server."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cli_project import CliProject
from tests.servers.sinks import HttpSink

BASE = """\
[project]
name = "acme"
environment = "test"
state_dir = "state"

[owners]
incident_response = ["alice"]
release_signoff = ["alice"]
access_approvals = ["alice"]

[people.alice]
notify = ["{url}"]
"""


@dataclass
class IncidentProject(CliProject):
    sink: HttpSink
    #: the path of alice's channel on the sink: this test's notices only
    channel: str = field(default_factory=lambda: f"inc{secrets.token_hex(4)}")

    def write(self, extra: str = "") -> IncidentProject:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(BASE.format(url=f"{self.sink.apprise_url}{self.channel}") + extra)
        return self

    def open(self, title: str = "logins from an unknown country", severity: str = "sev2"
             ) -> str:
        r = self.run("incident.open", title, "--severity", severity, "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        incident_id: str = json.loads(r.stdout)["incident"]["id"]
        return incident_id

    def json(self, *args: str, code: int = 0) -> dict[str, Any]:
        r = self.run(*args, "--json")
        assert r.returncode == code, r.stdout + r.stderr
        doc: dict[str, Any] = json.loads(r.stdout)
        return doc

    def record(self, incident_id: str) -> Path:
        return self.state / "incidents" / f"{incident_id}.jsonl"

    def events(self, path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text().splitlines()]

    def run_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.state / "runs").glob("*.jsonl"))

    def notices(self) -> list[dict[str, Any]]:
        """The JSON documents alice's channel received, oldest first."""
        return [r.json() for r in self.sink.requests if r.path.strip("/") == self.channel]

    def files(self) -> dict[str, bytes]:
        """Every file of the state folder: what "nothing written" compares."""
        if not self.state.exists():
            return {}
        return {str(p.relative_to(self.state)): p.read_bytes()
                for p in sorted(self.state.rglob("*")) if p.is_file()}
