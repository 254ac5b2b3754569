"""S3 unreachable (every request to the bucket dropped by the proxy): read-only commands say so in
one line and exit 3; a mutating run refuses before changing anything and names --local-state;
with --local-state it journals on this machine, "not shared yet" until `state.push` uploads it,
verified, for the other machine to see."""

from __future__ import annotations

from pathlib import Path

from tests.state.conftest import Machine, StateBucket, chain_problems, one_line
from tests.state.s3servers import FaultProxy


def _s3_down(faults: FaultProxy, bucket: StateBucket) -> None:
    faults.arm("*", f"^/{bucket.name}", "drop", times=1_000_000)


def test_read_only_commands_exit_3_in_one_line_and_a_run_refuses_before_any_change(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy) -> None:
    a, _ = machines
    _s3_down(faults, bucket)

    for args in (("runs.list",), ("runs.show", "20260101T000000-beef")):
        r = a.run(*args)
        assert r.returncode == 3, r.stdout + r.stderr
        assert bucket.url in one_line(r.stderr)

    r = a.markers_run()

    assert r.returncode == 3, r.stdout + r.stderr
    assert "--local-state" in one_line(r.stderr)
    assert a.applied() == []
    assert a.local_runs() == []
    assert bucket.keys() == []  # nothing reached the bucket either


def test_local_state_runs_are_not_shared_until_state_push_uploads_those_that_verify(
        machines: tuple[Machine, Machine], bucket: StateBucket, faults: FaultProxy,
        tmp_path: Path) -> None:
    a, b = machines
    _s3_down(faults, bucket)

    for target in ("markers", "other"):
        r = a.markers_run("--local-state", "--target", target, "--steps", "1")
        assert r.returncode == 0, r.stdout + r.stderr
    good, edited = a.local_runs()
    faults.clear()  # S3 is back
    assert a.list_json() == {good: "succeeded (not shared yet)",
                             edited: "succeeded (not shared yet)"}
    assert b.list_json() == {}
    assert bucket.run_ids() == []
    path = a.state / "runs" / f"{edited}.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"target":"other"', b'"target":"OTHER"'))

    pushed = a.run("state.push")

    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    assert f"REFUSED run {edited}: its journal does not verify" in pushed.stdout
    assert bucket.run_ids() == [good]
    body = bucket.get(f"runs/{good}.jsonl")
    assert body == (a.state / "runs" / f"{good}.jsonl").read_bytes()
    assert chain_problems(body, tmp_path) == []
    assert b.list_json() == {good: "succeeded"}
    assert a.list_json()[good] == "succeeded"
