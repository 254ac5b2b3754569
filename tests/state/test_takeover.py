"""A run whose machine died: the other machine is refused while the lease is valid, naming the
holder; it takes the run over once the lease lapses (or at once with --take-over, journaled as
forced) and resumes it to a correct end. End state read from the bucket and the marker folder."""

from __future__ import annotations

from pathlib import Path

from tests.state.conftest import Machine, StateBucket, chain_problems, one_line, wait_for
from tests.state.s3servers import FaultProxy

ALL_MARKERS = ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]


def _killed_mid_run(a: Machine) -> tuple[str, int]:
    """Machine a's run SIGKILLed in the middle of step s2 (s2.a made, s2.b not)."""
    proc = a.start_paused("s2.mid")
    pid = proc.pid
    a.kill(proc)
    (run_id,) = a.local_runs()
    assert a.applied() == ["s1.a", "s1.b", "s2.a"]
    return run_id, pid


def _ended_correctly(bucket: StateBucket, b: Machine, run_id: str, tmp_path: Path) -> None:
    assert sorted(b.applied()) == ALL_MARKERS  # each marker made exactly once
    assert sorted(p.name for p in b.markers.glob("s*.*")) == ALL_MARKERS
    body = bucket.get(f"runs/{run_id}.jsonl")
    assert chain_problems(body, tmp_path) == []
    ends = [e["data"]["status"] for e in bucket.events(run_id) if e["type"] == "run_finished"]
    assert ends == ["succeeded"]


def test_a_dead_holders_valid_lease_refuses_the_other_machine_until_take_over_forces_it(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy,
        tmp_path: Path) -> None:
    a, b = machines
    for m in machines:  # long enough that the dead holder's lease is surely still valid
        m.write(bucket.url, faults.endpoint_url, lease_ttl="60s")
    run_id, pid = _killed_mid_run(a)

    refused = b.run("runs.resume", run_id, "--yes")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = one_line(refused.stderr)
    assert f"run {run_id}" in line
    assert f"pid {pid} on machine-a" in line
    assert "--take-over" in line
    assert sorted(b.applied()) == ["s1.a", "s1.b", "s2.a"]  # b changed nothing
    assert "run_resumed" not in [e["type"] for e in bucket.events(run_id)]

    forced = b.run("runs.resume", run_id, "--yes", "--take-over")

    assert forced.returncode == 0, forced.stdout + forced.stderr
    _ended_correctly(bucket, b, run_id, tmp_path)
    (takeover,) = [e["data"] for e in bucket.events(run_id) if e["type"] == "lock_takeover"]
    assert takeover["forced"] is True
    assert (takeover["run_id"], takeover["pid"], takeover["host"]) == (run_id, pid, "machine-a")


def test_other_machine_takes_over_once_the_lease_lapses_and_resumes_to_a_correct_end(
        machines: tuple[Machine, Machine], bucket: StateBucket, tmp_path: Path) -> None:
    a, b = machines
    run_id, pid = _killed_mid_run(a)

    def resumed() -> bool:
        r = b.run("runs.resume", run_id, "--yes")
        assert r.returncode in (0, 2), r.stdout + r.stderr  # 2: still held, try again
        return r.returncode == 0

    wait_for(resumed, "machine-b resumes once the lease lapses")

    _ended_correctly(bucket, b, run_id, tmp_path)
    (takeover,) = [e["data"] for e in bucket.events(run_id) if e["type"] == "lock_takeover"]
    assert takeover["forced"] is False
    assert (takeover["run_id"], takeover["pid"], takeover["host"]) == (run_id, pid, "machine-a")
    assert "machine-b" in takeover["message"]
