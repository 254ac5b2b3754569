"""`rotate` of a Secrets Manager secret (kind aws_secretsmanager) on moto: create puts an
AWSPENDING version, deploy moves AWSCURRENT onto it, delete takes the old version's labels off.

Faults: SIGKILL at every boundary (normal and --leaked), once undone; moto gone (breakglass's
endpoint a closed port) before `deploy`; `secretsmanager:UpdateSecretVersionStage` refused
before `deploy`.

Read with boto3: AWSCURRENT holds a new value, exactly one version was added (nothing made
twice), the old version holds no label, no AWSPENDING is left.
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

STEPS = (("pin", APPLIED), ("create", APPLIED), ("deploy", APPLIED), ("verify_new", CHECKED),
         ("revoke", CHECKED), ("verify_old", CHECKED), ("delete", APPLIED))
LEAKED_STEPS = (("deploy", APPLIED), ("verify_old", CHECKED), ("delete", APPLIED))


@dataclass
class SmProject(RotateProject):
    secret_id: str = ""
    old: str = ""


@register
class SecretsManagerScenario(RotateScenario):
    runbook = "rotate.aws_secretsmanager"
    steps = STEPS
    leaked_steps = LEAKED_STEPS
    undo_at = "create.after_apply"
    quick = ("sigkill @ deploy.after_apply --leaked",)

    @classmethod
    def outages(cls) -> list[Fault]:
        return [Fault("aws down", "deploy.before_apply", aws_away, aws_back),
                Fault("permission refused", "deploy.before_apply",
                      *deny("secretsmanager:UpdateSecretVersionStage"), extra=LEAKED)]

    def setup(self, work: Path) -> CliProject:
        aws = self.lab.aws()
        proj = SmProject(work, aws=aws, secret_id=f"prod/{secrets.token_hex(4)}/api-key",
                         old=f"old-api-key-{secrets.token_urlsafe(16)}")
        aws.client("secretsmanager").create_secret(Name=proj.secret_id, SecretString=proj.old)
        proj.body = (f'[secrets.{ENTRY}]\nkind = "aws_secretsmanager"\n'
                     f'secret_id = "{proj.secret_id}"\nlength = 40\n')
        proj.write()
        return proj

    def rotated(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, SmProject)
        stages = versions(proj)
        old = [v for v, s in stages.items() if proj.old == value(proj, v)]
        return [what for what, bad in [
            ("AWSCURRENT still holds the old value", current(proj) == proj.old),
            (f"{len(stages)} versions, not the old one and one new", len(stages) != 2),
            ("the old version still holds labels", any(stages[v] for v in old)),
            ("an AWSPENDING label is left", any("AWSPENDING" in s for s in stages.values()))]
            if bad]

    def kept(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, SmProject)
        return [] if current(proj) == proj.old else ["AWSCURRENT no longer holds the old value"]

    def values(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, SmProject) and proj.aws is not None
        return [proj.old, current(proj), proj.aws.admin.secret_access_key]


def versions(proj: SmProject) -> dict[str, list[str]]:
    assert proj.aws is not None
    got = proj.aws.client("secretsmanager").list_secret_version_ids(
        SecretId=proj.secret_id, IncludeDeprecated=True)
    return {v["VersionId"]: list(v.get("VersionStages") or []) for v in got["Versions"]}


def value(proj: SmProject, version: str) -> str:
    assert proj.aws is not None
    return str(proj.aws.client("secretsmanager").get_secret_value(
        SecretId=proj.secret_id, VersionId=version)["SecretString"])


def current(proj: SmProject) -> str:
    assert proj.aws is not None
    return str(proj.aws.client("secretsmanager").get_secret_value(
        SecretId=proj.secret_id, VersionStage="AWSCURRENT")["SecretString"])
