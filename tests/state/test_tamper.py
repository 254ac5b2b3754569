"""A journal altered in the bucket is caught by `runs.verify`, on the machine that wrote it (whose
cached copy is intact) and on another: one byte changed; and, where the bucket keeps versions,
the journal replaced by a shorter chain that is valid on its own."""

from __future__ import annotations

from tests.state.conftest import Machine, StateBucket


def _finished_run(a: Machine, bucket: StateBucket) -> str:
    r = a.markers_run()
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = bucket.run_ids()
    return run_id


def test_one_byte_changed_in_the_bucket_fails_runs_verify_on_every_machine(
        machines: tuple[Machine, Machine], bucket: StateBucket) -> None:
    a, b = machines
    run_id = _finished_run(a, bucket)
    key = f"runs/{run_id}.jsonl"
    body = bytearray(bucket.get(key))
    at = body.index(b'"target":"markers"') + len(b'"target":"')
    body[at:at + 1] = b"M"
    bucket.put(key, bytes(body))

    for m in (a, b):
        r = m.run("runs.verify", run_id)

        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{run_id}: line 1: hash does not match the event's content (edited)" in r.stdout


def test_a_journal_replaced_by_a_shorter_valid_one_fails_runs_verify_in_a_versioned_bucket(
        machines: tuple[Machine, Machine], bucket: StateBucket) -> None:
    a, b = machines
    bucket.versioned()
    run_id = _finished_run(a, bucket)
    key = f"runs/{run_id}.jsonl"
    assert b.run("runs.verify", run_id).returncode == 0  # as written: intact
    lines = bucket.get(key).splitlines(keepends=True)
    bucket.put(key, b"".join(lines[:len(lines) // 2]))  # a valid chain, cut

    r = b.run("runs.verify", run_id)

    assert r.returncode == 1, r.stdout + r.stderr
    assert "does not extend the version before it" in r.stdout
