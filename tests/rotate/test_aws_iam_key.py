"""`breakglass rotate` of `kind = "aws_iam_key"` against moto enforcing signatures, through the
real CLI: the new key works, the old one is refused, never more than two keys, --leaked deletes
the old key in the same run, a SIGKILL anywhere is finished by `runs.resume`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.rotate.aws_project import RotateProject, iam_keys, rotate_project
from tests.rotate.cloudtrail_fake import CloudTrailFake, cloudtrail
from tests.servers.moto import AuthedMoto, AwsKey
from tests.servers.sinks import HttpSink

__all__ = ["cloudtrail", "rotate_project"]  # the fixtures, imported for pytest

USER = "ci-deploy"


@pytest.fixture
def iam(aws_auth: AuthedMoto, rotate_project: Any, cloudtrail: CloudTrailFake
        ) -> Iterator[tuple[RotateProject, AwsKey]]:
    admin_iam = aws_auth.client("iam")
    admin_iam.create_user(UserName=USER)
    key = admin_iam.create_access_key(UserName=USER)["AccessKey"]
    old = AwsKey(key["AccessKeyId"], key["SecretAccessKey"])
    aws_auth.client("secretsmanager").create_secret(
        Name="ci/aws-key", SecretString=json.dumps({"AccessKeyId": old.access_key_id,
                                                    "SecretAccessKey": old.secret_access_key}))
    proj: RotateProject = rotate_project(aws_auth.server, aws_auth.admin)
    # --leaked looks up the key's CloudTrail events (moto has none)
    proj.aws_more = f'service_endpoints = {{ cloudtrail = "{cloudtrail.url}" }}\n'
    proj.write(f'[secrets.CI_KEY]\nkind = "aws_iam_key"\niam_user = "{USER}"\n'
               'store = "aws-sm:ci/aws-key"\n')
    yield proj, old


def stored_key(aws_auth: AuthedMoto) -> AwsKey:
    doc = json.loads(aws_auth.client("secretsmanager").get_secret_value(
        SecretId="ci/aws-key", VersionStage="AWSCURRENT")["SecretString"])
    return AwsKey(doc["AccessKeyId"], doc["SecretAccessKey"])


def sts_accepts(aws_auth: AuthedMoto, key: AwsKey) -> bool:
    import botocore.exceptions

    try:
        aws_auth.client("sts", key).get_caller_identity()
    except botocore.exceptions.ClientError:
        return False
    return True


class KeyWatch:
    """Polls ListAccessKeys while a run goes on: the most keys the user ever had."""

    def __init__(self, aws_auth: AuthedMoto) -> None:
        self.client, self.most, self._stop = aws_auth.client("iam"), 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            got = self.client.list_access_keys(UserName=USER)["AccessKeyMetadata"]
            self.most = max(self.most, len(got))
            self._stop.wait(0.02)

    def __enter__(self) -> KeyWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_iam_rotation_new_key_works_old_key_deleted_and_refused(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    with KeyWatch(aws_auth) as watch:
        r = proj.run("rotate", "CI_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    new = stored_key(aws_auth)
    assert new.access_key_id != old.access_key_id
    assert iam_keys(aws_auth, USER) == {new.access_key_id: "Active"}
    assert sts_accepts(aws_auth, new) and not sts_accepts(aws_auth, old)
    assert watch.most == 2
    assert proj.leaks(old.secret_access_key, new.secret_access_key) == []


def test_iam_with_grace_leaves_the_old_key_inactive(iam: tuple[RotateProject, AwsKey],
                                                    aws_auth: AuthedMoto) -> None:
    proj, old = iam
    proj.write(f'[secrets.CI_KEY]\nkind = "aws_iam_key"\niam_user = "{USER}"\n'
               'store = "aws-sm:ci/aws-key"\ngrace = "7d"\n')
    r = proj.run("rotate", "CI_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert iam_keys(aws_auth, USER) == {old.access_key_id: "Inactive",
                                        stored_key(aws_auth).access_key_id: "Active"}


def test_iam_next_rotation_deletes_the_inactive_key_left_by_grace_first(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    proj.write(f'[secrets.CI_KEY]\nkind = "aws_iam_key"\niam_user = "{USER}"\n'
               'store = "aws-sm:ci/aws-key"\ngrace = "7d"\n')
    assert proj.run("rotate", "CI_KEY", "--yes").returncode == 0
    second = stored_key(aws_auth)
    with KeyWatch(aws_auth) as watch:
        r = proj.run("rotate", "CI_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    keys = iam_keys(aws_auth, USER)
    assert old.access_key_id not in keys and keys[second.access_key_id] == "Inactive"
    assert watch.most == 2


def test_iam_leaked_deletes_the_old_key_in_the_same_run_despite_grace(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    proj.write(f'[secrets.CI_KEY]\nkind = "aws_iam_key"\niam_user = "{USER}"\n'
               'store = "aws-sm:ci/aws-key"\ngrace = "7d"\n')
    r = proj.run("rotate", "CI_KEY", "--leaked", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(iam_keys(aws_auth, USER)) == [stored_key(aws_auth).access_key_id]
    assert not sts_accepts(aws_auth, old)


def test_iam_revoke_first_deactivates_before_creating(iam: tuple[RotateProject, AwsKey],
                                                      aws_auth: AuthedMoto) -> None:
    proj, _ = iam
    r = proj.run("rotate", "CI_KEY", "--revoke-first", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "downtime accepted" in r.stdout
    (run_id,) = proj.run_ids()
    order = [e["data"]["step"] for e in proj.events(run_id) if e["type"] == "step_done"]
    assert order.index("revoke") < order.index("create")
    assert list(iam_keys(aws_auth, USER)) == [stored_key(aws_auth).access_key_id]


def test_iam_refuses_to_start_when_the_user_already_has_two_active_keys(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    extra = aws_auth.client("iam").create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    r = proj.run("rotate", "CI_KEY", "--yes", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "blocked by precondition secrets.CI_KEY.room"
    (refusal,) = [f for f in result["findings"] if f["code"] == "TWO_ACCESS_KEYS"]
    assert f"delete-access-key --user-name {USER} --access-key-id {extra}" in refusal["action"]
    assert iam_keys(aws_auth, USER) == {old.access_key_id: "Active", extra: "Active"}


def test_iam_store_in_ssm_parameter(aws_auth: AuthedMoto, rotate_project: Any) -> None:
    admin_iam = aws_auth.client("iam")
    admin_iam.create_user(UserName=USER)
    key = admin_iam.create_access_key(UserName=USER)["AccessKey"]
    aws_auth.client("ssm").put_parameter(Name="/ci/aws-key", Type="SecureString", Value=(
        json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]})))
    proj: RotateProject = rotate_project(aws_auth.server, aws_auth.admin)
    proj.write(f'[secrets.CI_KEY]\nkind = "aws_iam_key"\niam_user = "{USER}"\n'
               'store = "ssm:/ci/aws-key"\n')
    r = proj.run("rotate", "CI_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(aws_auth.client("ssm").get_parameter(
        Name="/ci/aws-key", WithDecryption=True)["Parameter"]["Value"])
    assert list(iam_keys(aws_auth, USER)) == [doc["AccessKeyId"]] != [key["AccessKeyId"]]
    assert proj.leaks(key["SecretAccessKey"], doc["SecretAccessKey"]) == []


IAM_POINTS = ["pin.after_apply", "create.mid", "create.after_apply", "create.after_verify",
              "verify_new.after_verify", "revoke.after_apply", "verify_old.after_verify",
              "delete.after_apply"]


@pytest.mark.parametrize("point", IAM_POINTS)
def test_iam_killed_anywhere_is_finished_by_resume_with_one_new_key(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto, point: str) -> None:
    proj, old = iam
    with KeyWatch(aws_auth) as watch:
        proj.kill_at(point, "CI_KEY")
        (run_id,) = proj.run_ids()
        r = proj.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    new = stored_key(aws_auth)
    assert iam_keys(aws_auth, USER) == {new.access_key_id: "Active"}
    assert sts_accepts(aws_auth, new) and not sts_accepts(aws_auth, old)
    assert watch.most == 2
    if point == "create.mid":  # the orphan (created, never stored) was deleted, not kept
        resumed = [e for e in proj.events(run_id) if e["type"] == "step_applied"
                   and e["data"]["step"] == "create"]
        assert resumed[-1]["data"]["result"]["deleted"], resumed
    assert proj.leaks(old.secret_access_key, new.secret_access_key) == []


def test_iam_notices_of_a_leak_reach_key_rotation_and_incident_response_owners(
        iam: tuple[RotateProject, AwsKey], http_sink: HttpSink) -> None:
    proj, old = iam
    proj.notify_url = http_sink.apprise_url
    proj.write(f'[secrets.CI_KEY]\nkind = "aws_iam_key"\niam_user = "{USER}"\n'
               'store = "aws-sm:ci/aws-key"\n')
    http_sink.clear()
    r = proj.run("rotate", "CI_KEY", "--leaked", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = proj.run_ids()
    told = {e["data"]["person"] for e in proj.events(run_id)
            if e["type"] == "delivery" and e["data"]["ok"]}
    assert told == {"alice", "bob"}
    assert proj.leaks(old.secret_access_key, sink=http_sink) == []


# -- IAM: refused permissions and --leaked containment ----------------------------------------

def restricted_key(aws_auth: AuthedMoto, *denied: str) -> AwsKey:
    """Credentials for breakglass that may do everything except `denied` (IAM actions)."""
    admin_iam = aws_auth.client("iam")
    admin_iam.create_user(UserName="bg-rotator")
    admin_iam.put_user_policy(UserName="bg-rotator", PolicyName="rotate", PolicyDocument=(
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": list(denied), "Resource": "*"}]})))
    key = admin_iam.create_access_key(UserName="bg-rotator")["AccessKey"]
    return AwsKey(key["AccessKeyId"], key["SecretAccessKey"])


def leaked_run(proj: RotateProject, *args: str) -> dict[str, Any]:
    r = proj.run("rotate", "CI_KEY", "--leaked", "--yes", "--json", *args)
    assert "Traceback" not in r.stderr, r.stderr
    result: dict[str, Any] = json.loads(r.stdout)
    assert result["exit_code"] == r.returncode
    return result


def test_iam_leaked_refuses_before_any_change_when_update_access_key_is_denied(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    proj.key = restricted_key(aws_auth, "iam:UpdateAccessKey")
    result = leaked_run(proj)
    assert result["exit_code"] == 1
    assert result["status"] == "blocked by precondition secrets.CI_KEY.access"
    first = result["findings"][0]
    assert first["code"] == "LEAKED_STILL_LIVE" and first["severity"] == "error", first
    assert f"{old.access_key_id} is STILL LIVE" in first["message"]
    assert "STS accepted it" in first["message"]
    assert "update-access-key" in first["action"]
    (denied,) = [f for f in result["findings"] if f["code"] == "IAM_ACTION_DENIED"]
    assert "iam:UpdateAccessKey" in denied["message"]
    assert iam_keys(aws_auth, USER) == {old.access_key_id: "Active"}  # nothing changed
    assert stored_key(aws_auth) == old and sts_accepts(aws_auth, old)
    assert proj.leaks(old.secret_access_key) == []


def test_iam_leaked_refusal_shows_the_leaked_key_status_first(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, _ = iam
    proj.key = restricted_key(aws_auth, "iam:UpdateAccessKey")
    r = proj.run("rotate", "CI_KEY", "--leaked", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    # Each finding is a block headed "✗ CODE  severity  subject", in the order shown.
    shown = [line.split()[1] for line in r.stdout.splitlines() if line[:2] in ("✗ ", "? ")]
    assert shown[0] == "LEAKED_STILL_LIVE" and "IAM_ACTION_DENIED" in shown, r.stdout


def stopped_at_revoke(proj: RotateProject, aws_auth: AuthedMoto) -> dict[str, Any]:
    """A --leaked run whose UpdateAccessKey is refused after the check passed (the permission
    taken away in between: here the check is overridden): the new key exists and is stored."""
    proj.key = restricted_key(aws_auth, "iam:UpdateAccessKey")
    return leaked_run(proj, "--override", "secrets.CI_KEY.access", "--because", "fault test")


def test_iam_update_access_key_denied_is_access_denied_and_the_leaked_key_still_live(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    result = stopped_at_revoke(proj, aws_auth)
    assert result["exit_code"] == 1, result
    first = result["findings"][0]
    assert first["code"] == "LEAKED_STILL_LIVE" and "STS accepted it" in first["message"]
    codes = [f["code"] for f in result["findings"]]
    assert "AWS_ACCESS_DENIED" in codes and "AWS_UNREACHABLE" not in codes
    (denied,) = [f for f in result["findings"] if f["code"] == "AWS_ACCESS_DENIED"]
    assert "UpdateAccessKey" in denied["message"] and "bucket" not in denied["action"]
    new = stored_key(aws_auth)
    assert iam_keys(aws_auth, USER) == {old.access_key_id: "Active", new.access_key_id: "Active"}
    assert sts_accepts(aws_auth, old)
    assert proj.leaks(old.secret_access_key, new.secret_access_key) == []


def test_iam_a_fresh_leaked_run_still_refused_names_the_leaked_key_not_the_new_one(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    stopped_at_revoke(proj, aws_auth)
    new = stored_key(aws_auth)
    result = leaked_run(proj)  # the permission is still missing
    assert result["status"] == "blocked by precondition secrets.CI_KEY.access", result
    codes = [f["code"] for f in result["findings"]]
    assert codes[0] == "LEAKED_STILL_LIVE" and "TWO_ACCESS_KEYS" not in codes
    assert result["findings"][0]["evidence"]["leaked_id"] == old.access_key_id
    assert iam_keys(aws_auth, USER) == {old.access_key_id: "Active", new.access_key_id: "Active"}


def test_iam_a_fresh_leaked_run_finishes_the_stopped_one_with_its_new_key(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    stopped_at_revoke(proj, aws_auth)
    new = stored_key(aws_auth)
    proj.key = aws_auth.admin  # the permission is back
    with KeyWatch(aws_auth) as watch:
        result = leaked_run(proj)
    assert result["exit_code"] == 0, result
    assert result["findings"][0]["code"] == "LEAKED_DEAD", result["findings"]
    assert "TWO_ACCESS_KEYS" not in {f["code"] for f in result["findings"]}
    # The key the stopped run created is kept and the leaked one is gone: no third key.
    assert iam_keys(aws_auth, USER) == {new.access_key_id: "Active"}
    assert stored_key(aws_auth) == new and watch.most == 2
    assert sts_accepts(aws_auth, new) and not sts_accepts(aws_auth, old)


def test_iam_store_write_denied_after_create_deletes_the_new_key_again(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    proj.key = restricted_key(aws_auth, "secretsmanager:PutSecretValue")
    result = leaked_run(proj)
    assert result["exit_code"] == 1, result
    assert result["findings"][0]["code"] == "LEAKED_STILL_LIVE"
    assert "AWS_ACCESS_DENIED" in {f["code"] for f in result["findings"]}
    assert iam_keys(aws_auth, USER) == {old.access_key_id: "Active"}  # no orphan
    assert stored_key(aws_auth) == old
    proj.key = aws_auth.admin
    assert leaked_run(proj)["exit_code"] == 0
    new = stored_key(aws_auth)
    assert new != old and iam_keys(aws_auth, USER) == {new.access_key_id: "Active"}


def test_iam_resume_after_update_access_key_was_denied_deletes_the_leaked_key(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    stopped_at_revoke(proj, aws_auth)
    new = stored_key(aws_auth)
    (run_id,) = proj.run_ids()
    proj.key = aws_auth.admin  # the permission is back
    r = proj.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert iam_keys(aws_auth, USER) == {new.access_key_id: "Active"}
    assert sts_accepts(aws_auth, new) and not sts_accepts(aws_auth, old)
    shown = json.loads(proj.run("runs.show", run_id, "--json").stdout)
    assert shown["findings"][0]["code"] == "LEAKED_DEAD"


def test_iam_resume_after_the_store_refused_the_write_finishes_with_one_new_key(
        iam: tuple[RotateProject, AwsKey], aws_auth: AuthedMoto) -> None:
    proj, old = iam
    proj.key = restricted_key(aws_auth, "secretsmanager:PutSecretValue")
    assert leaked_run(proj)["exit_code"] == 1
    (run_id,) = proj.run_ids()
    proj.key = aws_auth.admin
    with KeyWatch(aws_auth) as watch:
        r = proj.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    new = stored_key(aws_auth)
    assert new != old and iam_keys(aws_auth, USER) == {new.access_key_id: "Active"}
    assert watch.most == 2 and not sts_accepts(aws_auth, old)
