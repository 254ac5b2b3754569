"""`breakglass rotate` of `kind = "ssm_parameter"` against moto through the real CLI: a new
SecureString version, the old one labelled during grace, a SIGKILL at any step boundary is
finished by `runs.resume`, and no value reaches any output."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rotate.aws_project import RotateProject, rotate_project
from tests.servers.moto import MotoServer

__all__ = ["rotate_project"]  # the fixture, imported for pytest

OLD_SSM = "old-param-Hc4mVx72Kd0s"


@pytest.fixture
def ssm(aws: MotoServer, rotate_project: Any) -> RotateProject:
    aws.client("ssm").put_parameter(Name="/prod/token", Value=OLD_SSM, Type="SecureString")
    proj: RotateProject = rotate_project(aws)
    proj.write('[secrets.TOKEN]\nkind = "ssm_parameter"\nparameter = "/prod/token"\n')
    return proj


def ssm_now(aws: MotoServer) -> tuple[int, str]:
    p = aws.client("ssm").get_parameter(Name="/prod/token", WithDecryption=True)["Parameter"]
    return int(p["Version"]), str(p["Value"])


def ssm_labels(aws: MotoServer) -> dict[int, list[str]]:
    h = aws.client("ssm").get_parameter_history(Name="/prod/token")["Parameters"]
    return {int(p["Version"]): list(p.get("Labels") or []) for p in h}


def test_ssm_rotation_writes_a_new_securestring_version(ssm: RotateProject,
                                                        aws: MotoServer) -> None:
    r = ssm.run("rotate", "TOKEN", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    version, value = ssm_now(aws)
    assert version == 2 and value != OLD_SSM and len(value) == 32
    assert ssm_labels(aws) == {1: [], 2: []}  # grace unset: the previous label is gone
    meta = aws.client("ssm").get_parameter(Name="/prod/token")["Parameter"]
    assert meta["Type"] == "SecureString"
    assert ssm.leaks(OLD_SSM, value) == []


def test_ssm_with_grace_labels_the_old_version_breakglass_previous(
        ssm: RotateProject, aws: MotoServer) -> None:
    ssm.write('[secrets.TOKEN]\nkind = "ssm_parameter"\nparameter = "/prod/token"\n'
              'grace = "1d"\n')
    r = ssm.run("rotate", "TOKEN", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ssm_labels(aws) == {1: ["breakglass-previous"], 2: []}


def test_ssm_leaked_unlabels_the_old_version_in_the_same_run(ssm: RotateProject,
                                                             aws: MotoServer) -> None:
    ssm.write('[secrets.TOKEN]\nkind = "ssm_parameter"\nparameter = "/prod/token"\n'
              'grace = "1d"\n')
    r = ssm.run("rotate", "TOKEN", "--leaked", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ssm_labels(aws) == {1: [], 2: []}


SSM_POINTS = ["pin.after_apply", "create.after_apply", "create.after_verify",
              "verify_new.after_verify", "verify_old.after_verify", "delete.after_apply"]


@pytest.mark.parametrize("point", SSM_POINTS)
def test_ssm_killed_at_a_step_boundary_is_finished_by_resume(
        ssm: RotateProject, aws: MotoServer, point: str) -> None:
    ssm.kill_at(point, "TOKEN")
    (run_id,) = ssm.run_ids()
    r = ssm.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    version, value = ssm_now(aws)
    assert version == 2, "exactly one new version"
    assert ssm.leaks(OLD_SSM, value) == []
