"""`rotate` of an SSM SecureString parameter (kind ssm_parameter) on moto: create writes a new
version, delete takes the old version's label off.

Faults: SIGKILL at every boundary (normal and --leaked), once undone; moto gone (breakglass's
endpoint a closed port) before `create`; `ssm:PutParameter` refused before `create`.

Read with boto3: the parameter holds a new value in exactly one new version (version 2:
nothing written twice), and the old version is labelled by nobody. After `runs.undo` (which
cannot reverse `create` and says so) the old value is still version 1 and nothing was written
twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from bench._faults.rotate import (
    APPLIED,
    CHECKED,
    ENTRY,
    LEAKED,
    RotateProject,
    RotateScenario,
    aws_away,
    aws_back,
    deny,
)
from bench._faults.scenario import Fault, register
from tests.cli_project import CliProject

STEPS = (("pin", APPLIED), ("create", APPLIED), ("verify_new", CHECKED), ("revoke", CHECKED),
         ("verify_old", CHECKED), ("delete", APPLIED))
LEAKED_STEPS = (("create", APPLIED), ("verify_old", CHECKED), ("delete", APPLIED))


@dataclass
class SsmProject(RotateProject):
    name: str = ""
    old: str = ""


@register
class SsmParameterScenario(RotateScenario):
    runbook = "rotate.ssm_parameter"
    steps = STEPS
    leaked_steps = LEAKED_STEPS
    undo_at = "create.after_apply"
    quick = ("sigkill @ create.after_apply",)

    @classmethod
    def outages(cls) -> list[Fault]:
        return [Fault("aws down", "create.before_apply", aws_away, aws_back),
                Fault("permission refused", "create.before_apply", *deny("ssm:PutParameter"),
                      extra=LEAKED)]

    def setup(self, work: Path) -> CliProject:
        aws = self.lab.aws()
        proj = SsmProject(work, aws=aws, name=f"/prod/{secrets.token_hex(4)}/token",
                          old=f"old-param-{secrets.token_urlsafe(16)}")
        aws.client("ssm").put_parameter(Name=proj.name, Value=proj.old, Type="SecureString")
        proj.body = (f'[secrets.{ENTRY}]\nkind = "ssm_parameter"\n'
                     f'parameter = "{proj.name}"\n')
        proj.write()
        return proj

    def rotated(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, SsmProject)
        version, now = latest(proj)
        labels = history(proj)
        return [what for what, bad in [
            ("the parameter still holds the old value", now == proj.old),
            (f"the parameter is at version {version}, not 2", version != 2),
            (f"the old version is labelled {labels.get(1)}", bool(labels.get(1)))] if bad]

    def kept(self, proj: RotateProject) -> list[str]:
        # `create` is the promotion and has no undo (runs.undo says so): the new version may
        # stay current; the old one must still be there, and nothing written twice.
        assert isinstance(proj, SsmProject) and proj.aws is not None
        version = latest(proj)[0]
        first = proj.aws.client("ssm").get_parameter(Name=f"{proj.name}:1",
                                                     WithDecryption=True)["Parameter"]["Value"]
        return [what for what, bad in [
            ("version 1 no longer holds the old value", first != proj.old),
            (f"the parameter is at version {version}", version > 2)] if bad]

    def values(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, SsmProject) and proj.aws is not None
        return [proj.old, latest(proj)[1], proj.aws.admin.secret_access_key]


def latest(proj: SsmProject) -> tuple[int, str]:
    assert proj.aws is not None
    p = proj.aws.client("ssm").get_parameter(Name=proj.name, WithDecryption=True)["Parameter"]
    return int(p["Version"]), str(p["Value"])


def history(proj: SsmProject) -> dict[int, list[str]]:
    assert proj.aws is not None
    got = proj.aws.client("ssm").get_parameter_history(Name=proj.name)["Parameters"]
    return {int(p["Version"]): list(p.get("Labels") or []) for p in got}
