"""Two writers appending to one shared journal never fork it: each round both start from the same
ETag and append at once (a barrier); one of them gets StateLost (JOURNAL_CONFLICT), and the
object in the bucket — every version of it — is one hash chain that only grows."""

from __future__ import annotations

import threading
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from breakglass.config.models import AwsConfig
from breakglass.connectors.s3objects import Obj
from breakglass.engine import journal as jr
from breakglass.engine.redaction import Redactor
from breakglass.errors import StateLost
from breakglass.state.s3 import S3Journal, S3State
from tests.servers.moto import REGION
from tests.state.conftest import PREFIX, StateBucket, chain_problems
from tests.state.s3servers import SerialMoto

ROUNDS = 50
KEY = "runs/20260101T000000-beef.jsonl"


def _writer(state: S3State, bucket: StateBucket, folder: Path) -> jr.Journal:
    """A journal continuing what the bucket holds now, appending through S3Journal with the
    ETag it read."""
    got = bucket.client.get_object(Bucket=bucket.name, Key=PREFIX + KEY)
    path = folder / "runs" / Path(KEY).name
    path.parent.mkdir(parents=True)
    body = got["Body"].read()
    path.write_bytes(body)
    return jr.Journal.reopen(path, Redactor(), S3Journal(state, KEY, Obj(KEY, got["ETag"], body)))


def _append_at_once(writers: dict[str, jr.Journal], round_: int) -> dict[str, StateLost]:
    """Both writers append one event at the same moment; the StateLost each one got."""
    barrier = threading.Barrier(len(writers))
    lost: dict[str, StateLost] = {}

    def append(w: str) -> None:
        barrier.wait()
        try:
            # a commit point: written to the bucket at once (a step's progress would wait)
            writers[w].append("step_apply_started", {"writer": w, "round": round_})
        except StateLost as exc:
            lost[w] = exc

    threads = [threading.Thread(target=append, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return lost


def test_two_writers_from_the_same_etag_never_fork_the_chain(
        serial_moto: SerialMoto, bucket: StateBucket, tmp_path: Path) -> None:
    bucket.versioned()
    state = S3State(bucket.url, tmp_path / "cache",
                    AwsConfig(endpoint_url=serial_moto.endpoint_url, region=REGION),
                    lease_ttl=timedelta(seconds=60), evidence_retention=None)
    jr.Journal.create(tmp_path / "first", Path(KEY).stem, Redactor(),
                      S3Journal(state, KEY, None)).append("run_started", {"by": "test"})

    for round_ in range(ROUNDS):
        writers = {w: _writer(state, bucket, tmp_path / f"{w}{round_}") for w in ("a", "b")}
        lost = _append_at_once(writers, round_)

        assert len(lost) == 1, f"round {round_}: lost by {sorted(lost)}"
        ((loser, exc),) = lost.items()
        assert exc.code == "JOURNAL_CONFLICT"
        body = bucket.get(KEY)
        assert chain_problems(body, tmp_path) == [], f"round {round_}"
        events = bucket.events(KEY[len("runs/"):-len(".jsonl")])
        assert len(events) == round_ + 2
        assert events[-1]["data"] == {"writer": "b" if loser == "a" else "a", "round": round_}
        # the loser's refused event is nowhere, not even in its own local copy
        assert len(jr.read_events(writers[loser].path)) == round_ + 1

    versions = bucket.client.list_object_versions(Bucket=bucket.name, Prefix=PREFIX + KEY)
    bodies = [bucket.client.get_object(Bucket=bucket.name, Key=PREFIX + KEY,
                                       VersionId=v["VersionId"])["Body"].read()
              for v in reversed(versions["Versions"])]  # S3 lists the newest first
    assert len(bodies) == ROUNDS + 1
    assert all(later.startswith(earlier) for earlier, later in pairwise(bodies))
