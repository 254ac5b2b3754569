"""What a run saves in round trips to S3 without giving up a guarantee: the machine that released
a lease takes it back with one conditional write (and never takes a lease someone holds with
it); a record is created once per run by If-None-Match alone; a records folder is listed once
while a run goes on, and afresh after the run's own append. Requests are counted by the fault
proxy (`seen`); end states are read with boto3."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from breakglass.config.models import AwsConfig
from breakglass.errors import LockHeld
from breakglass.state.s3 import S3State
from tests.servers.moto import REGION
from tests.state.conftest import PREFIX, StateBucket
from tests.state.s3servers import FaultProxy

TTL = timedelta(seconds=60)  # no heartbeat during a test
LOCK = "locks/test.trips__t.json"
HISTORY = "drills/history"


def _machine(faults: FaultProxy, bucket: StateBucket, root: Path) -> S3State:
    state = S3State(bucket.url, root, AwsConfig(endpoint_url=faults.endpoint_url, region=REGION),
                    lease_ttl=TTL, evidence_retention=None)
    state.check()  # the marker: once per process, not what these tests count
    return state


def _lease_doc(bucket: StateBucket) -> dict[str, object]:
    doc: dict[str, object] = json.loads(bucket.get(LOCK))
    return doc


def _requests(faults: FaultProxy, bucket: StateBucket, folder: str) -> list[tuple[str, str]]:
    """(method, path) of the requests that reached `folder` of the state, or listed it."""
    where = f"/{bucket.name}/{PREFIX}{folder}"
    listing = f"prefix={PREFIX}{folder}".replace("/", "%2F")
    return [(method, path) for method, path, _ in faults.seen
            if path.startswith(where) or listing in path]


@pytest.fixture
def a(faults: FaultProxy, bucket: StateBucket, tmp_path: Path) -> S3State:
    return _machine(faults, bucket, tmp_path / "a")


@pytest.fixture
def b(faults: FaultProxy, bucket: StateBucket, tmp_path: Path) -> S3State:
    return _machine(faults, bucket, tmp_path / "b")


def test_the_machine_that_released_a_lease_takes_it_back_with_one_write(
        a: S3State, faults: FaultProxy, bucket: StateBucket) -> None:
    first = a.lease("test.trips", "t")
    first.acquire("run-1")
    first.release()
    faults.clear()

    second = a.lease("test.trips", "t")
    taken_over = second.acquire("run-2")

    assert taken_over is None  # a released lease is nobody's: no takeover to journal
    assert [m for m, _ in _requests(faults, bucket, "locks/")] == ["PUT"]
    assert (_lease_doc(bucket)["run_id"], _lease_doc(bucket)["released"]) == ("run-2", False)
    second.release()


def test_a_remembered_release_never_takes_a_lease_another_machine_holds_now(
        a: S3State, b: S3State, bucket: StateBucket) -> None:
    mine = a.lease("test.trips", "t")
    mine.acquire("run-a1")
    mine.release()
    theirs = b.lease("test.trips", "t")
    theirs.acquire("run-b")

    with pytest.raises(LockHeld, match="held by run run-b"):
        a.lease("test.trips", "t").acquire("run-a2")

    assert (_lease_doc(bucket)["run_id"], _lease_doc(bucket)["released"]) == ("run-b", False)
    theirs.release()


def test_a_remembered_release_of_a_lease_deleted_by_hand_creates_it_again(
        a: S3State, bucket: StateBucket) -> None:
    first = a.lease("test.trips", "t")
    first.acquire("run-1")
    first.release()
    bucket.client.delete_object(Bucket=bucket.name, Key=PREFIX + LOCK)

    second = a.lease("test.trips", "t")
    second.acquire("run-2")

    assert (_lease_doc(bucket)["run_id"], _lease_doc(bucket)["released"]) == ("run-2", False)
    second.release()


def test_a_run_s_record_is_created_once_by_a_conditional_write_without_a_listing(
        a: S3State, b: S3State, faults: FaultProxy, bucket: StateBucket) -> None:
    record = {"run_id": "20261207T101500123456-7f3a", "verdict": "passed"}

    assert a.append_record(HISTORY, record) is True
    assert b.append_record(HISTORY, {**record, "verdict": "failed"}) is False  # resumed elsewhere

    assert [m for m, _ in _requests(faults, bucket, f"records/{HISTORY}/")] == ["PUT", "PUT"]
    assert bucket.keys(f"records/{HISTORY}/") == [f"records/{HISTORY}/{record['run_id']}.json"]
    assert json.loads(bucket.get(f"records/{HISTORY}/{record['run_id']}.json")) == record
    assert b.records(HISTORY) == [record]


def test_a_run_lists_a_records_folder_once_and_afresh_after_its_own_append(
        a: S3State, faults: FaultProxy, bucket: StateBucket) -> None:
    other = {"run_id": "20261207T090000000000-0001", "verdict": "passed"}
    own = {"run_id": "20261207T100000000000-0002", "verdict": "passed"}
    lease = a.lease("test.trips", "t")
    lease.acquire(own["run_id"])
    faults.clear()

    assert a.records(HISTORY) == []
    # another machine's drill ends meanwhile
    bucket.put(f"records/{HISTORY}/{other['run_id']}.json", json.dumps(other).encode())
    assert a.records(HISTORY) == []  # the run's own reads: listed once
    a.append_record(HISTORY, own)
    after = a.records(HISTORY)  # after its append the run sees every machine's records

    assert after == [other, own]
    listings = [p for m, p in _requests(faults, bucket, f"records/{HISTORY}/") if m == "GET"
                and "list-type" in p]
    assert len(listings) == 2
    lease.release()
    faults.clear()
    assert a.records(HISTORY) == [other, own]
    assert len(_requests(faults, bucket, f"records/{HISTORY}/")) == 1  # no run: always listed
