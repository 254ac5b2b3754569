"""A state that breakglass must not use: one line naming what is wrong and the fix, the right
exit code, and nothing written — no marker changed, no journal on the machine, the bucket as it
was (read with boto3)."""

from __future__ import annotations

import json

import pytest

from tests.servers.moto import AuthedMoto
from tests.state.conftest import Machine, StateBucket, one_line
from tests.state.s3servers import FaultProxy


def _refused(m: Machine, code: int, *, env: dict[str, str] | None = None) -> str:
    """A mutating run refused with `code` before any change; its one line."""
    r = m.run("markers", "--dir", str(m.markers), "--yes", env=env)
    assert r.returncode == code, r.stdout + r.stderr
    assert m.applied() == []
    assert m.local_runs() == []
    return one_line(r.stderr)


def test_a_bucket_that_does_not_exist_is_a_usage_error(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy) -> None:
    a, _ = machines
    a.write(f"s3://{bucket.name}-gone/team/", faults.endpoint_url)

    line = _refused(a, 2)

    assert f"bucket '{bucket.name}-gone' does not exist" in line
    assert bucket.name + "-gone" not in [b["Name"] for b in bucket.client.list_buckets()["Buckets"]]


@pytest.mark.parametrize(("key", "body", "says"), [
    ("notes/todo.txt", b"someone else's", "holds other objects"),
    ("breakglass-state.json", json.dumps({"format": 99}).encode(), "newer breakglass"),
])
def test_a_prefix_breakglass_cannot_use_is_refused_and_left_as_it_was(
        machines: tuple[Machine, Machine], bucket: StateBucket, key: str, body: bytes,
        says: str) -> None:
    a, _ = machines
    bucket.put(key, body)

    line = _refused(a, 2)

    assert says in line
    assert bucket.url in line
    assert bucket.keys() == [key]
    assert bucket.get(key) == body


def test_access_denied_exits_3_naming_the_refused_call(
        machines: tuple[Machine, Machine], aws_auth: AuthedMoto) -> None:
    a, _ = machines
    s3 = aws_auth.client("s3")
    s3.create_bucket(Bucket="team-state")
    iam = aws_auth.client("iam")
    iam.create_user(UserName="intern")
    key = iam.create_access_key(UserName="intern")["AccessKey"]  # and no policy at all
    a.write("s3://team-state/team/", aws_auth.server.endpoint_url)

    line = _refused(a, 3, env=a.env(AWS_ACCESS_KEY_ID=key["AccessKeyId"],
                                    AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"]))

    assert "access denied to GetObject" in line
    assert s3.list_objects_v2(Bucket="team-state").get("KeyCount") == 0
