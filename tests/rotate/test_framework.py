"""What every rotation promises, whatever the kind: bad names and kinds are exit 2 with one
line, a dry run changes nothing, the step order per mode, a consumer that fails its health check
stops the rotation before revocation with a recovery plan, --leaked searches git history and
tells incident_response, and no value reaches any output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from breakglass.config import validate
from breakglass.runbooks.rotate.runbook import Rotate
from tests.rotate.aws_project import RotateProject, iam_keys, rotate_project
from tests.servers.moto import AuthedMoto, MotoServer
from tests.servers.sinks import HttpSink
from tests.servers.sshd import SshdServer

__all__ = ["rotate_project"]  # the fixture, imported for pytest

OLD = "old-api-key-Zq81fLw0pQe3"
SM_SECRET = '[secrets.API_KEY]\nkind = "aws_secretsmanager"\nsecret_id = "prod/api-key"\n'


@pytest.fixture
def sm(aws: MotoServer, rotate_project: Any) -> RotateProject:
    aws.client("secretsmanager").create_secret(Name="prod/api-key", SecretString=OLD)
    proj: RotateProject = rotate_project(aws)
    proj.write(SM_SECRET)
    return proj


def versions(aws: MotoServer) -> dict[str, list[str]]:
    got = aws.client("secretsmanager").list_secret_version_ids(SecretId="prod/api-key",
                                                               IncludeDeprecated=True)
    return {v["VersionId"]: v.get("VersionStages", []) for v in got["Versions"]}


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# -- usage ------------------------------------------------------------------------------------

def test_unknown_secret_name_is_exit_2_naming_the_configured_ones(sm: RotateProject) -> None:
    line = one_line_error(sm.run("rotate", "API_KYE", "--dry-run"))
    assert "no [secrets.API_KYE]" in line and "API_KEY" in line


def test_an_unknown_kind_is_a_config_error_naming_the_key(sm: RotateProject) -> None:
    sm.write('[secrets.X]\nkind = "aws_iam"\n')
    line = one_line_error(sm.run("rotate", "X", "--dry-run"))
    assert "secrets.X.kind: expected one of" in line and '(did you mean "aws_iam_key"?)' in line


def test_a_missing_kind_key_is_a_config_error_naming_it(sm: RotateProject) -> None:
    sm.write('[secrets.CI]\nkind = "aws_iam_key"\nstore = "aws-sm:ci"\n')
    line = one_line_error(sm.run("rotate", "CI", "--dry-run"))
    assert 'iam_user is required for kind = "aws_iam_key"' in line


def test_a_key_of_another_kind_is_a_config_error(sm: RotateProject) -> None:
    sm.write(SM_SECRET + 'iam_user = "ci"\n')
    line = one_line_error(sm.run("rotate", "API_KEY", "--dry-run"))
    assert ('iam_user does not apply to kind = "aws_secretsmanager" (a key of aws_iam_key)'
            in line)


def test_revoke_first_is_refused_for_a_kind_that_retires_by_promotion(
        sm: RotateProject) -> None:
    line = one_line_error(sm.run("rotate", "API_KEY", "--revoke-first", "--dry-run"))
    assert "--revoke-first does not apply" in line


def test_a_missing_name_is_exit_2(sm: RotateProject) -> None:
    r = sm.run("rotate")
    assert r.returncode == 2, r.stdout + r.stderr


# -- plan, dry run, confirmation ----------------------------------------------------------------

def test_dry_run_prints_the_whole_plan_and_changes_nothing(sm: RotateProject,
                                                          aws: MotoServer) -> None:
    before = versions(aws)
    r = sm.run("rotate", "API_KEY", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("[pin]", "[create]", "[deploy]", "[verify_new]", "[revoke]", "[verify_old]",
                 "[delete]"):
        assert step in r.stdout
    assert versions(aws) == before


def test_without_yes_and_no_terminal_nothing_is_applied(sm: RotateProject,
                                                        aws: MotoServer) -> None:
    before = versions(aws)
    r = sm.run("rotate", "API_KEY")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "runs.resume" in r.stderr
    assert versions(aws) == before


def _steps(secret: str, toml: str, **params: Any) -> list[str]:
    import tomllib

    config = validate({"project": {"name": "a", "environment": "test"},
                       **tomllib.loads(toml)})
    runbook = Rotate(config, {"secret": secret, **params})
    return [s.name for s in runbook.steps()]


IAM_WITH_ALL = ('[hosts.web1]\naddress = "127.0.0.1"\nuser = "deploy"\n\n'
                '[secrets.CI]\nkind = "aws_iam_key"\niam_user = "ci"\nstore = "aws-sm:ci"\n'
                f'consumers = ["web1:app"]\nrepository = "{Path(__file__).parent}"\n')


def test_normal_order_revokes_only_after_consumers_and_the_new_value_are_verified() -> None:
    assert _steps("CI", IAM_WITH_ALL) == ["pin", "create", "consumers", "verify_new", "revoke",
                                          "verify_old", "delete"]


def test_leaked_order_searches_history_and_revokes_right_after_deployment() -> None:
    assert _steps("CI", IAM_WITH_ALL, leaked=True) == [
        "pin", "leak_search", "create", "revoke", "consumers", "verify_new", "verify_old",
        "exposure", "delete"]


def test_revoke_first_order_revokes_and_proves_it_before_creating() -> None:
    assert _steps("CI", IAM_WITH_ALL, revoke_first=True) == [
        "pin", "revoke", "verify_old", "create", "consumers", "verify_new", "delete"]


# -- consumers --------------------------------------------------------------------------------

def test_a_consumer_failing_its_health_check_stops_before_revocation_with_a_recovery_plan(
        aws_auth: AuthedMoto, sshd_server: SshdServer, rotate_project: Any) -> None:
    iam = aws_auth.client("iam")
    iam.create_user(UserName="ci")
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    aws_auth.client("secretsmanager").create_secret(Name="ci/key", SecretString=json.dumps(
        {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}))
    proj: RotateProject = rotate_project(aws_auth.server, aws_auth.admin)
    proj.write('[secrets.CI]\nkind = "aws_iam_key"\niam_user = "ci"\nstore = "aws-sm:ci/key"\n'
               'consumers = ["web1:app"]\n', extra=(
                   f'[hosts.web1]\naddress = "{sshd_server.host}"\nport = {sshd_server.port}\n'
                   f'user = "{sshd_server.user}"\nkey = "file:{sshd_server.key_path}"\n'
                   f'known_hosts = "{sshd_server.known_hosts}"\nrestart = "true"\n'
                   'health_command = "false"\n'))
    r = proj.run("rotate", "CI", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Recovery plan (CONSUMER_UNHEALTHY, web1:app):" in r.stdout, r.stdout
    assert "aws secretsmanager update-secret-version-stage --secret-id ci/key" in r.stdout
    assert iam_keys(aws_auth, "ci")[key["AccessKeyId"]] == "Active"  # the old key lives
    (run_id,) = proj.run_ids()
    events = proj.events(run_id)
    applied = {e["data"]["step"] for e in events if e["type"] == "step_apply_started"}
    assert applied == {"pin", "create", "consumers"}
    assert any(e["type"] == "log" and e["data"]["message"] == "recovery plan"
               for e in events)
    assert proj.leaks(key["SecretAccessKey"]) == []


# -- --leaked ---------------------------------------------------------------------------------

def _repo_with(tmp_path: Path, value: str) -> tuple[Path, str]:
    repo = tmp_path / "app"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "settings.py").write_text(f'API_KEY = "{value}"\n')
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "add settings"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                         text=True).stdout.strip()
    return repo, sha


def test_leaked_reports_where_the_old_value_is_in_git_history_and_tells_both_owners(
        sm: RotateProject, aws: MotoServer, tmp_path: Path, http_sink: HttpSink) -> None:
    repo, sha = _repo_with(tmp_path, OLD)
    sm.notify_url = http_sink.apprise_url
    sm.write(SM_SECRET + f'repository = "{repo}"\n')
    http_sink.clear()
    r = sm.run("rotate", "API_KEY", "--leaked", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    leak = next(f for f in result["findings"] if f["code"] == "LEAK_IN_GIT_HISTORY")
    assert "settings.py:1" in leak["message"] and sha[:12] in leak["message"]
    assert "filter-repo" in leak["action"]
    (run_id,) = sm.run_ids()
    told = {e["data"]["person"] for e in sm.events(run_id) if e["type"] == "delivery"}
    assert told == {"alice", "bob"}
    new = aws.client("secretsmanager").get_secret_value(
        SecretId="prod/api-key", VersionStage="AWSCURRENT")["SecretString"]
    assert sm.leaks(OLD, new, sink=http_sink) == []


def test_without_leaked_only_key_rotation_owners_are_told(sm: RotateProject,
                                                          http_sink: HttpSink) -> None:
    sm.notify_url = http_sink.apprise_url
    sm.write(SM_SECRET)
    r = sm.run("rotate", "API_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = sm.run_ids()
    told = {e["data"]["person"] for e in sm.events(run_id) if e["type"] == "delivery"}
    assert told == {"alice"}
