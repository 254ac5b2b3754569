"""A holder learns that its lease is gone (a run checks `lost` before each change): taken over by
another machine, or not renewed (S3 refusing every renewal) — then never later than the expiry
the others read in the bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from breakglass.config.models import AwsConfig
from breakglass.connectors.s3objects import Bucket
from breakglass.state.s3 import S3Lease
from tests.servers.moto import REGION
from tests.state.conftest import PREFIX, StateBucket, wait_for
from tests.state.s3servers import FaultProxy

TTL = timedelta(seconds=3)


def _bucket(endpoint_url: str, bucket: StateBucket) -> Bucket:
    return Bucket(AwsConfig(endpoint_url=endpoint_url, region=REGION), bucket.name, PREFIX,
                  bucket.url)


def _doc(bucket: StateBucket) -> dict[str, object]:
    doc: dict[str, object] = json.loads(bucket.get("locks/test.lost__t.json"))
    return doc


def test_a_lease_taken_over_is_lost_for_its_holder_whose_release_leaves_it_alone(
        faults: FaultProxy, bucket: StateBucket) -> None:
    holder = S3Lease(_bucket(faults.endpoint_url, bucket), "test.lost", "t", TTL)
    holder.acquire("run-1")
    other = S3Lease(_bucket(faults.endpoint_url, bucket), "test.lost", "t", TTL)

    previous = other.acquire("run-2", take_over=True)

    assert previous is not None and previous.run_id == "run-1"
    wait_for(lambda: holder.lost is not None, "the holder sees it lost its lease")
    assert holder.lost == "another machine took the lease over"
    holder.release()
    assert (_doc(bucket)["run_id"], _doc(bucket)["released"]) == ("run-2", False)
    other.release()


def test_a_lease_that_cannot_be_renewed_is_lost_no_later_than_its_written_expiry(
        faults: FaultProxy, bucket: StateBucket) -> None:
    lease = S3Lease(_bucket(faults.endpoint_url, bucket), "test.lost", "t", TTL)
    lease.acquire("run-1")
    refused = faults.arm("PUT", f"/{bucket.name}/team/locks/", "500", times=1_000_000)

    def lost_or_still_valid() -> bool:
        looked = datetime.now(UTC)
        if lease.lost is not None:
            return True
        # while the holder counts on it, nobody else may take it
        assert looked < datetime.fromisoformat(str(_doc(bucket)["expires"]))
        return False

    wait_for(lost_or_still_valid, "the holder sees its lease lapse")

    assert refused.hit > 0
    assert lease.lost is not None and "could not be renewed before it expired" in lease.lost
    lease.release()
