"""Sentry reporting against the HTTP sink: events, breadcrumbs, cron check-ins, and scrubbing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from breakglass.config import load_config
from breakglass.engine.redaction import MASK, Redactor
from breakglass.notify import build_error_reporter
from breakglass.notify.sentry import SentryReporter
from breakglass.secrets import Secrets
from tests.servers.sinks import Envelope, HttpSink


def raise_and_capture(reporter: SentryReporter, message: str) -> None:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        reporter.capture(exc)


def events(http_sink: HttpSink) -> list[dict[str, Any]]:
    return [item.json() for env in http_sink.sentry_envelopes() for item in env.of_type("event")]


def wait_envelopes(http_sink: HttpSink, n: int = 1) -> list[Envelope]:
    http_sink.wait_for(lambda rs: len([r for r in rs if "/envelope/" in r.path]) >= n)
    return http_sink.sentry_envelopes()


def test_exception_with_breadcrumbs_reaches_the_sink(http_sink: HttpSink) -> None:
    http_sink.clear()
    m = uuid.uuid4().hex
    reporter = SentryReporter(http_sink.sentry_dsn, "test", Redactor())
    reporter.breadcrumb(f"step backup.newest observed {m}", {"step": "newest"})
    reporter.breadcrumb("step backup.age verified")
    raise_and_capture(reporter, f"store unreachable {m}")
    reporter.flush()
    wait_envelopes(http_sink)
    (event,) = events(http_sink)
    (exc,) = event["exception"]["values"]
    assert (exc["type"], exc["value"]) == ("RuntimeError", f"store unreachable {m}")
    crumbs = [(c["message"], c.get("data")) for c in event["breadcrumbs"]["values"]]
    assert crumbs == [(f"step backup.newest observed {m}", {"step": "newest"}),
                      ("step backup.age verified", {})]
    assert event["environment"] == "test"


def test_envelope_is_sent_to_the_dsn_project(http_sink: HttpSink) -> None:
    http_sink.clear()
    reporter = SentryReporter(http_sink.sentry_dsn, None, Redactor())
    reporter.capture_message("hello")
    reporter.flush()
    (req,) = http_sink.wait_for(lambda rs: len(rs) == 1)
    assert (req.method, req.path) == ("POST", "/api/1/envelope/")
    assert "sentry_key=publickey" in req.headers["x-sentry-auth"]


def test_secret_in_exception_and_breadcrumb_reaches_no_sink_bytes(http_sink: HttpSink) -> None:
    http_sink.clear()
    canary = "canary-" + uuid.uuid4().hex
    redactor = Redactor()
    redactor.register(canary)
    reporter = SentryReporter(http_sink.sentry_dsn, "test", redactor)
    reporter.breadcrumb(f"rotating {canary}", {"old_key": canary, canary: "as a key"})
    raise_and_capture(reporter, f"refused credential {canary}")
    reporter.flush()
    wait_envelopes(http_sink)
    assert canary.encode() not in http_sink.all_bytes()
    # the event did go out, scrubbed rather than dropped
    (event,) = events(http_sink)
    assert event["exception"]["values"][0]["value"] == f"refused credential {MASK}"
    assert event["breadcrumbs"]["values"][0]["data"]["old_key"] == MASK


def test_frame_local_variables_are_not_sent(http_sink: HttpSink) -> None:
    http_sink.clear()
    reporter = SentryReporter(http_sink.sentry_dsn, "test", Redactor())
    unregistered = "local-" + uuid.uuid4().hex  # a value the redactor never saw
    try:
        password = unregistered
        raise RuntimeError("connect failed")
    except RuntimeError as exc:
        reporter.capture(exc)
    reporter.flush()
    wait_envelopes(http_sink)
    assert password.encode() not in http_sink.all_bytes()
    (event,) = events(http_sink)
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert frames and not any("vars" in f for f in frames)


def test_checkin_sends_monitor_status_and_returns_its_id(http_sink: HttpSink) -> None:
    http_sink.clear()
    reporter = SentryReporter(http_sink.sentry_dsn, "test", Redactor())
    check_in_id = reporter.checkin("drill-restore", "in_progress")
    assert check_in_id
    assert reporter.checkin("drill-restore", "ok", check_in_id, duration=1.5) == check_in_id
    reporter.flush()
    wait_envelopes(http_sink, 2)
    checkins = [i.json() for e in http_sink.sentry_envelopes() for i in e.of_type("check_in")]
    assert [(c["monitor_slug"], c["status"], c["check_in_id"]) for c in checkins] == [
        ("drill-restore", "in_progress", check_in_id), ("drill-restore", "ok", check_in_id)]


def test_breadcrumbs_of_one_reporter_do_not_reach_another(http_sink: HttpSink) -> None:
    http_sink.clear()
    first = SentryReporter(http_sink.sentry_dsn, "test", Redactor())
    first.breadcrumb("from the first reporter")
    second = SentryReporter(http_sink.sentry_dsn, "test", Redactor())
    raise_and_capture(second, "boom")
    second.flush()
    wait_envelopes(http_sink)
    (event,) = events(http_sink)
    assert "from the first reporter" not in str(event.get("breadcrumbs"))


def test_unreachable_sentry_does_not_raise(http_sink: HttpSink) -> None:
    dsn = http_sink.down_url.replace("http://", "http://publickey@") + "1"
    reporter = SentryReporter(dsn, "test", Redactor())
    raise_and_capture(reporter, "boom")
    reporter.flush()


def test_a_sentry_that_never_answers_does_not_hold_the_capture_or_the_flush(
        http_sink: HttpSink) -> None:
    # The server takes the connection and never answers: capture and flush return while it
    # still holds the event (its connection is counted), bounded by the reporter's own flush
    # timeout, not by the server.
    dsn = f"http://publickey@127.0.0.1:{http_sink.hang_port}/1"
    reporter = SentryReporter(dsn, "test", Redactor())
    raise_and_capture(reporter, "boom")
    reporter.flush()
    http_sink.wait_hung(1)


def test_nothing_is_sent_before_first_use(http_sink: HttpSink) -> None:
    http_sink.clear()
    reporter = SentryReporter(http_sink.sentry_dsn, "test", Redactor())
    reporter.flush()
    time.sleep(0.2)
    assert http_sink.requests == []


def _config(tmp_path: Path, sentry: str = "") -> Path:
    path = tmp_path / "breakglass.toml"
    path.write_text('[project]\nname = "acme"\nenvironment = "production"\n' + sentry)
    return path


def test_no_sentry_section_means_no_reporter(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path), environ={})
    redactor = Redactor()
    assert build_error_reporter(config, Secrets(config, redactor, {}), redactor) is None


def test_reporter_from_config_resolves_dsn_and_uses_project_environment(
        tmp_path: Path, http_sink: HttpSink) -> None:
    http_sink.clear()
    config = load_config(_config(tmp_path, '[sentry]\ndsn = "env:SENTRY_DSN"\n'), environ={})
    redactor = Redactor()
    reporter = build_error_reporter(
        config, Secrets(config, redactor, {"SENTRY_DSN": http_sink.sentry_dsn}), redactor)
    assert reporter is not None
    assert http_sink.sentry_dsn in redactor
    raise_and_capture(reporter, "boom")
    reporter.flush()
    wait_envelopes(http_sink)
    (event,) = events(http_sink)
    assert event["environment"] == "production"


def test_anchor_is_one_info_event_tagged_with_the_runs_final_hash(http_sink: HttpSink) -> None:
    http_sink.clear()
    reporter = SentryReporter(http_sink.sentry_dsn, "test", Redactor())
    digest = uuid.uuid4().hex * 2
    assert reporter.anchor("20261207T101010-ab12", "rotate", "succeeded", digest)
    reporter.flush()
    wait_envelopes(http_sink)
    (event,) = events(http_sink)
    assert event["level"] == "info"
    assert event["tags"]["journal_hash"] == digest
    assert event["tags"]["run_id"] == "20261207T101010-ab12"
    # every run's anchor groups under one issue instead of alerting once per run
    assert event["fingerprint"] == ["breakglass-journal-anchor"]
    assert digest in event["message"]
