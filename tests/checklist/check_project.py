"""A project folder for `breakglass check` / `breakglass attest` tests, driven through the real CLI.

Owners: release_signoff and access_approvals -> alice, key_rotation -> bob; carol is a person
who owns nothing. Every notice goes to the HTTP sink (a real apprise delivery), so owners being
told is observable. The items used need no server: manual items (attestations) and config-only
checks (ops.runbook_docs)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tests.cli_project import CliProject

BASE = """\
[project]
name = "acme"
environment = "production"
state_dir = "state"

[owners]
release_signoff = ["alice"]
access_approvals = ["alice"]
key_rotation = ["bob"]

[people.alice]
notify = ["env:ALICE_NOTIFY"]
[people.bob]
notify = ["env:BOB_NOTIFY"]
[people.carol]
notify = ["env:BOB_NOTIFY"]
"""

RUN_ID = re.compile(r"\b(\d{8}T\d{12}-[0-9a-f]{4,})\b")


@dataclass
class CheckProject(CliProject):
    notify_url: str = ""
    command: ClassVar[tuple[str, ...]] = ("attest",)

    def write(self, extra: str = "") -> CheckProject:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(BASE + extra)
        return self

    def env(self, **more: str) -> dict[str, str]:
        return super().env(ALICE_NOTIFY=self.notify_url, BOB_NOTIFY=self.notify_url, **more)

    def attest(self, item: str, by: str = "alice", note: str = "reviewed settings.py",
               *more: str) -> Any:
        return self.run("attest", item, "--by", by, "--note", note, *more, "--yes")

    def check_json(self, *args: str) -> tuple[int, dict[str, Any]]:
        r = self.run("check", *args, "--json")
        assert r.stdout.strip(), r.stderr
        return r.returncode, json.loads(r.stdout)

    @property
    def attestations(self) -> Path:
        return self.state / "checklist" / "attestations.jsonl"

    def attestation_lines(self) -> list[dict[str, Any]]:
        if not self.attestations.exists():
            return []
        return [json.loads(line) for line in self.attestations.read_text().splitlines()]

    def everything_written(self) -> str:
        """Every output seen plus every file under the project (journals, reports, JUnit)."""
        files = [p.read_text(errors="replace") for p in self.root.rglob("*") if p.is_file()]
        return "\n".join([*self.outputs.values(), *files])


def verdicts(data: dict[str, Any]) -> dict[str, str]:
    return {i["id"]: i["verdict"] for i in data["items"]}


def run_id_in(text: str) -> str:
    m = RUN_ID.search(text)
    assert m, text
    return m.group(1)
