"""S3 failing under a run, through the fault proxy: a 500, a 503 SlowDown, a connection dropped
before or after the write landed — retried, the run ends correctly with its chain intact. S3
staying down past the retries stops the run (exit 3) with no change after the journal entry
that failed; `runs.resume` then finishes it. A read-only run never passes on a journal it could
not write. End state: the bucket (boto3) and the marker folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.state.conftest import Machine, StateBucket, chain_problems, one_line
from tests.state.s3servers import FaultProxy

ALL_MARKERS = ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]


def appending(event: str, step: str = "s2") -> str:
    """A body regex for the journal PUT that appends `event` of `step` (and every later one:
    each PUT carries the whole journal). Events are canonical JSON, keys sorted."""
    return f'"step":"{step}"}},[^\\n]*"type":"{event}"'


def _intact(bucket: StateBucket, m: Machine, run_id: str, tmp_path: Path) -> None:
    body = bucket.get(f"runs/{run_id}.jsonl")
    assert chain_problems(body, tmp_path) == []
    # the machine's own copy is the bucket's: no event only one of them holds
    assert (m.state / "runs" / f"{run_id}.jsonl").read_bytes() == body


def _ended_correctly(bucket: StateBucket, a: Machine, tmp_path: Path) -> None:
    (run_id,) = bucket.run_ids()
    _intact(bucket, a, run_id, tmp_path)
    ends = [e["data"]["status"] for e in bucket.events(run_id) if e["type"] == "run_finished"]
    assert ends == ["succeeded"]
    assert sorted(a.applied()) == ALL_MARKERS  # every marker once: nothing applied twice


def test_transient_faults_on_journal_appends_mid_run_are_retried_and_the_run_ends_correctly(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy,
        tmp_path: Path) -> None:
    a, _ = machines
    runs = f"/{bucket.name}/team/runs/"
    # each append hit once, then again on botocore's retry; drop_after: the write lands and
    # its answer is lost, so the retries meet a changed ETag (412) and must recognise it
    armed = [faults.arm("PUT", runs, "500", times=2, body=appending("step_apply_started", "s1")),
             faults.arm("PUT", runs, "503", times=1, body=appending("step_applied", "s1")),
             faults.arm("PUT", runs, "drop", times=2, body=appending("step_apply_started")),
             faults.arm("PUT", runs, "drop_after", times=2, body=appending("step_applied"))]

    r = a.markers_run()

    assert r.returncode == 0, r.stdout + r.stderr
    assert [f.hit for f in armed] == [2, 1, 2, 2]
    _ended_correctly(bucket, a, tmp_path)


def test_transient_faults_on_taking_the_lease_are_retried_and_the_run_ends_correctly(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy,
        tmp_path: Path) -> None:
    a, _ = machines
    locks = f"/{bucket.name}/team/locks/"
    # SlowDown, then a create that lands with its answer lost: the retry gets 412 on our own
    # lease and must take it as ours, not as someone else's
    armed = [faults.arm("PUT", locks, "503"), faults.arm("PUT", locks, "drop_after")]

    r = a.markers_run()

    assert r.returncode == 0, r.stdout + r.stderr
    assert [f.hit for f in armed] == [1, 1]
    _ended_correctly(bucket, a, tmp_path)


@pytest.mark.parametrize("failed", ["step_apply_started", "step_applied"])
def test_s3_down_past_the_retries_stops_the_run_with_no_change_after_the_failed_entry(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy,
        tmp_path: Path, failed: str) -> None:
    a, b = machines
    # S3 goes down for good at the append of step s2's `failed` event
    faults.arm("PUT", f"/{bucket.name}/team/runs/", "500", times=10_000,
               body=appending(failed))

    r = a.markers_run()

    assert r.returncode == 3, r.stdout + r.stderr
    line = one_line(r.stderr)
    (run_id,) = bucket.run_ids()
    assert f"run {run_id} stopped" in line
    assert f"breakglass runs.resume {run_id}" in line
    events = bucket.events(run_id)
    assert (events[-1]["type"], events[-1]["data"].get("step")) != (failed, "s2")
    announced = {e["data"]["step"] for e in events if e["type"] == "step_apply_started"}
    made = a.applied()
    # a change only where its announcement is in the shared journal, none after the failure
    assert {marker.split(".")[0] for marker in made} <= announced
    assert ("s2" in announced) == (failed == "step_applied")
    assert not any(marker.startswith("s3") for marker in made)
    _intact(bucket, a, run_id, tmp_path)

    faults.clear()
    resumed = b.run("runs.resume", run_id, "--yes")  # from the other machine, once S3 is back

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sorted(b.applied()) == ALL_MARKERS  # each once: s2 is not applied twice
    _intact(bucket, b, run_id, tmp_path)


def test_a_read_only_run_whose_journal_cannot_be_written_never_passes(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy) -> None:
    a, _ = machines
    a.add_owner()
    for n in (1, 2, 3):
        (a.markers / f"s{n}.a").touch()  # what the audit checks is there: it would pass
    faults.arm("PUT", f"/{bucket.name}/team/runs/", "500", times=10_000,
               body=appending("step_started", "s1"))

    r = a.run("audit", "--dir", str(a.markers))

    assert r.returncode == 3, r.stdout + r.stderr
    (run_id,) = bucket.run_ids()
    assert f"run {run_id} stopped" in one_line(r.stderr)
    assert "run_finished" not in [e["type"] for e in bucket.events(run_id)]
