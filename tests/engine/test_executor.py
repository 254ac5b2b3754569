"""The executor through the real CLI: plan, dry run, confirmation, apply, verify, undo."""

from __future__ import annotations

import json
import stat

from tests.engine.conftest import Project
from tests.servers.sinks import HttpSink

ALL_MARKERS = ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]


def test_dry_run_prints_the_plan_and_changes_nothing(project: Project) -> None:
    r = project.markers_run("--dry-run")
    assert r.returncode == 0, r.stderr
    assert "Plan (dry run" in r.stdout
    for m in ALL_MARKERS:
        assert f"create marker {m} -> {m}" in r.stdout
    assert project.present() == []
    assert project.applied() == []


def test_dry_run_journals_the_plan_and_no_apply(project: Project) -> None:
    project.markers_run("--dry-run")
    (run_id,) = project.run_ids()
    types = [e["type"] for e in project.events(run_id)]
    assert types.count("step_planned") == 3
    assert "step_apply_started" not in types
    assert types[-1] == "run_finished"


def test_yes_applies_every_action_once_and_succeeds(project: Project) -> None:
    r = project.markers_run("--yes")
    assert r.returncode == 0, r.stderr
    assert project.present() == ALL_MARKERS
    assert sorted(project.applied()) == ALL_MARKERS


def test_second_run_is_a_noop_that_says_why(project: Project) -> None:
    project.markers_run("--yes")
    r = project.markers_run()  # no --yes needed: nothing to change
    assert r.returncode == 0, r.stderr
    assert "no change: markers s1.a and s1.b already present" in r.stdout
    assert sorted(project.applied()) == ALL_MARKERS


def test_without_yes_and_without_a_tty_nothing_is_applied(project: Project) -> None:
    r = project.markers_run()
    assert r.returncode == 2
    assert "runs.resume" in r.stderr
    assert project.present() == []
    (run_id,) = project.run_ids()
    assert "not_confirmed" in [e["type"] for e in project.events(run_id)]


def test_an_unconfirmed_run_is_finished_by_resume_with_yes(project: Project) -> None:
    project.markers_run()
    (run_id,) = project.run_ids()
    r = project.run("runs.resume", run_id, "--yes")
    assert r.returncode == 0, r.stderr
    assert sorted(project.applied()) == ALL_MARKERS


def test_resume_without_yes_still_refuses(project: Project) -> None:
    project.markers_run()
    (run_id,) = project.run_ids()
    assert project.run("runs.resume", run_id).returncode == 2
    assert project.present() == []


def test_failed_verify_undoes_applied_steps_in_reverse_order(project: Project) -> None:
    r = project.markers_run("--yes", "--fail-verify", "s2")
    assert r.returncode == 1
    assert "MARKER_REJECTED" in r.stdout
    assert project.undone() == ["s2", "s1"]
    assert project.present() == []
    assert "s3.a" not in project.applied()  # the run stopped at s2


def test_failed_run_is_recorded_as_rolled_back(project: Project) -> None:
    project.markers_run("--yes", "--fail-verify", "s2")
    (run_id,) = project.run_ids()
    r = project.run("runs.show", run_id, "--json")
    doc = json.loads(r.stdout)
    assert doc["status"] == "rolled back"
    assert doc["exit_code"] == 1
    counting = [f["code"] for f in doc["findings"] if f["severity"] != "info"]
    assert counting == ["MARKER_REJECTED"]  # (NO_OWNER is only a note in a mutating run)


def test_resuming_a_succeeded_run_says_so_and_keeps_its_exit_code(project: Project) -> None:
    project.markers_run("--yes")
    (run_id,) = project.run_ids()
    before = len(project.events(run_id))
    r = project.run("runs.resume", run_id, "--yes")
    assert r.returncode == 0
    assert "already finished (succeeded); nothing to resume" in r.stdout
    assert len(project.events(run_id)) == before  # the journal is not touched


def test_resuming_a_finished_read_only_run_says_to_run_it_again(project: Project) -> None:
    project.run("audit", "--dir", str(project.markers))
    (run_id,) = project.run_ids()
    r = project.run("runs.resume", run_id)
    assert r.returncode == 1  # its recorded verdict: markers missing
    assert "run `breakglass test.markers-audit` again" in r.stdout


def test_reports_exist_in_three_formats_with_private_modes(project: Project) -> None:
    project.markers_run("--yes")
    (run_id,) = project.run_ids()
    for ext in ("json", "md", "html"):
        path = project.state / "reports" / f"{run_id}.{ext}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for d in ("runs", "reports", "locks"):
        assert stat.S_IMODE((project.state / d).stat().st_mode) == 0o700, d
    assert stat.S_IMODE(project.journal(run_id).stat().st_mode) == 0o600
    report = json.loads((project.state / "reports" / f"{run_id}.json").read_text())
    assert report["verdict"] == "passed"
    assert [s["step"] for s in report["steps"]] == ["s1", "s2", "s3"]
    assert report["journal"]["head_hash"] == project.events(run_id)[-1]["hash"]


def test_html_report_escapes_what_it_shows(project: Project) -> None:
    project.markers_run("--yes", "--steps", "1", "--target", "<b>x</b>")
    (run_id,) = project.run_ids()
    html = (project.state / "reports" / f"{run_id}.html").read_text()
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_read_only_runbook_keeps_going_after_findings(project: Project) -> None:
    r = project.run("audit", "--dir", str(project.markers))
    assert r.returncode == 1
    (run_id,) = project.run_ids()
    verified = [e["data"]["step"] for e in project.events(run_id) if e["type"] == "step_verified"]
    assert verified == ["s1", "s2", "s3"]


def test_could_not_verify_in_a_step_is_an_unverified_finding_exit_3(
        project: Project, http_sink: HttpSink) -> None:
    project.add_owner(http_sink.apprise_url)
    project.markers_run("--yes")
    r = project.run("audit", "--dir", str(project.markers), "--unreachable", "s2", "--json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    (finding,) = doc["findings"]
    assert (finding["code"], finding["outcome"], finding["subject"]) == (
        "MARKERS_UNREACHABLE", "unverified", "s2")


def test_typing_yes_at_the_prompt_applies(project: Project) -> None:
    import os
    import subprocess

    master, slave = os.openpty()  # stdin is a terminal: the run may ask
    try:
        proc = subprocess.Popen(project.argv("markers", "--dir", str(project.markers)),
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        os.write(master, b"yes\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert "Type 'yes'" in out
    assert sorted(project.applied()) == ALL_MARKERS


def test_dry_run_of_a_read_only_runbook_is_a_run(project: Project, http_sink: HttpSink) -> None:
    project.add_owner(http_sink.apprise_url)
    r = project.run("audit", "--dir", str(project.markers), "--dry-run", "--json")
    assert r.returncode == 1  # the markers are missing: a finding, not a "dry run passed"
    doc = json.loads(r.stdout)
    assert doc["status"] == "failed"
    assert [f["code"] for f in doc["findings"]] == ["MARKER_MISSING"] * 3


def test_a_secret_ref_that_does_not_resolve_in_a_step_is_exit_2_and_changes_nothing(
        project: Project) -> None:
    r = project.markers_run("--yes", "--secret", "env:BG_TEST_MISSING_TOKEN")
    assert r.returncode == 2, r.stderr
    assert "BG_TEST_MISSING_TOKEN" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    (run_id,) = project.run_ids()
    failed = [e["data"] for e in project.events(run_id) if e["type"] == "step_failed"]
    assert failed[0]["finding"]["code"] == "USAGE_ERROR"
    assert project.applied() == []
    # Once the environment is fixed, the same command applies every marker exactly once.
    r = project.markers_run("--yes", "--secret", "env:BG_TEST_MISSING_TOKEN",
                            env={"BG_TEST_MISSING_TOKEN": "a-token-value-now-set"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(project.applied()) == sorted(
        f"s{i}.{p}" for i in (1, 2, 3) for p in ("a", "b"))
