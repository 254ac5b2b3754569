"""`attest auth.csrf --by alice --note …`: one line appended to the attestations file.

Faults: SIGKILL before the line is written, after it is written, after it is verified. The end
state is read from the file itself: exactly one line of this run, naming the item and the
person. Canary: the owners' notify URL (an `env:` secret), which must appear nowhere.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import ClassVar

from bench._faults.scenario import Fault, Scenario, register, status_of
from tests.checklist.check_project import CheckProject
from tests.cli_project import CliProject

POINTS = ("before_apply", "after_apply", "after_verify")


class _Project(CheckProject):
    command: ClassVar[tuple[str, ...]] = ("attest",)


@register
class AttestScenario(Scenario):
    runbook = "attest"

    def setup(self, work: Path) -> CliProject:
        # Port 9 (discard) on loopback: the notice fails, and its URL is the canary.
        url = f"json://127.0.0.1:9/canary-{secrets.token_hex(8)}/"
        return _Project(work, notify_url=url).write()

    def args(self) -> tuple[str, ...]:
        return ("auth.csrf", "--by", "alice", "--note", "CsrfViewMiddleware on; forms checked")

    @classmethod
    def faults(cls, quick: bool) -> list[Fault]:
        points = ("before_apply", "after_apply") if quick else POINTS
        return [Fault("sigkill", f"attest.{p}") for p in points]

    def check(self, proj: CliProject, run_id: str) -> str | None:
        if (status := status_of(proj, run_id)) != "succeeded":
            return f"the run ended {status!r}"
        path = proj.state / "checklist" / "attestations.jsonl"
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        mine = [x for x in lines if x.get("run_id") == run_id]
        if len(mine) != 1 or mine[0].get("item") != "auth.csrf" or mine[0].get("by") != "alice":
            return f"{len(mine)} attestation line(s) of this run: {mine}"
        return None

    def canaries(self, proj: CliProject) -> list[str]:
        assert isinstance(proj, CheckProject)
        return [proj.notify_url.split("/")[3]]
