"""A race for one lease has exactly one winner: three contenders start together (a barrier) and
call S3Lease.acquire on the same key, fifty times over; the lease object, read with boto3,
names the winner."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from breakglass.config.models import AwsConfig
from breakglass.connectors.s3objects import Bucket
from breakglass.errors import LockHeld
from breakglass.state.base import lease_name
from breakglass.state.s3 import S3Lease
from tests.servers.moto import REGION
from tests.state.conftest import PREFIX, StateBucket
from tests.state.s3servers import SerialMoto

CONTENDERS = 3
ROUNDS = 50
TTL = timedelta(seconds=60)  # no heartbeat during a round


@pytest.fixture
def contenders(serial_moto: SerialMoto, bucket: StateBucket) -> list[Bucket]:
    """One breakglass Bucket (own boto3 client) per contender, clients made beforehand."""
    settings = AwsConfig(endpoint_url=serial_moto.endpoint_url, region=REGION)
    out = [Bucket(settings, bucket.name, PREFIX, bucket.url) for _ in range(CONTENDERS)]
    for b in out:
        assert b.client is not None
    return out


def _race(contenders: list[Bucket], target: str, round_: int) -> list[tuple[str, S3Lease]]:
    """(run id, lease) of every contender whose acquire returned."""
    barrier = threading.Barrier(len(contenders))
    winners: list[tuple[str, S3Lease]] = []
    errors: list[BaseException] = []

    def contend(i: int, b: Bucket) -> None:
        lease = S3Lease(b, "test.race", target, TTL)
        run_id = f"run-{round_}-{i}"
        barrier.wait()
        try:
            lease.acquire(run_id)
        except LockHeld:
            return
        except BaseException as exc:
            errors.append(exc)
            return
        winners.append((run_id, lease))

    threads = [threading.Thread(target=contend, args=(i, b)) for i, b in enumerate(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    return winners


def _holder(bucket: StateBucket, target: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(bucket.get(f"locks/{lease_name('test.race', target)}"
                                                   ".json"))
    return doc


def test_a_race_to_create_a_lease_has_exactly_one_winner_every_time(
        contenders: list[Bucket], bucket: StateBucket) -> None:
    for round_ in range(ROUNDS):
        target = f"fresh-{round_}"

        winners = _race(contenders, target, round_)

        assert len(winners) == 1, f"round {round_}: {[w for w, _ in winners]}"
        ((run_id, lease),) = winners
        assert _holder(bucket, target)["run_id"] == run_id
        lease.release()


def test_a_race_to_take_a_released_lease_has_exactly_one_winner_every_time(
        contenders: list[Bucket], bucket: StateBucket) -> None:
    first = S3Lease(contenders[0], "test.race", "shared", TTL)
    first.acquire("run-first")
    first.release()
    for round_ in range(ROUNDS):
        assert _holder(bucket, "shared")["released"] is True

        winners = _race(contenders, "shared", round_)

        assert len(winners) == 1, f"round {round_}: {[w for w, _ in winners]}"
        ((run_id, lease),) = winners
        doc = _holder(bucket, "shared")
        assert (doc["run_id"], doc["released"]) == (run_id, False)
        lease.release()
