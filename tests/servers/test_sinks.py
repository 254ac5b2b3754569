"""The sinks other tests rely on: what they record, how they answer, and the down URL."""

from __future__ import annotations

import gzip
import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

import pytest

from tests.servers.sinks import HttpSink, SmtpSink, parse_envelope


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (loopback http only)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_http_sink_records_method_path_headers_and_body(http_sink: HttpSink) -> None:
    http_sink.clear()
    _post(http_sink.url + "/hook/x", b'{"a": 1}', {"X-Probe": "yes"})
    (req,) = http_sink.requests
    assert (req.method, req.path, req.body) == ("POST", "/hook/x", b'{"a": 1}')
    assert req.headers["x-probe"] == "yes"


def test_http_sink_answers_200_with_empty_json(http_sink: HttpSink) -> None:
    assert _post(http_sink.url + "/", b"{}") == (200, b"{}")


def test_http_sink_answers_the_status_named_in_a_status_path(http_sink: HttpSink) -> None:
    status, _ = _post(http_sink.url + "/status/500", b"{}")
    assert status == 500
    assert http_sink.apprise_url_status(500).endswith("/status/500")


def test_down_url_refuses_connections(http_sink: HttpSink) -> None:
    with pytest.raises(urllib.error.URLError):
        _post(http_sink.down_url, b"{}")


def test_clear_forgets_recorded_requests(http_sink: HttpSink) -> None:
    _post(http_sink.url + "/", b"{}")
    http_sink.clear()
    assert http_sink.requests == []


def test_gzipped_sentry_envelope_is_decoded_and_parsed(http_sink: HttpSink) -> None:
    http_sink.clear()
    event = json.dumps({"message": "hello"}).encode()
    raw = (b'{"event_id":"abc"}\n'
           + json.dumps({"type": "event", "length": len(event)}).encode() + b"\n" + event + b"\n"
           + b'{"type":"check_in"}\n{"status":"ok"}\n')
    _post(http_sink.url + "/api/1/envelope/", gzip.compress(raw),
          {"Content-Encoding": "gzip", "Content-Type": "application/x-sentry-envelope"})
    (env,) = http_sink.sentry_envelopes()
    assert env.headers == {"event_id": "abc"}
    assert [(i.type, i.json()) for i in env.items] == [
        ("event", {"message": "hello"}), ("check_in", {"status": "ok"})]


def test_envelope_payload_with_length_may_contain_newlines() -> None:
    payload = b'{"a":\n1}'
    env = parse_envelope(b"{}\n" + json.dumps({"type": "event", "length": len(payload)}).encode()
                         + b"\n" + payload)
    assert env.items[0].json() == {"a": 1}


def test_wait_for_fails_when_nothing_arrives(http_sink: HttpSink) -> None:
    http_sink.clear()
    with pytest.raises(AssertionError, match="timed out"):
        http_sink.wait_for(lambda reqs: len(reqs) > 0, timeout=0.2)


def test_smtp_sink_records_a_parsed_message(smtp_sink: SmtpSink) -> None:
    smtp_sink.clear()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.test", "b@example.test", "probe"
    msg.set_content("body text")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as smtp:
        smtp.send_message(msg)
    (got,) = smtp_sink.wait_for(lambda msgs: len(msgs) == 1)
    assert got["Subject"] == "probe"
    assert got.get_content().strip() == "body text"
