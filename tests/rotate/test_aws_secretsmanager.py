"""`breakglass rotate` of `kind = "aws_secretsmanager"` against moto through the real CLI: the
new value is AWSCURRENT, the old one retired (at once with --leaked), a SIGKILL at any step
boundary is finished by `runs.resume`, and no value reaches any output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.rotate.aws_project import RotateProject, rotate_project
from tests.servers.moto import MotoServer

__all__ = ["rotate_project"]  # the fixture, imported for pytest

OLD_SM = "old-api-key-Zq81fLw0pQe3"


@pytest.fixture
def sm(aws: MotoServer, rotate_project: Any) -> RotateProject:
    aws.client("secretsmanager").create_secret(Name="prod/api-key", SecretString=OLD_SM)
    proj: RotateProject = rotate_project(aws)
    proj.write('[secrets.API_KEY]\nkind = "aws_secretsmanager"\nsecret_id = "prod/api-key"\n'
               'length = 40\n')
    return proj


def sm_versions(aws: MotoServer) -> dict[str, list[str]]:
    got = aws.client("secretsmanager").list_secret_version_ids(SecretId="prod/api-key",
                                                               IncludeDeprecated=True)
    return {v["VersionId"]: v.get("VersionStages", []) for v in got["Versions"]}


def sm_current(aws: MotoServer) -> str:
    return str(aws.client("secretsmanager").get_secret_value(
        SecretId="prod/api-key", VersionStage="AWSCURRENT")["SecretString"])


def test_secretsmanager_rotation_promotes_a_new_value_and_retires_the_old(
        sm: RotateProject, aws: MotoServer) -> None:
    (old_version,) = sm_versions(aws)
    r = sm.run("rotate", "API_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    new = sm_current(aws)
    assert new != OLD_SM and len(new) == 40
    stages = sm_versions(aws)
    assert "AWSCURRENT" not in stages[old_version]
    assert not any("AWSPENDING" in s for s in stages.values())
    assert sm.leaks(OLD_SM, new) == []


def test_secretsmanager_with_grace_keeps_the_old_version_as_awsprevious(
        sm: RotateProject, aws: MotoServer) -> None:
    sm.write('[secrets.API_KEY]\nkind = "aws_secretsmanager"\nsecret_id = "prod/api-key"\n'
             'grace = "7d"\n')
    (old_version,) = sm_versions(aws)
    r = sm.run("rotate", "API_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sm_versions(aws)[old_version] == ["AWSPREVIOUS"]


def test_secretsmanager_leaked_removes_the_old_version_labels_in_the_same_run(
        sm: RotateProject, aws: MotoServer) -> None:
    sm.write('[secrets.API_KEY]\nkind = "aws_secretsmanager"\nsecret_id = "prod/api-key"\n'
             'grace = "7d"\n')
    (old_version,) = sm_versions(aws)
    r = sm.run("rotate", "API_KEY", "--leaked", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sm_versions(aws)[old_version] == []


def test_secretsmanager_json_key_rotates_one_key_and_keeps_the_others(
        aws: MotoServer, rotate_project: Any) -> None:
    doc = {"user": "app", "password": OLD_SM}
    aws.client("secretsmanager").create_secret(Name="prod/db", SecretString=json.dumps(doc))
    proj: RotateProject = rotate_project(aws)
    proj.write('[secrets.DB]\nkind = "aws_secretsmanager"\nsecret_id = "prod/db"\n'
               'json_key = "password"\nalphabet = "abcdefghijklmnop"\n')
    r = proj.run("rotate", "DB", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(aws.client("secretsmanager").get_secret_value(
        SecretId="prod/db", VersionStage="AWSCURRENT")["SecretString"])
    assert got["user"] == "app" and got["password"] != OLD_SM
    assert set(got["password"]) <= set("abcdefghijklmnop")
    assert proj.leaks(OLD_SM, got["password"]) == []


SM_POINTS = [f"{step}.{p}" for step in ("pin", "create", "deploy", "verify_new", "verify_old",
                                        "delete")
             for p in ("after_apply", "after_verify")
             if not (step.startswith("verify") and p == "after_apply")]


@pytest.mark.parametrize("point", SM_POINTS)
def test_secretsmanager_killed_at_a_step_boundary_is_finished_by_resume(
        sm: RotateProject, aws: MotoServer, point: str) -> None:
    (old_version,) = sm_versions(aws)
    sm.kill_at(point, "API_KEY")
    (run_id,) = sm.run_ids()
    r = sm.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    stages = sm_versions(aws)
    assert len(stages) == 2, stages  # one new version: nothing created twice
    assert stages[old_version] == []
    assert sm_current(aws) != OLD_SM
    assert sm.leaks(OLD_SM, sm_current(aws)) == []
