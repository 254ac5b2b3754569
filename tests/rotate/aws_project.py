"""A project folder for `breakglass rotate` against moto, driven through the real CLI in a
subprocess (SIGKILL and all), plus the checks every rotation test makes: which IAM keys exist,
which values are where, and that no value reached any output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli_project import CliProject
from tests.servers.moto import AwsKey, MotoServer
from tests.servers.sinks import HttpSink


@dataclass
class RotateProject(CliProject):
    root: Path
    command = ("rotate",)  # what kill_at runs
    moto: MotoServer
    key: AwsKey | None = None  # the credentials breakglass itself uses (admin on aws_auth)
    notify_url: str = ""
    #: more of [aws], kept by every write (`service_endpoints`: the CloudTrail fake)
    aws_more: str = ""

    def write(self, secrets: str, extra: str = "") -> None:
        owners = ""
        if self.notify_url:
            owners = ('[owners]\nkey_rotation = ["alice"]\nincident_response = ["bob"]\n\n'
                      f'[people.alice]\nnotify = ["{self.notify_url}alice"]\n\n'
                      f'[people.bob]\nnotify = ["{self.notify_url}bob"]\n\n')
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            f'[aws]\nregion = "{self.moto.region}"\nendpoint_url = "{self.moto.endpoint_url}"\n'
            f"{self.aws_more}\n{owners}{extra}\n{secrets}\n")

    def env(self, **more: str) -> dict[str, str]:
        return {**os.environ, **self.moto.env(self.key), **more}

    def step_status(self, run_id: str) -> dict[str, str]:
        shown = self.run("runs.show", run_id, "--json")
        return {s["step"]: s["status"] for s in json.loads(shown.stdout)["steps"]}

    def leaks(self, *values: str, sink: HttpSink | None = None) -> list[str]:
        """Where any of `values` appears: CLI output, journals, reports, notices."""
        texts = dict(self.outputs)
        for path in self.state.rglob("*"):
            if path.is_file():
                texts[str(path.relative_to(self.root))] = path.read_text(errors="replace")
        if sink is not None:
            texts["notices"] = b"".join(r.decoded for r in sink.requests).decode(errors="replace")
        return sorted(f"{where}: {v[:6]}…" for where, text in texts.items() for v in values
                      if v and v in text)


def iam_keys(moto: Any, user: str) -> dict[str, str]:
    got = moto.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in got}


@pytest.fixture
def rotate_project(tmp_path: Path) -> Iterator[Any]:
    """A factory: rotate_project(moto, key=None, notify_url="") -> RotateProject."""
    made: list[RotateProject] = []

    def make(moto: MotoServer, key: AwsKey | None = None,
             notify_url: str = "") -> RotateProject:
        proj = RotateProject(tmp_path, moto, key, notify_url)
        made.append(proj)
        return proj

    yield make
    for proj in made:
        proj.stop_started()  # only what this test started
