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
