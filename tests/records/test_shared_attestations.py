"""Attestations and run reports in the shared state: what one machine writes, another reads.
Two project folders (separate state_dirs) share one moto bucket; the real CLI in subprocesses."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from tests.checklist.check_project import CheckProject, run_id_in, verdicts
from tests.records.shared import make_bucket, objects, share
from tests.servers.moto import MotoServer


def _machines(tmp_path: Path, aws: MotoServer, url: str, sink_url: str,
              *project_lines: str) -> tuple[CheckProject, CheckProject]:
    pair = []
    for name in ("a", "b"):
        proj = CheckProject(tmp_path / name, notify_url=sink_url).write()
        share(proj.config, aws.endpoint_url, url, *project_lines)
        pair.append(proj)
    return pair[0], pair[1]


@pytest.fixture
def machines(tmp_path: Path, aws: MotoServer, http_sink: Any) -> tuple[CheckProject,
                                                                       CheckProject]:
    return _machines(tmp_path, aws, make_bucket(aws), http_sink.apprise_url)


def test_an_attestation_made_on_machine_a_makes_check_pass_on_machine_b(
        machines: tuple[CheckProject, CheckProject], aws: MotoServer) -> None:
    a, b = machines
    r = a.attest("auth.csrf", "alice", "CsrfViewMiddleware on; forms checked")
    assert r.returncode == 0, r.stdout + r.stderr
    # the record is an object of the bucket (boto3), not only a line on machine A
    (key,) = [k for k in objects(aws) if k.startswith("records/checklist/attestations/")]
    assert json.loads(objects(aws)[key])["run_id"] == run_id_in(r.stdout)
    assert not (b.state / "checklist" / "attestations.jsonl").exists()
    code, data = b.check_json("--only", "auth.csrf")
    assert code == 0, data
    assert verdicts(data) == {"auth.csrf": "passed"}
    assert data["items"][0]["evidence"]["run_id"] == run_id_in(r.stdout)


def test_an_attestation_whose_shared_record_was_edited_does_not_count_on_machine_b(
        machines: tuple[CheckProject, CheckProject], aws: MotoServer) -> None:
    a, b = machines
    assert a.attest("auth.csrf", "alice", "ok", "--expires", "1d").returncode == 0
    s3 = aws.client("s3")
    (key,) = [k for k in objects(aws) if k.startswith("records/checklist/attestations/")]
    record = json.loads(objects(aws)[key])
    record["expires"] = "2099-01-01T00:00:00+00:00"
    s3.put_object(Bucket="team-state", Key=f"team/{key}", Body=json.dumps(record).encode())
    code, data = b.check_json("--only", "auth.csrf")
    assert code == 3
    finding = data["items"][0]["findings"][0]
    assert finding["code"] == "NOT_ATTESTED" and "differs from what its run journaled" in \
        finding["message"]


def test_runs_show_on_machine_b_lists_the_reports_written_on_machine_a(
        machines: tuple[CheckProject, CheckProject], aws: MotoServer) -> None:
    a, b = machines
    run_id = run_id_in(a.attest("auth.csrf").stdout)
    shared = objects(aws)
    assert {f"reports/{run_id}.{fmt}" for fmt in ("json", "md", "html")} <= set(shared)
    r = b.run("runs.show", run_id, "--json")
    assert r.returncode == 0, r.stderr
    reports = json.loads(r.stdout)["reports"]
    assert sorted(reports) == ["html", "json", "md"]
    for fmt, path in reports.items():
        assert Path(path).read_bytes() == shared[f"reports/{run_id}.{fmt}"]
        assert Path(path).is_relative_to(b.state)


# -- runs.verify: is the evidence locked? ----------------------------------------------------
def _verify_lines(proj: CheckProject, run_id: str) -> list[str]:
    r = proj.run("runs.verify", run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def test_runs_verify_says_until_when_object_lock_retains_the_journal(
        tmp_path: Path, aws: MotoServer, http_sink: Any) -> None:
    url = make_bucket(aws, object_lock=True)
    a, b = _machines(tmp_path, aws, url, http_sink.apprise_url, 'evidence_retention = "7d"')
    run_id = run_id_in(a.attest("auth.csrf").stdout)
    s3 = aws.client("s3")
    head = s3.head_object(Bucket="team-state", Key=f"team/runs/{run_id}.jsonl")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"].astimezone(UTC)
    (line,) = [ln for ln in _verify_lines(b, run_id) if "evidence" in ln]
    assert f"evidence locked until {until:%Y-%m-%d %H:%M} UTC" in line
    # reports are evidence too
    report = s3.head_object(Bucket="team-state", Key=f"team/reports/{run_id}.json")
    assert report["ObjectLockMode"] == "GOVERNANCE"


def test_runs_verify_says_not_locked_when_the_bucket_has_no_object_lock(
        tmp_path: Path, aws: MotoServer, http_sink: Any) -> None:
    a, b = _machines(tmp_path, aws, make_bucket(aws), http_sink.apprise_url,
                     'evidence_retention = "7d"')
    run_id = run_id_in(a.attest("auth.csrf").stdout)
    assert f"{run_id}: evidence not locked: the bucket has no Object Lock" in \
        _verify_lines(b, run_id)


def test_runs_verify_says_not_locked_without_evidence_retention(
        tmp_path: Path, aws: MotoServer, http_sink: Any) -> None:
    a, b = _machines(tmp_path, aws, make_bucket(aws, object_lock=True), http_sink.apprise_url)
    run_id = run_id_in(a.attest("auth.csrf").stdout)
    assert f"{run_id}: evidence not locked: no [project] evidence_retention set" in \
        _verify_lines(b, run_id)


def test_runs_verify_of_a_local_state_says_nothing_about_locks(tmp_path: Path,
                                                               http_sink: Any) -> None:
    proj = CheckProject(tmp_path / "p", notify_url=http_sink.apprise_url).write()
    run_id = run_id_in(proj.attest("auth.csrf").stdout)
    assert not [ln for ln in _verify_lines(proj, run_id) if "evidence" in ln]


def test_a_monthly_review_run_on_machine_a_counts_on_machine_b(
        machines: tuple[CheckProject, CheckProject]) -> None:
    a, b = machines
    review = a.run("check", "--gate", "monthly", "--json")
    assert review.returncode in (0, 1, 3), review.stderr  # its verdict does not matter
    code, data = b.check_json("--only", "ops.review_scheduled")
    assert (code, verdicts(data)) == (0, {"ops.review_scheduled": "passed"}), data
    assert data["items"][0]["evidence"]["run_id"] == json.loads(review.stdout)["run_id"]
