"""The shared state's cache and journal writes, as bench/state_s3.py tuned them: runs.list lists
from the newest run the cache knows, a step's progress events reach S3 with its next append,
and runs.verify reads a journal's versions in the order S3 stored them.

Each machine is a project folder with its own state_dir; the bucket is read and changed with
boto3 straight to moto (the independent client)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakglass.engine import journal as jr
from tests.servers.moto import REGION, MotoServer

DRIVER = Path(__file__).resolve().parents[1] / "engine" / "driver.py"
BUCKET = "team-state"
PREFIX = "team/"


def journal(run_id: str, started: datetime, *, finished: bool) -> bytes:
    """A valid journal of a read-only run, as engine/journal.py chains one."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("run_started", {"runbook": "backup.verify", "target": "backups.main", "params": {},
                         "mutating": False, "dry_run": False}),
    ]
    if finished:
        events.append(("run_finished", {"status": "succeeded", "exit_code": 0}))
    lines, prev = [], jr.GENESIS
    for seq, (type_, data) in enumerate(events, start=1):
        ts = (started + timedelta(seconds=seq)).isoformat(timespec="microseconds")
        digest = jr.event_hash(seq, ts, type_, data, prev)
        lines.append(jr.canonical({"seq": seq, "ts": ts, "type": type_, "data": data,
                                   "prev": prev, "hash": digest}) + "\n")
        prev = digest
    return "".join(lines).encode()


def run_id(i: int) -> str:
    t = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i)
    return f"{t.strftime('%Y%m%dT%H%M%S%f')}-{i:04x}"


class Machine:
    def __init__(self, root: Path, aws: MotoServer) -> None:
        root.mkdir()
        self.root, self.aws = root, aws
        self.config = root / "breakglass.toml"
        self.config.write_text(
            f'[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n'
            f'state = "s3://{BUCKET}/{PREFIX}"\n\n'
            f'[aws]\nendpoint_url = "{aws.endpoint_url}"\nregion = "{REGION}"\n')

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(DRIVER), *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, env=self.aws.env())

    def listed(self) -> dict[str, str]:
        r = self.run("runs.list", "--json")
        assert r.returncode == 0, r.stderr
        return {row["run_id"]: row["status"] for row in json.loads(r.stdout)["runs"]}


@pytest.fixture
def s3(aws: MotoServer) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}breakglass-state.json",
                      Body=b'{"format": 1, "created": "2026-11-01T00:00:00+00:00"}')
    return client


def put_run(s3: Any, i: int, *, finished: bool = True) -> str:
    rid = run_id(i)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}runs/{rid}.jsonl",
                  Body=journal(rid, datetime(2026, 11, 1, tzinfo=UTC), finished=finished))
    return rid


def test_runs_list_on_a_machine_that_listed_before_shows_new_and_changed_runs(
        tmp_path: Path, aws: MotoServer, s3: Any) -> None:
    ids = [put_run(s3, i, finished=i != 59) for i in range(60)]
    laptop = Machine(tmp_path / "laptop", aws)
    first = laptop.listed()
    assert sorted(first) == ids[-50:] and first[ids[-1]] == "interrupted"
    # Another machine finishes the interrupted run and starts two more.
    put_run(s3, 59)
    new = [put_run(s3, 60), put_run(s3, 61)]
    second = laptop.listed()
    assert sorted(second) == [*ids[-48:], *new]
    assert second[ids[-1]] == "succeeded"


def test_runs_list_after_the_newest_runs_were_deleted_shows_the_newest_left(
        tmp_path: Path, aws: MotoServer, s3: Any) -> None:
    ids = [put_run(s3, i) for i in range(100)]
    laptop = Machine(tmp_path / "laptop", aws)
    laptop.listed()  # caches ids[50:]
    for rid in ids[60:]:
        s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}runs/{rid}.jsonl")
    laptop.listed()
    # Listing from the oldest cached run finds 10: the whole prefix is listed, and the 50
    # newest runs the bucket still has are fetched.
    cached = {p.stem for p in (laptop.root / "state" / "runs").glob("*.jsonl")}
    assert set(ids[10:60]) <= cached and ids[9] not in cached


def markers_run(tmp_path: Path, laptop: Machine) -> str:
    (tmp_path / "markers").mkdir()
    r = laptop.run("markers", "--dir", str(tmp_path / "markers"), "--steps", "3", "--yes",
                   "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return str(json.loads(r.stdout[r.stdout.index("{"):])["run_id"])


def test_a_run_shares_every_event_in_fewer_writes_than_events(
        tmp_path: Path, aws: MotoServer, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    laptop = Machine(tmp_path / "laptop", aws)
    rid = markers_run(tmp_path, laptop)
    key = f"{PREFIX}runs/{rid}.jsonl"
    shared = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    # The progress events held back for a step's next append all reached the bucket.
    assert shared == (laptop.root / "state" / "runs" / f"{rid}.jsonl").read_bytes()
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    assert 1 < len(versions) < shared.count(b"\n")


def test_runs_verify_finds_a_journal_written_many_times_a_second_intact(
        tmp_path: Path, aws: MotoServer, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    laptop = Machine(tmp_path / "laptop", aws)
    rid = markers_run(tmp_path, laptop)
    v = laptop.run("runs.verify", rid)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "journal intact" in v.stdout
