"""Owners are told at start, success and failure; a notice that cannot be delivered is journaled
and shown, never fatal; step breadcrumbs and unexpected exceptions reach Sentry; a secret a step
handles reaches none of the outputs."""

from __future__ import annotations

import json

from tests.engine.conftest import Project
from tests.servers.sinks import HttpSink

CANARY = "canary-7Hq2-secret-value-x9"


def _with_owner(project: Project, sentry: bool = False) -> None:
    text = project.config.read_text() + (
        '\n[owners]\nincident_response = ["alice"]\n\n'
        '[people.alice]\nnotify = ["env:ALICE_NOTIFY_URL"]\n')
    if sentry:
        text += '\n[sentry]\ndsn = "env:SENTRY_DSN"\n'
    project.config.write_text(text)


def test_owners_are_told_at_start_and_success(project: Project, http_sink: HttpSink) -> None:
    _with_owner(project)
    http_sink.clear()
    r = project.markers_run("--yes", env={"ALICE_NOTIFY_URL": http_sink.apprise_url})
    assert r.returncode == 0, r.stderr
    bodies = [req.json() for req in http_sink.wait_for(lambda rs: len(rs) >= 2)]
    assert [(b["event"], b["verdict"]) for b in bodies] == [("start", "started"),
                                                            ("success", "succeeded")]
    assert bodies[1]["title"] == "Succeeded: test.markers on markers (acme, test)"


def test_owners_are_told_of_a_failure(project: Project, http_sink: HttpSink) -> None:
    _with_owner(project)
    http_sink.clear()
    r = project.markers_run("--yes", "--fail-verify", "s1",
                            env={"ALICE_NOTIFY_URL": http_sink.apprise_url})
    assert r.returncode == 1
    bodies = [req.json() for req in http_sink.wait_for(lambda rs: len(rs) >= 2)]
    # said in plain words: "rolled back" would read as if production had been rolled back
    assert bodies[-1]["title"] == "Failed: test.markers on markers (acme, test)"
    assert (bodies[-1]["verdict"], bodies[-1]["exit_code"]) == ("failed", 1)
    assert "rolled back" not in bodies[-1]["message"]


def test_undeliverable_notice_is_journaled_and_shown_never_fatal(
        project: Project, http_sink: HttpSink) -> None:
    _with_owner(project)
    r = project.markers_run("--yes", env={"ALICE_NOTIFY_URL": http_sink.down_apprise_url})
    assert r.returncode == 0, r.stderr
    assert "notice not delivered" in r.stdout
    (run_id,) = project.run_ids()
    deliveries = [e["data"] for e in project.events(run_id) if e["type"] == "delivery"]
    assert [(d["event"], d["ok"]) for d in deliveries] == [("start", False), ("success", False)]


def test_dry_run_tells_nobody(project: Project, http_sink: HttpSink) -> None:
    _with_owner(project)
    http_sink.clear()
    project.markers_run("--dry-run", env={"ALICE_NOTIFY_URL": http_sink.apprise_url})
    assert http_sink.requests == []


def test_breadcrumbs_and_unexpected_exception_reach_sentry(
        project: Project, http_sink: HttpSink) -> None:
    _with_owner(project, sentry=True)
    http_sink.clear()
    r = project.markers_run("--yes", "--crash", "s2",
                            env={"ALICE_NOTIFY_URL": http_sink.apprise_url,
                                 "SENTRY_DSN": http_sink.sentry_dsn})
    assert r.returncode == 3  # a bug in a step: the run could not do (or verify) its job
    assert project.undone() == ["s2", "s1"]  # s2's apply started: it may have half-happened
    envelopes = http_sink.sentry_envelopes()
    events = [i.json() for e in envelopes for i in e.of_type("event")]
    assert any("boom in s2" in json.dumps(ev) for ev in events)
    crumbs = [c["message"] for ev in events for c in ev.get("breadcrumbs", {}).get("values", [])]
    assert "test.markers: s1 apply" in crumbs
    assert "test.markers: s2 apply" in crumbs


def test_a_secret_a_step_handles_appears_in_no_output(
        project: Project, http_sink: HttpSink) -> None:
    _with_owner(project)
    http_sink.clear()
    r = project.markers_run("--yes", "--json", "--secret", "env:CANARY",
                            env={"ALICE_NOTIFY_URL": http_sink.apprise_url, "CANARY": CANARY})
    assert r.returncode == 0, r.stderr
    (run_id,) = project.run_ids()
    outputs = [r.stdout, r.stderr, http_sink.all_bytes().decode("utf-8", "replace")]
    outputs += [p.read_text() for p in project.state.rglob("*") if p.is_file()]
    outputs.append(project.run("runs.show", run_id, "--json").stdout)
    assert all(CANARY not in text for text in outputs)
    assert "«redacted»" in project.journal(run_id).read_text()


def _checkins(http_sink: HttpSink) -> list[tuple[str, str]]:
    return [(i.json()["monitor_slug"], i.json()["status"])
            for e in http_sink.sentry_envelopes() for i in e.of_type("check_in")]


def test_a_monitored_runbook_checks_in_at_start_and_end(
        project: Project, http_sink: HttpSink) -> None:
    _with_owner(project, sentry=True)
    http_sink.clear()
    r = project.markers_run("--yes", "--monitor", "bg-test-drill",
                            env={"ALICE_NOTIFY_URL": http_sink.apprise_url,
                                 "SENTRY_DSN": http_sink.sentry_dsn})
    assert r.returncode == 0, r.stdout + r.stderr
    assert _checkins(http_sink) == [("bg-test-drill", "in_progress"), ("bg-test-drill", "ok")]


def test_a_failed_monitored_run_checks_in_error_and_a_dry_run_not_at_all(
        project: Project, http_sink: HttpSink) -> None:
    _with_owner(project, sentry=True)
    env = {"ALICE_NOTIFY_URL": http_sink.apprise_url, "SENTRY_DSN": http_sink.sentry_dsn}
    http_sink.clear()
    project.markers_run("--dry-run", "--monitor", "bg-test-drill", env=env)
    assert _checkins(http_sink) == []
    project.markers_run("--yes", "--fail-verify", "s1", "--monitor", "bg-test-drill", env=env)
    assert _checkins(http_sink) == [("bg-test-drill", "in_progress"), ("bg-test-drill", "error")]


def _told(project: Project, run_id: str) -> list[tuple[str, bool, str]]:
    return [(e["data"]["event"], e["data"]["ok"], e["data"]["error"])
            for e in project.events(run_id) if e["type"] == "delivery"]


def test_a_read_only_run_that_passes_tells_nobody(project: Project, http_sink: HttpSink) -> None:
    # A daily backup.verify that passes is not news: no "started", no "passed" (issue 12).
    _with_owner(project)
    env = {"ALICE_NOTIFY_URL": http_sink.apprise_url}
    assert project.markers_run("--yes", env=env).returncode == 0  # the markers now exist
    http_sink.clear()
    r = project.run("audit", "--dir", str(project.markers), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = project.run_ids()[-1]
    assert _told(project, run_id) == []
    assert http_sink.requests == []


def test_a_read_only_run_that_fails_tells_the_owners_once(project: Project,
                                                          http_sink: HttpSink) -> None:
    _with_owner(project)
    http_sink.clear()
    r = project.run("audit", "--dir", str(project.markers),
                    env={"ALICE_NOTIFY_URL": http_sink.apprise_url})
    assert r.returncode == 1
    (run_id,) = project.run_ids()
    assert _told(project, run_id) == [("failure", True, "")]
    (doc,) = [q.json() for q in http_sink.requests]
    assert doc["title"] == "Failed: test.markers-audit on markers (acme, test)"
    assert [f["code"] for f in doc["findings"] if f["counts"]] == ["MARKER_MISSING"] * 3
    assert doc["changes"] is None  # read-only: the notice says it changed nothing


def test_a_read_only_run_that_could_not_verify_is_told_as_such(project: Project,
                                                               http_sink: HttpSink) -> None:
    _with_owner(project)
    env = {"ALICE_NOTIFY_URL": http_sink.apprise_url}
    assert project.markers_run("--yes", env=env).returncode == 0
    http_sink.clear()
    r = project.run("audit", "--dir", str(project.markers), "--unreachable", "s2", env=env)
    assert r.returncode == 3
    (doc,) = [q.json() for q in http_sink.requests]
    assert (doc["event"], doc["verdict"], doc["exit_code"]) == ("unverified",
                                                                "could not verify", 3)
    assert doc["title"].startswith("Could not verify: ")
    assert "NOT a pass" in doc["message"]


def test_notify_on_for_a_runbook_replaces_its_default(project: Project,
                                                      http_sink: HttpSink) -> None:
    _with_owner(project)
    project.config.write_text(project.config.read_text()
                              + '\n[notify_on]\n"test.markers" = ["failure"]\n')
    http_sink.clear()
    r = project.markers_run("--yes", env={"ALICE_NOTIFY_URL": http_sink.apprise_url})
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    assert _told(project, run_id) == []  # neither "started" nor "succeeded"
    assert http_sink.requests == []


def test_a_person_notify_on_narrows_what_they_hear(project: Project, http_sink: HttpSink) -> None:
    project.config.write_text(project.config.read_text() + (
        '\n[owners]\nincident_response = ["alice", "bob"]\n\n'
        f'[people.alice]\nnotify = ["{http_sink.apprise_url}alice"]\n'
        'notify_on = ["failure", "unverified"]\n\n'
        f'[people.bob]\nnotify = ["{http_sink.apprise_url}bob"]\n'))
    http_sink.clear()
    assert project.markers_run("--yes").returncode == 0
    assert sorted(q.path for q in http_sink.wait_for(lambda rs: len(rs) >= 2)) == ["/bob"] * 2
    (run_id,) = project.run_ids()
    assert [(e["data"]["person"], e["data"]["event"]) for e in project.events(run_id)
            if e["type"] == "delivery"] == [("bob", "start"), ("bob", "success")]


def test_a_channel_that_hangs_is_journaled_timed_out_and_the_run_goes_on(
        project: Project, http_sink: HttpSink) -> None:
    _with_owner(project)
    r = project.markers_run("--yes", env={"ALICE_NOTIFY_URL": http_sink.hang_apprise_url})
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.present() == ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]
    (run_id,) = project.run_ids()
    assert _told(project, run_id) == [("start", False, "timed out after 5s"),
                                      ("success", False, "timed out after 5s")]
    assert "notice not delivered" in r.stdout
    assert http_sink.hung_connections >= 1  # it did try: the channel took it and hung
