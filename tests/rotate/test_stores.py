"""rotate/stores/: where a secret value lives, against moto (Secrets Manager, SSM) — a write is
made once per run and value, `restore` puts back exactly the value this run replaced and only
while the store still holds this run's value, and `recovery` prints the same as a command.
(The env-file store is proven through the kinds: tests/rotate/test_postgres_role.py, all or
nothing and cleanup listed over SFTP; tests/rotate/test_env_file.py, a host down.)"""

from __future__ import annotations

from typing import Any

import pytest

from breakglass.engine.redaction import Redactor
from breakglass.engine.runbook import StepContext
from breakglass.errors import UsageError
from breakglass.runbooks.rotate.stores import Store, store_for
from tests.rotate.aws_project import RotateProject, rotate_project
from tests.servers.moto import MotoServer

__all__ = ["rotate_project"]  # the fixture, imported for pytest


def context(proj: RotateProject, run_id: str = "run1") -> tuple[Any, StepContext]:
    from breakglass.config import load_config
    from breakglass.secrets import Secrets

    config = load_config(proj.config)
    redactor = Redactor()
    return config, StepContext(run_id=run_id, runbook="rotate", config=config, params={},
                               state_dir=proj.state, redactor=redactor,
                               secrets=Secrets(config, redactor))


def made(aws: MotoServer, rotate_project: Any, ref: str, run_id: str = "run1"
         ) -> tuple[Store, StepContext]:
    proj: RotateProject = rotate_project(aws)
    proj.write("")
    config, ctx = context(proj, run_id)
    return store_for(config, "S", ref=ref), ctx


def ssm_value(aws: MotoServer) -> str:
    got = aws.client("ssm").get_parameter(Name="/p", WithDecryption=True)
    return str(got["Parameter"]["Value"])


def sm_value(aws: MotoServer) -> str:
    return str(aws.client("secretsmanager").get_secret_value(
        SecretId="s", VersionStage="AWSCURRENT")["SecretString"])


def test_ssm_restore_puts_back_the_value_this_run_replaced(aws: MotoServer,
                                                           rotate_project: Any) -> None:
    aws.client("ssm").put_parameter(Name="/p", Value="old-value", Type="SecureString")
    store, ctx = made(aws, rotate_project, "ssm:/p")
    store.write(ctx, "new-value")
    store.write(ctx, "new-value")  # a resumed run: not a second version
    assert ssm_value(aws) == "new-value" and store.read_all(ctx) == {"ssm:/p": "new-value"}
    assert len(store.recovery(ctx)) == 1
    assert store.restore(ctx)["restored"] is True
    assert ssm_value(aws) == "old-value"
    assert store.restore(ctx)["restored"] is False  # the store no longer holds this run's value
    assert ssm_value(aws) == "old-value" and store.recovery(ctx) == []


def test_secretsmanager_restore_moves_awscurrent_back_and_a_new_write_is_a_new_version(
        aws: MotoServer, rotate_project: Any) -> None:
    client = aws.client("secretsmanager")
    client.create_secret(Name="s", SecretString="old-value")
    store, ctx = made(aws, rotate_project, "aws-sm:s")
    store.write(ctx, "new-value")
    assert sm_value(aws) == "new-value"
    (line,) = store.recovery(ctx)
    assert "--version-stage AWSCURRENT" in line and "new-value" not in line
    assert store.restore(ctx)["restored"] is True and sm_value(aws) == "old-value"
    store.write(ctx, "third-value")  # the same run writes again after putting back
    assert sm_value(aws) == "third-value"
    assert "old-value" in store.previous(ctx)


def test_restore_leaves_a_value_another_run_wrote(aws: MotoServer, rotate_project: Any) -> None:
    aws.client("ssm").put_parameter(Name="/p", Value="old-value", Type="SecureString")
    store, ctx = made(aws, rotate_project, "ssm:/p", run_id="run1")
    store.write(ctx, "new-value")
    _, other = made(aws, rotate_project, "ssm:/p", run_id="run2")
    assert store.restore(other)["restored"] is False and ssm_value(aws) == "new-value"


@pytest.mark.parametrize("ref", ["vault:x", "aws-sm:", "ssm"])
def test_an_unknown_store_reference_is_a_usage_error_naming_the_known_ones(
        aws: MotoServer, rotate_project: Any, ref: str) -> None:
    with pytest.raises(UsageError, match="aws-sm:NAME, ssm:NAME"):
        made(aws, rotate_project, ref)
