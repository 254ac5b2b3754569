"""`rotate` of an IAM access key (kind aws_iam_key) on moto checking signatures and policies,
the key stored as JSON in Secrets Manager (`store = "aws-sm:…"`).

Faults: SIGKILL at every boundary (normal and --leaked; `create.mid` is a key made, not yet
stored), once undone; moto gone (breakglass's endpoint a closed port) before `create`;
`secretsmanager:PutSecretValue` refused before `create` (the new key must not be left
orphaned) and `iam:UpdateAccessKey` refused before a --leaked `revoke` (the leaked key must be
said to be still live).

Read with boto3 and STS: the user's keys (one, Active, the stored one after a rotation), STS
accepting the stored key and refusing the old one (moto accepts an Inactive key, so "refused"
needs it deleted — the rotation deletes it when there is no grace).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions

from bench._faults.rotate import (
    APPLIED,
    CHECKED,
    ENTRY,
    LEAKED,
    WITH_MID,
    RotateProject,
    RotateScenario,
    aws_away,
    aws_back,
    deny,
)
from bench._faults.scenario import Fault, register
from tests.cli_project import CliProject
from tests.servers.moto import AuthedMoto, AwsKey


@dataclass
class IamProject(RotateProject):
    user: str = ""
    store: str = ""
    old: AwsKey | None = None


@register
class IamKeyScenario(RotateScenario):
    runbook = "rotate.aws_iam_key"
    steps = (("pin", APPLIED), ("create", WITH_MID), ("verify_new", CHECKED), ("revoke", APPLIED),
             ("verify_old", CHECKED), ("delete", APPLIED))
    leaked_steps = (("create", WITH_MID), ("revoke", APPLIED), ("verify_new", CHECKED),
                    ("verify_old", CHECKED), ("delete", APPLIED))
    quick = ("sigkill @ create.mid",)

    @classmethod
    def outages(cls) -> list[Fault]:
        put, revoke = deny("secretsmanager:PutSecretValue"), deny("iam:UpdateAccessKey")
        return [Fault("aws down", "create.before_apply", aws_away, aws_back),
                Fault("permission refused", "create.before_apply", *put, extra=LEAKED),
                Fault("permission refused", "revoke.before_apply", *revoke, extra=LEAKED)]

    def setup(self, work: Path) -> CliProject:
        aws = self.lab.aws()
        tag = secrets.token_hex(4)
        proj = IamProject(work, aws=aws)
        proj.user, proj.store = f"ci-{tag}", f"ci/{tag}/aws-key"
        iam = aws.client("iam")
        iam.create_user(UserName=proj.user)
        made = iam.create_access_key(UserName=proj.user)["AccessKey"]
        proj.old = AwsKey(made["AccessKeyId"], made["SecretAccessKey"])
        aws.client("secretsmanager").create_secret(Name=proj.store, SecretString=json.dumps(
            {"AccessKeyId": proj.old.access_key_id,
             "SecretAccessKey": proj.old.secret_access_key}))
        proj.body = (f'[secrets.{ENTRY}]\nkind = "aws_iam_key"\niam_user = "{proj.user}"\n'
                     f'store = "aws-sm:{proj.store}"\n')
        proj.write()
        return proj

    def rotated(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, IamProject) and proj.aws is not None and proj.old is not None
        new, keys = stored(proj), access_keys(proj)
        return [what for what, bad in [
            ("the stored key is the old one", new == proj.old),
            (f"the user's keys are {keys}, not the stored one alone",
             keys != {new.access_key_id: "Active"}),
            ("STS refuses the stored key", not sts_accepts(proj.aws, new)),
            ("STS still accepts the old key", sts_accepts(proj.aws, proj.old))] if bad]

    def kept(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, IamProject) and proj.aws is not None and proj.old is not None
        keys = access_keys(proj)
        return [what for what, bad in [
            ("STS refuses the old key", not sts_accepts(proj.aws, proj.old)),
            ("STS refuses the stored key", not sts_accepts(proj.aws, stored(proj))),
            (f"the user has {len(keys)} keys", len(keys) > 2)] if bad]

    def values(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, IamProject) and proj.aws is not None and proj.old is not None
        return [proj.old.secret_access_key, stored(proj).secret_access_key,
                proj.aws.admin.secret_access_key]


def stored(proj: IamProject) -> AwsKey:
    assert proj.aws is not None
    doc = json.loads(proj.aws.client("secretsmanager").get_secret_value(
        SecretId=proj.store, VersionStage="AWSCURRENT")["SecretString"])
    return AwsKey(doc["AccessKeyId"], doc["SecretAccessKey"])


def access_keys(proj: IamProject) -> dict[str, str]:
    assert proj.aws is not None
    got: list[dict[str, Any]] = proj.aws.client("iam").list_access_keys(
        UserName=proj.user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in got}


def sts_accepts(aws: AuthedMoto, key: AwsKey) -> bool:
    try:
        aws.client("sts", key).get_caller_identity()
    except botocore.exceptions.ClientError:
        return False
    return True
