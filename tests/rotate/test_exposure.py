"""`rotate --leaked`: what the leaked credential was used for in its exposure window (from the
first commit that held it, or --since, to its revocation): IAM's last use of the key (moto
checking signatures, so a call with the key really records it) and CloudTrail's events by key
(a strict local fake: moto has none), through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from breakglass.config.models import AwsConfig
from breakglass.runbooks.rotate import exposure
from tests.rotate.aws_project import RotateProject, iam_keys, rotate_project
from tests.rotate.cloudtrail_fake import CloudTrailFake, cloudtrail
from tests.servers.moto import AuthedMoto, AwsKey

__all__ = ["cloudtrail", "rotate_project"]  # the fixtures, imported for pytest

USER = "ci-deploy"
LEAKED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def git(repo: Path, *args: str, at: datetime | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    if at is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = at.isoformat()
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


@pytest.fixture
def leaked(aws_auth: AuthedMoto, rotate_project: Any, cloudtrail: CloudTrailFake,
           tmp_path: Path) -> Iterator[tuple[RotateProject, AwsKey]]:
    """An IAM key whose secret was committed to a repository two days ago."""
    admin_iam = aws_auth.client("iam")
    admin_iam.create_user(UserName=USER)
    key = admin_iam.create_access_key(UserName=USER)["AccessKey"]
    old = AwsKey(key["AccessKeyId"], key["SecretAccessKey"])
    aws_auth.client("secretsmanager").create_secret(
        Name="ci/aws-key", SecretString=json.dumps({"AccessKeyId": old.access_key_id,
                                                    "SecretAccessKey": old.secret_access_key}))
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("app\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "start", at=LEAKED_AT - timedelta(days=5))
    (repo / "deploy.env").write_text(f"AWS_SECRET_ACCESS_KEY={old.secret_access_key}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "deploy settings", at=LEAKED_AT)
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    proj: RotateProject = rotate_project(aws_auth.server, aws_auth.admin)
    proj.aws_more = f'service_endpoints = {{ cloudtrail = "{cloudtrail.url}" }}\n'
    proj.write(f'[secrets.CI_KEY]\nkind = "aws_iam_key"\niam_user = "{USER}"\n'
               f'store = "aws-sm:ci/aws-key"\nrepository = "{repo}"\n')
    yield proj, old


def run_leaked(proj: RotateProject, *args: str) -> dict[str, Any]:
    r = proj.run("rotate", "CI_KEY", "--leaked", "--yes", "--json", *args)
    return dict(json.loads(r.stdout))


def by_code(result: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in result["findings"] if f["code"] == code)


def test_a_use_since_the_first_commit_is_an_error_listing_the_events_after_revocation(
        leaked: tuple[RotateProject, AwsKey], cloudtrail: CloudTrailFake,
        aws_auth: AuthedMoto) -> None:
    proj, old = leaked
    key = old.access_key_id
    cloudtrail.add(key, LEAKED_AT - timedelta(hours=3), "ListBuckets", "10.0.0.5", "ci")
    cloudtrail.add(key, LEAKED_AT + timedelta(hours=1), "CreateUser", "198.51.100.7",
                   "python-requests/2.31")
    cloudtrail.add(key, LEAKED_AT + timedelta(hours=2), "CreateAccessKey", "198.51.100.7",
                   "python-requests/2.31")
    result = run_leaked(proj)
    assert result["exit_code"] == 1
    used = by_code(result, "LEAKED_KEY_USED")
    assert used["severity"] == "error" and used["action"].startswith("investigate")
    events = used["evidence"]["events"]
    # Counted from the leak (the commit's date): the call before it is not the leak's.
    assert events["count"] == 2
    assert events["names"] == {"CreateUser": 1, "CreateAccessKey": 1}
    assert events["ips"] == {"198.51.100.7": 2}
    assert "198.51.100.7" in used["message"] and "CreateUser" in used["message"]
    assert datetime.fromisoformat(used["evidence"]["since"]) == LEAKED_AT
    (asked,) = cloudtrail.calls
    assert asked["LookupAttributes"] == [{"AttributeKey": "AccessKeyId", "AttributeValue": key}]
    assert datetime.fromtimestamp(asked["StartTime"], UTC) == LEAKED_AT
    # Containment was not held up: the leaked key is gone, and it was revoked before the look.
    assert key not in iam_keys(aws_auth, USER)
    order = [e["data"]["step"] for e in proj.events(result["run_id"])
             if e["type"] == "step_done"]
    assert order.index("revoke") < order.index("exposure") < order.index("delete")
    assert proj.leaks(old.secret_access_key) == []
    pushed = by_code(result, "LEAKED_COMMITS_PUSHED")
    assert "origin/main" in pushed["message"] and "as of the last fetch" in pushed["message"]


def test_no_use_in_the_window_is_a_note_and_the_rotation_passes(
        leaked: tuple[RotateProject, AwsKey], cloudtrail: CloudTrailFake) -> None:
    proj, old = leaked
    cloudtrail.add(old.access_key_id, LEAKED_AT - timedelta(days=1, hours=1), "ListBuckets",
                   "10.0.0.5", "ci")
    result = run_leaked(proj)
    assert result["exit_code"] == 0
    note = by_code(result, "LEAKED_KEY_NOT_USED")
    assert note["outcome"] == "note"


def test_since_moves_the_window_start(leaked: tuple[RotateProject, AwsKey],
                                      cloudtrail: CloudTrailFake) -> None:
    proj, old = leaked
    cloudtrail.add(old.access_key_id, LEAKED_AT - timedelta(hours=3), "ListBuckets",
                   "203.0.113.9", "curl")
    since = LEAKED_AT - timedelta(days=1)
    result = run_leaked(proj, "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ"))
    used = by_code(result, "LEAKED_KEY_USED")
    assert used["evidence"]["events"]["ips"] == {"203.0.113.9": 1}
    assert datetime.fromtimestamp(cloudtrail.calls[0]["StartTime"], UTC) == since


def test_cloudtrail_denied_is_unverified_never_a_pass_and_the_key_is_still_deleted(
        leaked: tuple[RotateProject, AwsKey], cloudtrail: CloudTrailFake,
        aws_auth: AuthedMoto) -> None:
    proj, old = leaked
    cloudtrail.denied = True
    result = run_leaked(proj)
    assert result["exit_code"] == 3
    f = by_code(result, "EXPOSURE_UNVERIFIED")
    assert f["outcome"] == "unverified" and "CloudTrail" in f["message"]
    assert "LEAKED_KEY_NOT_USED" not in {x["code"] for x in result["findings"]}
    assert old.access_key_id not in iam_keys(aws_auth, USER)


def test_since_without_leaked_is_a_usage_error(leaked: tuple[RotateProject, AwsKey]) -> None:
    proj, _ = leaked
    r = proj.run("rotate", "CI_KEY", "--since", "2026-01-01", "--dry-run")
    assert r.returncode == 2 and "--since" in r.stderr and "Traceback" not in r.stderr


# -- the probe alone, against moto checking signatures -----------------------------------------

@pytest.fixture
def probe_config(aws_auth: AuthedMoto, cloudtrail: CloudTrailFake,
                 monkeypatch: pytest.MonkeyPatch) -> Any:
    """What exposure.look reads (`config.aws`), signing as moto's admin."""
    for name, value in aws_auth.server.env(aws_auth.admin).items():
        monkeypatch.setenv(name, value)
    return SimpleNamespace(aws=AwsConfig(
        region=aws_auth.server.region, endpoint_url=aws_auth.server.endpoint_url,
        service_endpoints={"cloudtrail": cloudtrail.url}))


def test_iam_last_use_inside_the_window_is_an_error_with_service_and_region(
        aws_auth: AuthedMoto, probe_config: Any) -> None:
    iam = aws_auth.client("iam")
    iam.create_user(UserName=USER)
    made = iam.create_access_key(UserName=USER)["AccessKey"]
    key = AwsKey(made["AccessKeyId"], made["SecretAccessKey"])
    iam.put_user_policy(UserName=USER, PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                 "Resource": "*"}]}))
    since = datetime.now(UTC) - timedelta(minutes=5)
    aws_auth.client("sts", key).get_caller_identity()  # the attacker's call
    config = probe_config
    result = exposure.look("aws_iam_key", config, key.access_key_id, since,
                           datetime.now(UTC) + timedelta(minutes=1))
    (used,) = exposure.findings(result, "secrets.CI_KEY")
    assert used.code == "LEAKED_KEY_USED" and used.severity == "error"
    assert used.evidence["last_used"]["service"] == "sts"
    assert used.evidence["last_used"]["region"] == aws_auth.server.region
    # Used, but before the window: nothing the leak is blamed for.
    later = exposure.look("aws_iam_key", config, key.access_key_id,
                          datetime.now(UTC) + timedelta(minutes=1),
                          datetime.now(UTC) + timedelta(minutes=2))
    assert [f.code for f in exposure.findings(later, "s")] == ["LEAKED_KEY_NOT_USED"]


def test_a_deleted_key_is_unverified_not_unused(probe_config: Any) -> None:
    now = datetime.now(UTC)
    result = exposure.look("aws_iam_key", probe_config, "AKIAEXAMPLEGONE00000", now, now)
    found = exposure.findings(result, "s")
    assert [(f.code, f.outcome) for f in found] == [("EXPOSURE_UNVERIFIED", "unverified")]
    assert "IAM" in found[0].message


# -- git: were the commits holding the value pushed? (real repositories, a bare remote) --------

def test_pushed_names_the_remote_branches_holding_the_commit_as_of_the_last_fetch(
        tmp_path: Path) -> None:
    remote, repo = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(repo))
    (repo / "a.env").write_text("KEY=leaked-value-1234\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "leak")
    leak = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "push", "-q", "origin", "HEAD:main", "HEAD:release")
    (repo / "b.txt").write_text("local only\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "local")
    local = git(repo, "rev-parse", "HEAD").strip()

    got = exposure.pushed(repo, [leak])
    assert got["branches"] == ["origin/main", "origin/release"]
    (f,) = exposure.findings({"git": got}, "s")
    assert f.code == "LEAKED_COMMITS_PUSHED" and "no fetch was made" in f.message

    only_local = exposure.pushed(repo, [local])
    assert only_local["branches"] == [] and only_local["remotes"] == ["origin"]
    (g,) = exposure.findings({"git": only_local}, "s")
    assert g.code == "LEAKED_COMMITS_NOT_PUSHED" and "git fetch" in g.action


def test_pushed_of_a_path_that_is_not_a_repository_is_unverified(tmp_path: Path) -> None:
    got = exposure.pushed(tmp_path, ["0" * 40])
    (f,) = exposure.findings({"git": got}, "s")
    assert (f.code, f.outcome) == ("EXPOSURE_UNVERIFIED", "unverified")
