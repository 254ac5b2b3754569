"""ops.state_bucket through `breakglass check`: the shared state's bucket must be versioned, have
Object Lock and block public access; a bucket whose settings the credentials may not read
is "could not verify" (exit 3); a local state has nothing to check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.checklist.check_project import CheckProject
from tests.records.shared import make_bucket, share
from tests.servers.moto import AuthedMoto, AwsKey, MotoServer

ITEM = "ops.state_bucket"


def _check(tmp_path: Path, http_sink: Any, endpoint: str, url: str | None
           ) -> tuple[int, dict[str, Any]]:
    proj = CheckProject(tmp_path / "p", notify_url=http_sink.apprise_url).write()
    if url is not None:
        share(proj.config, endpoint, url)
    code, data = proj.check_json("--only", ITEM)
    (item,) = data["items"]
    return code, item


def _codes(item: dict[str, Any]) -> list[str]:
    return [f["code"] for f in item["findings"]]


@pytest.mark.parametrize(("settings", "failures"), [
    ({}, ["STATE_BUCKET_NOT_VERSIONED", "STATE_BUCKET_NO_OBJECT_LOCK",
          "STATE_BUCKET_PUBLIC_ACCESS"]),
    ({"versioned": True, "public_access_blocked": True}, ["STATE_BUCKET_NO_OBJECT_LOCK"]),
    ({"object_lock": True}, ["STATE_BUCKET_PUBLIC_ACCESS"]),
], ids=["plain bucket", "no object lock", "public access not blocked"])
def test_a_state_bucket_missing_a_setting_fails(tmp_path: Path, aws: MotoServer,
                                                http_sink: Any, settings: dict[str, bool],
                                                failures: list[str]) -> None:
    code, item = _check(tmp_path, http_sink, aws.endpoint_url, make_bucket(aws, **settings))
    assert code == 1
    assert item["verdict"] == "failed"
    assert _codes(item) == failures


def test_a_versioned_object_locked_private_state_bucket_passes(tmp_path: Path, aws: MotoServer,
                                                                 http_sink: Any) -> None:
    url = make_bucket(aws, object_lock=True, public_access_blocked=True)
    s3 = aws.client("s3")
    # the test's own look at the bucket: Object Lock brings versioning with it
    assert s3.get_bucket_versioning(Bucket="team-state")["Status"] == "Enabled"
    code, item = _check(tmp_path, http_sink, aws.endpoint_url, url)
    assert (code, item["verdict"], _codes(item)) == (0, "passed", [])
    assert item["evidence"]["object_lock"] is True


def test_a_state_bucket_whose_settings_cannot_be_read_could_not_verify_exit_3(
        tmp_path: Path, aws_auth: AuthedMoto, http_sink: Any) -> None:
    # Credentials that may use the state (objects) but not read the bucket's settings.
    aws_auth.client("s3").create_bucket(Bucket="team-state")
    iam = aws_auth.client("iam")
    iam.create_user(UserName="runner")
    iam.put_user_policy(UserName="runner", PolicyName="state", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Resource": "*", "Action": [
                "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration",
                "s3:GetBucketPublicAccessBlock"]}]}))
    made = iam.create_access_key(UserName="runner")["AccessKey"]
    key = AwsKey(made["AccessKeyId"], made["SecretAccessKey"])
    proj = CheckProject(tmp_path / "p", notify_url=http_sink.apprise_url).write()
    share(proj.config, aws_auth.server.endpoint_url, "s3://team-state/team/")
    r = proj.run("check", "--only", ITEM, "--json", env=proj.env(**aws_auth.server.env(key)))
    assert r.returncode == 3, r.stdout + r.stderr
    (item,) = json.loads(r.stdout)["items"]
    assert item["verdict"] == "could not verify"
    assert _codes(item) == ["AWS_ACCESS_DENIED"]
    assert "GetBucketVersioning" in item["findings"][0]["message"]


def test_a_local_state_has_no_bucket_to_check(tmp_path: Path, http_sink: Any) -> None:
    code, item = _check(tmp_path, http_sink, "", None)
    assert (code, item["verdict"]) == (0, "passed")
    assert _codes(item) == ["STATE_LOCAL"]
