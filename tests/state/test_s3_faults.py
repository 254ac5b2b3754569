"""S3 failing under a run, through the fault proxy: a 500, a 503 SlowDown, a connection dropped
before or after the write landed — retried, the run ends correctly with its chain intact. S3
staying down past the retries stops the run (exit 3) with no change after the journal entry
that failed; `runs.resume` then finishes it. A read-only run never passes on a journal it could
not write. End state: the bucket (boto3) and the marker folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.state.conftest import Machine, StateBucket, chain_problems, one_line
from tests.state.s3servers import FaultKind, FaultProxy

ALL_MARKERS = ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]
#: journal appends let through before a fault: the run is then in its second step
MID_RUN = 12


def _intact(bucket: StateBucket, m: Machine, run_id: str, tmp_path: Path) -> None:
    body = bucket.get(f"runs/{run_id}.jsonl")
    assert chain_problems(body, tmp_path) == []
    # the machine's own copy is the bucket's: no event only one of them holds
    assert (m.state / "runs" / f"{run_id}.jsonl").read_bytes() == body


@pytest.mark.parametrize(("kind", "where"), [
    ("500", "runs"), ("503", "runs"), ("drop", "runs"), ("drop_after", "runs"),
    ("503", "locks"), ("drop_after", "locks"),
])
def test_a_transient_s3_fault_mid_run_is_retried_and_the_run_ends_correctly(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy,
        tmp_path: Path, kind: FaultKind, where: str) -> None:
    a, _ = machines
    # runs/: two journal appends in the middle of the run; locks/: taking the lease
    fault = faults.arm("PUT", f"/{bucket.name}/team/{where}/", kind, times=2,
                       skip=MID_RUN if where == "runs" else 0)

    r = a.markers_run()

    assert r.returncode == 0, r.stdout + r.stderr
    assert fault.hit == 2
    (run_id,) = bucket.run_ids()
    _intact(bucket, a, run_id, tmp_path)
    ends = [e["data"]["status"] for e in bucket.events(run_id) if e["type"] == "run_finished"]
    assert ends == ["succeeded"]
    assert sorted(a.applied()) == ALL_MARKERS  # every marker once: nothing applied twice


def test_s3_down_past_the_retries_stops_the_run_with_no_change_after_the_failed_entry(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy,
        tmp_path: Path) -> None:
    a, b = machines
    faults.arm("PUT", f"/{bucket.name}/team/runs/", "500", times=10_000, skip=MID_RUN)

    r = a.markers_run()

    assert r.returncode == 3, r.stdout + r.stderr
    line = one_line(r.stderr)
    (run_id,) = bucket.run_ids()
    assert f"run {run_id} stopped" in line
    events = bucket.events(run_id)
    assert len(events) == MID_RUN  # the entry that failed is nowhere
    announced = {e["data"]["step"] for e in events if e["type"] == "step_apply_started"}
    made = a.applied()
    assert made  # the fault came mid-run, after a change
    assert {marker.split(".")[0] for marker in made} <= announced
    _intact(bucket, a, run_id, tmp_path)

    faults.clear()
    resumed = b.run("runs.resume", run_id, "--yes")  # from the other machine, once S3 is back

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sorted(b.applied()) == ALL_MARKERS
    _intact(bucket, b, run_id, tmp_path)


def test_a_read_only_run_whose_journal_cannot_be_written_never_passes(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy) -> None:
    a, _ = machines
    a.add_owner()
    for n in (1, 2, 3):
        (a.markers / f"s{n}.a").touch()  # what the audit checks is there: it would pass
    faults.arm("PUT", f"/{bucket.name}/team/runs/", "500", times=10_000, skip=3)

    r = a.run("audit", "--dir", str(a.markers))

    assert r.returncode == 3, r.stdout + r.stderr
    (run_id,) = bucket.run_ids()
    assert "run_finished" not in [e["type"] for e in bucket.events(run_id)]
