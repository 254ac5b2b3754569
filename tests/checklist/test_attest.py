"""`breakglass attest ITEM --by NAME --note … [--expires D]`: a journaled, confirmed, resumable
change that `breakglass check` counts until it expires — and only while its run journal backs it.
Through the real CLI."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from breakglass.checklist.attest import latest, rejected
from breakglass.state.local import LocalState
from tests.checklist.check_project import CheckProject, run_id_in, verdicts


@pytest.fixture
def project(tmp_path: Path, http_sink: Any) -> CheckProject:
    return CheckProject(tmp_path / "p", notify_url=http_sink.apprise_url).write()


def test_attestation_makes_the_item_pass_until_it_expires(project: CheckProject) -> None:
    r = project.attest("auth.csrf", "alice", "CsrfViewMiddleware on; forms checked")
    assert r.returncode == 0, r.stdout + r.stderr
    code, data = project.check_json("--only", "auth.csrf")
    assert code == 0
    evidence = data["items"][0]["evidence"]
    assert evidence["by"] == "alice" and evidence["note"] == "CsrfViewMiddleware on; forms checked"
    assert evidence["run_id"] == run_id_in(r.stdout)


def test_expired_attestation_could_not_verify(project: CheckProject) -> None:
    assert project.attest("auth.csrf", "alice", "ok", "--expires", "1s").returncode == 0
    time.sleep(1.2)
    code, data = project.check_json("--only", "auth.csrf")
    assert code == 3
    assert [f["code"] for f in data["items"][0]["findings"]] == ["ATTESTATION_EXPIRED"]


def test_default_expiry_is_the_items_attestation_period(project: CheckProject) -> None:
    project.attest("secrets.rotated", "bob", "all exposed keys rotated in March")
    [line] = project.attestation_lines()
    from datetime import datetime

    days = (datetime.fromisoformat(line["expires"]) - datetime.fromisoformat(line["at"])).days
    assert days == 90  # items.py: secrets.rotated attest_days=90


def test_newest_attestation_counts(project: CheckProject) -> None:
    project.attest("admin.restricted", "alice", "first")
    project.attest("admin.restricted", "alice", "second")
    _, data = project.check_json("--only", "admin.restricted")
    assert data["items"][0]["evidence"]["note"] == "second"


def test_store_is_private_and_append_only(project: CheckProject) -> None:
    project.attest("auth.csrf")
    project.attest("admin.restricted")
    assert stat.S_IMODE(project.attestations.stat().st_mode) == 0o600
    assert stat.S_IMODE(project.attestations.parent.stat().st_mode) == 0o700
    assert [line["item"] for line in project.attestation_lines()] == ["auth.csrf",
                                                                      "admin.restricted"]


# -- tamper evidence ------------------------------------------------------------------------------
def _rewrite(project: CheckProject, change: Any) -> None:
    lines = [change(line) for line in project.attestation_lines()]
    project.attestations.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_edited_attestation_does_not_count(project: CheckProject) -> None:
    project.attest("auth.csrf", "alice", "ok", "--expires", "1s")
    _rewrite(project, lambda line: {**line, "expires": "2099-01-01T00:00:00+00:00"})
    code, data = project.check_json("--only", "auth.csrf")
    assert code == 3
    assert [f["code"] for f in data["items"][0]["findings"]] == ["NOT_ATTESTED"]
    why = rejected(LocalState(project.state), "auth.csrf")[0]
    assert "differs from what its run journaled" in why
    # and the check says why the line people remember is ignored
    assert "not counted" in data["items"][0]["findings"][0]["message"]


def test_attestation_moved_to_another_item_does_not_count(project: CheckProject) -> None:
    project.attest("auth.csrf")
    _rewrite(project, lambda line: {**line, "item": "admin.restricted"})
    assert latest(LocalState(project.state), "admin.restricted") is None
    assert latest(LocalState(project.state), "auth.csrf") is None


def test_attestation_with_a_made_up_run_does_not_count(project: CheckProject) -> None:
    project.attest("auth.csrf")
    _rewrite(project, lambda line: {**line, "run_id": "20990101T000000000000-beef"})
    assert latest(LocalState(project.state), "auth.csrf") is None
    assert "no journal" in rejected(LocalState(project.state), "auth.csrf")[0]


def test_attestation_whose_journal_was_edited_does_not_count(project: CheckProject) -> None:
    r = project.attest("auth.csrf", "alice", "ok", "--expires", "1s")
    run_id = run_id_in(r.stdout)
    journal = project.state / "runs" / f"{run_id}.jsonl"
    journal.write_text(journal.read_text().replace(project.attestation_lines()[0]["expires"],
                                                   "2099-01-01T00:00:00+00:00"))
    _rewrite(project, lambda line: {**line, "expires": "2099-01-01T00:00:00+00:00"})
    assert latest(LocalState(project.state), "auth.csrf") is None
    assert "does not verify" in rejected(LocalState(project.state), "auth.csrf")[0]


# -- a change like any other: confirmed, dry-run, told, resumable ---------------------------------
def test_unconfirmed_attestation_records_nothing_until_resumed(project: CheckProject) -> None:
    r = project.run("attest", "auth.csrf", "--by", "alice", "--note", "ok")
    assert r.returncode == 2 and "runs.resume" in r.stderr
    assert project.attestation_lines() == []
    resumed = project.run("runs.resume", run_id_in(r.stderr), "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert verdicts(project.check_json("--only", "auth.csrf")[1]) == {"auth.csrf": "passed"}


def test_dry_run_shows_the_plan_and_records_nothing(project: CheckProject) -> None:
    r = project.run("attest", "auth.csrf", "--by", "alice", "--note", "ok", "--dry-run")
    assert r.returncode == 0
    assert "record attestation of auth.csrf by alice until" in " ".join(r.stdout.split())
    assert project.attestation_lines() == []


def test_owners_of_the_items_responsibility_are_told(project: CheckProject,
                                                     http_sink: Any) -> None:
    http_sink.clear()
    r = project.attest("secrets.rotated", "bob", "rotated", "--json")  # key_rotation: bob
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["responsibility"] == "key_rotation"
    assert {(d["person"], d["event"], d["ok"]) for d in data["deliveries"]} == {
        ("bob", "start", True), ("bob", "success", True)}
    reqs = http_sink.wait_for(lambda rs: any(b"succeeded" in r.decoded for r in rs))
    assert any(b"attest on checklist.secrets.rotated" in r.decoded for r in reqs)


def test_killed_after_writing_counts_only_once_resumed(project: CheckProject) -> None:
    project.kill_at("attest.after_apply", "auth.csrf", "--by", "alice", "--note", "ok")
    assert len(project.attestation_lines()) == 1  # written, but its run never finished
    assert latest(LocalState(project.state), "auth.csrf") is None
    run_id = project.attestation_lines()[0]["run_id"]
    r = project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(project.attestation_lines()) == 1  # not written twice
    assert verdicts(project.check_json("--only", "auth.csrf")[1]) == {"auth.csrf": "passed"}
    project.stop_started()


def test_killed_before_writing_is_written_once_on_resume(project: CheckProject) -> None:
    project.kill_at("attest.before_apply", "auth.csrf", "--by", "alice", "--note", "ok")
    assert project.attestation_lines() == []
    [journal] = (project.state / "runs").glob("*.jsonl")
    run_id = journal.stem
    assert project.resume(run_id).returncode == 0
    assert len(project.attestation_lines()) == 1
    project.stop_started()


# -- refusals: exit 2, one line, nothing recorded -------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (("auth.csfr", "--by", "alice", "--note", "x"), "did you mean auth.csrf"),
    (("tls.hsts", "--by", "alice", "--note", "x"),
     "tls.hsts is verified by a command: `breakglass check --only tls.hsts`"),
    (("auth.csrf", "--by", "mallory", "--note", "x"), "no [people.mallory]"),
    (("auth.csrf", "--by", "carol", "--note", "x"),
     "auth.csrf is attested by an owner of release_signoff: alice"),
    (("auth.csrf", "--by", "alice", "--note", "  "), "--note is required"),
    (("auth.csrf", "--by", "alice", "--note", "x", "--expires", "soon"), "is not a duration"),
    (("auth.csrf", "--by", "alice", "--note", "x", "--expires", "0d"), "longer than 0"),
    (("auth.csrf", "--by", "alice", "--note", "x", "--expires", "31d"), "limit of 30d"),
    (("secrets.separate_envs", "--by", "alice", "--note", "x"),
     "owner of key_rotation: bob"),
])
def test_refusals_exit_2_with_one_line(project: CheckProject, args: tuple[str, ...],
                                       expected: str) -> None:
    r = project.run("attest", *args, "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert expected in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert project.attestation_lines() == []
