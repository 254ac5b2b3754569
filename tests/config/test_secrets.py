"""Secret references: env:, file:, and aws-sm:/ssm: against moto's server
(tests/servers/moto.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from breakglass.config import Config, validate
from breakglass.engine.redaction import MASK, Redactor
from breakglass.errors import CouldNotVerify, SecretRefError
from breakglass.secrets import Secrets, is_ref, parse_ref, ref_problem

PROJECT = {"name": "acme", "environment": "test"}


def make_config(tmp_path: Path | None = None, **aws: str) -> Config:
    config = validate({"project": PROJECT, "aws": aws})
    if tmp_path is not None:
        config = config.model_copy(update={"path": tmp_path / "breakglass.toml"})
    return config


def secrets_for(config: Config, environ: dict[str, str] | None = None) -> tuple[Secrets, Redactor]:
    redactor = Redactor()
    return Secrets(config, redactor, environ=environ or {}), redactor


# -- parsing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["env:DATABASE_URL", "file:~/x", "file:/run/s", "ssm:/app/db",
                                  "aws-sm:prod/db", "aws-sm:arn:aws:secretsmanager:eu-west-1:1:"
                                  "secret:db-AbC#password"])
def test_references_are_recognised(text: str) -> None:
    assert is_ref(text)


@pytest.mark.parametrize("text", ["postgresql://u:p@h/db", "hunter2", "env:", "env:1BAD",
                                  "vault:x", "aws-sm:x#", ""])
def test_non_references_are_not(text: str) -> None:
    assert not is_ref(text)


def test_aws_sm_reference_splits_the_json_key() -> None:
    ref = parse_ref("aws-sm:arn:aws:secretsmanager:us-east-1:1:secret:db#password")
    assert ref is not None
    assert ref.target == "arn:aws:secretsmanager:us-east-1:1:secret:db"
    assert ref.key == "password"


def test_literal_problem_never_echoes_the_value() -> None:
    problem = ref_problem("s3cr3t-literal-value")
    assert problem is not None and "s3cr3t" not in problem


# -- env: and file: ----------------------------------------------------------------------------

def test_env_reference_resolves_and_registers_the_value() -> None:
    secrets, redactor = secrets_for(make_config(), {"DATABASE_URL": "postgresql://u:pw99@h/d"})
    assert secrets.resolve("env:DATABASE_URL") == "postgresql://u:pw99@h/d"
    assert redactor.redact("dsn=postgresql://u:pw99@h/d") == f"dsn={MASK}"


def test_missing_env_var_names_the_variable() -> None:
    secrets, _ = secrets_for(make_config())
    with pytest.raises(SecretRefError, match=r"^env var DATABASE_URL is not set$"):
        secrets.resolve("env:DATABASE_URL")


def test_empty_env_var_is_an_error() -> None:
    secrets, _ = secrets_for(make_config(), {"TOKEN": ""})
    with pytest.raises(SecretRefError, match="empty"):
        secrets.resolve("env:TOKEN")


def test_resolved_value_is_cached_for_the_process() -> None:
    environ = {"TOKEN": "first-value"}
    secrets, _ = secrets_for(make_config(), environ)
    secrets.resolve("env:TOKEN")
    environ["TOKEN"] = "second-value"
    assert secrets.resolve("env:TOKEN") == "first-value"


def test_file_reference_strips_the_final_newline(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-secret-value\n")
    secrets, _ = secrets_for(make_config())
    assert secrets.resolve(f"file:{tmp_path / 'token'}") == "file-secret-value"


def test_relative_file_reference_is_relative_to_the_config(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("relative-secret")
    monkeypatch.chdir("/")
    secrets, _ = secrets_for(make_config(tmp_path))
    assert secrets.resolve("file:token") == "relative-secret"


def test_file_reference_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "token").write_text("home-secret")
    secrets, _ = secrets_for(make_config())
    assert secrets.resolve("file:~/token") == "home-secret"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    secrets, _ = secrets_for(make_config())
    with pytest.raises(SecretRefError, match="does not exist"):
        secrets.resolve(f"file:{tmp_path / 'nope'}")


def test_directory_file_reference_is_an_error(tmp_path: Path) -> None:
    secrets, _ = secrets_for(make_config())
    with pytest.raises(SecretRefError, match="is a directory"):
        secrets.resolve(f"file:{tmp_path}")


def test_describe_masks_the_value() -> None:
    secrets, _ = secrets_for(make_config(), {"DATABASE_URL": "x" * 52})
    assert secrets.describe("env:DATABASE_URL") == "env:DATABASE_URL (set, 52 chars)"


def test_describe_reports_an_unset_reference() -> None:
    secrets, _ = secrets_for(make_config())
    assert "not set" in secrets.describe("env:NOPE")


# -- aws-sm: and ssm: against moto --------------------------------------------------------------

def aws_config(aws: Any) -> Config:
    return make_config(region=aws.region, endpoint_url=aws.endpoint_url)


def test_aws_sm_reference_reads_the_current_version(aws: Any) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="prod/db", SecretString="old-secret-value")
    sm.put_secret_value(SecretId="prod/db", SecretString="new-secret-value")
    secrets, redactor = secrets_for(aws_config(aws))
    assert secrets.resolve("aws-sm:prod/db") == "new-secret-value"
    assert "new-secret-value" in redactor


def test_aws_sm_json_key_selects_one_field(aws: Any) -> None:
    arn = aws.client("secretsmanager").create_secret(
        Name="prod/creds", SecretString=json.dumps({"user": "app", "password": "pw-from-json"})
    )["ARN"]
    secrets, _ = secrets_for(aws_config(aws))
    assert secrets.resolve(f"aws-sm:{arn}#password") == "pw-from-json"


def test_aws_sm_missing_json_key_is_named(aws: Any) -> None:
    aws.client("secretsmanager").create_secret(Name="prod/creds",
                                               SecretString=json.dumps({"user": "app"}))
    secrets, _ = secrets_for(aws_config(aws))
    with pytest.raises(SecretRefError, match='no key "password"'):
        secrets.resolve("aws-sm:prod/creds#password")


def test_aws_sm_missing_secret_is_a_ref_error_without_traceback_text(aws: Any) -> None:
    secrets, _ = secrets_for(aws_config(aws))
    with pytest.raises(SecretRefError) as info:
        secrets.resolve("aws-sm:prod/missing")
    assert str(info.value).startswith("aws-sm:prod/missing does not exist")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_ssm_reference_decrypts_a_secure_string(aws: Any) -> None:
    aws.client("ssm").put_parameter(Name="/acme/db/password", Value="ssm-secret-value",
                                    Type="SecureString")
    secrets, _ = secrets_for(aws_config(aws))
    assert secrets.resolve("ssm:/acme/db/password") == "ssm-secret-value"


def test_ssm_missing_parameter_is_a_ref_error(aws: Any) -> None:
    secrets, _ = secrets_for(aws_config(aws))
    with pytest.raises(SecretRefError, match="does not exist"):
        secrets.resolve("ssm:/acme/none")


def test_unreachable_aws_is_could_not_verify(http_sink: Any) -> None:
    config = make_config(region="us-east-1", endpoint_url=http_sink.down_url)
    secrets, _ = secrets_for(config)
    with pytest.raises(CouldNotVerify, match=r"^ssm:/acme/db/password: cannot connect"):
        secrets.resolve("ssm:/acme/db/password")


@pytest.mark.parametrize("ref", [
    "env:postgresql://app:Pw9canary@db/prod", "file:postgresql://app:Pw9canary@db/prod",
    "aws-sm:postgresql://app:Pw9canary@db/prod", "ssm:postgresql://app:Pw9canary@db/prod",
    "file:host=db password=Pw9canary", "env:Pw9canary!", "aws-sm:Pw9canary!x",
    "file:-----BEGIN OPENSSH PRIVATE KEY-----Pw9canary", "file:sk_live_Pw9canary",
    "file:app:Pw9canary@db",
])
def test_a_secret_value_after_a_reference_prefix_is_refused_without_echo(ref: str) -> None:
    problem = ref_problem(ref)
    assert problem is not None and problem.startswith("this looks like a secret value, not a "
                                                      "reference")
    assert "Pw9canary" not in problem


@pytest.mark.parametrize("ref", [
    "env:DATABASE_URL", "file:/run/secrets/db", "file:~/.ssh/id_ed25519", "ssm:/app/prod/db",
    "aws-sm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf#password",
    "aws-sm:prod/app+db=main@team",
])
def test_real_references_are_not_mistaken_for_values(ref: str) -> None:
    assert ref_problem(ref) is None
