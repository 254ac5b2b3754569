"""One AWS client factory (connectors/aws.py) and one answer for the same missing credentials,
whether a secret reference or any other AWS call asks: no credentials is "could not verify"
(exit 3); a profile that [aws] names and ~/.aws/config lacks is the config's mistake (exit 2).
Against moto's server (tests/servers/moto.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from breakglass.config import Config, validate
from breakglass.connectors import aws as connector
from breakglass.engine.redaction import Redactor
from breakglass.errors import EXIT_UNVERIFIED, EXIT_USAGE, ConfigError, CouldNotVerify
from breakglass.secrets import Secrets

CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                   "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                   "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                   "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE")


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with no AWS credentials anywhere boto3 looks: no variables, empty files, no
    instance metadata."""
    for name in CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws-config").write_text("")
    (tmp_path / "aws-credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def config_for(moto: Any, **extra: str) -> Config:
    return validate({"project": {"name": "acme", "environment": "test"},
                     "aws": {"region": moto.region, "endpoint_url": moto.endpoint_url,
                             **extra}})


def test_no_credentials_for_a_secret_reference_is_could_not_verify(
        aws: Any, no_credentials: None) -> None:
    secrets = Secrets(config_for(aws), Redactor(), environ={})
    with pytest.raises(CouldNotVerify, match="no AWS credentials") as info:
        secrets.resolve("ssm:/acme/db/password")
    assert info.value.exit_code == EXIT_UNVERIFIED


def test_no_credentials_for_any_other_aws_call_is_could_not_verify(
        aws: Any, no_credentials: None) -> None:
    s3 = connector.client(config_for(aws).aws, "s3")
    with pytest.raises(CouldNotVerify, match="no AWS credentials") as info, \
            connector.translated("list the buckets"):
        s3.list_buckets()
    assert info.value.exit_code == EXIT_UNVERIFIED


def test_a_profile_the_config_names_and_aws_lacks_is_a_config_error_for_a_reference(
        aws: Any, no_credentials: None) -> None:
    secrets = Secrets(config_for(aws, profile="nope"), Redactor(), environ={})
    with pytest.raises(ConfigError, match=r"^aws.profile: 'nope' is not a profile") as info:
        secrets.resolve("ssm:/acme/db/password")
    assert info.value.exit_code == EXIT_USAGE


def test_a_profile_the_config_names_and_aws_lacks_is_a_config_error_for_any_other_call(
        aws: Any, no_credentials: None) -> None:
    with pytest.raises(ConfigError, match=r"^aws.profile: 'nope' is not a profile") as info:
        connector.client(config_for(aws, profile="nope").aws, "s3")
    assert info.value.exit_code == EXIT_USAGE


def test_an_unknown_aws_profile_from_the_environment_is_could_not_verify(
        aws: Any, no_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(CouldNotVerify, match="AWS profile not found") as info:
        connector.client(config_for(aws).aws, "s3")
    assert info.value.code == "AWS_CREDENTIALS" and info.value.exit_code == EXIT_UNVERIFIED


def test_a_waiter_that_gives_up_is_wait_timed_out(aws: Any) -> None:
    aws.client("s3").create_bucket(Bucket="drills")
    s3 = connector.client(config_for(aws).aws, "s3")
    with pytest.raises(connector.WaitTimedOut) as info, \
            connector.translated("wait for drills/none", code="WAITED"):
        s3.get_waiter("object_exists").wait(Bucket="drills", Key="none",
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 1})
    assert info.value.code == "WAITED" and info.value.reason


def test_an_answer_the_caller_knows_is_handed_back_by_its_code(aws: Any) -> None:
    ssm = connector.client(config_for(aws).aws, "ssm")
    with pytest.raises(connector.Answer) as info, \
            connector.translated("ssm:/none", known=frozenset({"ParameterNotFound"})):
        ssm.get_parameter(Name="/none")
    assert info.value.aws_code == "ParameterNotFound"
    assert info.value.__cause__ is None  # botocore's exception stops here
