"""With the state on S3, the owners' notice at a run's end links the HTML report the run
stored in the bucket: a presigned URL a person opens without AWS credentials of their own."""

from __future__ import annotations

import httpx

from tests.servers.sinks import HttpSink
from tests.state.conftest import Machine, StateBucket


def test_the_end_notice_links_the_report_in_the_bucket(
        machines: tuple[Machine, Machine], bucket: StateBucket, http_sink: HttpSink) -> None:
    a, _ = machines
    a.config.write_text(a.config.read_text() + (
        '\n[owners]\nincident_response = ["alice"]\n\n'
        f'[people.alice]\nnotify = ["{http_sink.apprise_url}report-link"]\n'))
    r = a.markers_run()
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = a.local_runs()
    (end,) = [q.json() for q in http_sink.wait_for(
        lambda rs: any(run_id.encode() in q.body and b'"success"' in q.body for q in rs))
        if q.path == "/report-link" and run_id.encode() in q.body
        and q.json()["event"] == "success"]
    link = end["links"]["report"]
    assert link.startswith("http") and "Signature" in link
    # read with a plain HTTP client, no AWS credentials: the report the bucket holds
    page = httpx.get(link, timeout=30)
    assert page.status_code == 200
    assert page.content == bucket.get(f"reports/{run_id}.html")
    assert run_id in page.text
