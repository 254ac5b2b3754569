"""Owners' notices through apprise, against the real HTTP and SMTP sinks, and `notify.test`
through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
import urllib.parse
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path

import pytest

from breakglass.config import load_config
from breakglass.config.models import NoticeEventName
from breakglass.engine.findings import Finding, Severity
from breakglass.engine.hooks import CHOOSABLE, DEFAULT_EVENTS, Figure, Notice, NoticeEvent
from breakglass.engine.redaction import MASK, Redactor
from breakglass.notify import build_notifier
from breakglass.notify.owners import AppriseNotifier, mask_channel
from breakglass.secrets import Secrets
from tests.result_schema import check_output
from tests.servers.sinks import HttpSink, SmtpSink

BREAKGLASS = str(Path(sys.executable).with_name("breakglass"))


def write_config(tmp_path: Path, owners: Mapping[str, list[str]],
                 people: Mapping[str, list[str]]) -> Path:
    lines = ['[project]', 'name = "acme"', 'environment = "production"',
             f'state_dir = "{tmp_path / "state"}"', "", "[owners]"]
    lines += [f"{resp} = {json.dumps(names)}" for resp, names in owners.items()]
    for name, channels in people.items():
        lines += ["", f"[people.{name}]", f"notify = {json.dumps(channels)}"]
    path = tmp_path / "breakglass.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_notifier(tmp_path: Path, owners: Mapping[str, list[str]],
                  people: Mapping[str, list[str]], environ: Mapping[str, str] | None = None,
                  redactor: Redactor | None = None) -> AppriseNotifier:
    config = load_config(write_config(tmp_path, owners, people), environ={})
    redactor = redactor or Redactor()
    return build_notifier(config, Secrets(config, redactor, environ or {}), redactor)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain", "html"))
    assert part is not None
    return str(part.get_content())


def marker() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


def notice(event: NoticeEvent, target: str = "user mallory", message: str = "",
           **kw: object) -> Notice:
    """A lockout's notice; `target` (often a marker) is in the title and every body."""
    fields: dict[str, object] = {
        "event": event, "run_id": "20261207T031500000000-ab12", "project": "acme",
        "environment": "production", "runbook": "lockout", "target": target, "mutating": True,
        "status": {"start": "started", "success": "succeeded", "failure": "failed",
                   "unverified": "could not verify", "approval": "precondition overridden",
                   "test": "test"}[event],
        "message": message, "show": "breakglass runs.show 20261207T031500000000-ab12"}
    fields.update(kw)
    return Notice(**fields)  # type: ignore[arg-type]  # the test's own overrides


# -- the notifier ------------------------------------------------------------------------------

def test_notice_reaches_http_sink_with_title_and_body(tmp_path: Path, http_sink: HttpSink) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": [http_sink.apprise_url]})
    (d,) = n.notify("key_rotation", notice("start", f"user {m}"))
    assert d.ok, d.error
    reqs = http_sink.wait_for(lambda rs: any(m.encode() in r.body for r in rs))
    (payload,) = [r.json() for r in reqs if m.encode() in r.body]
    assert payload["title"] == f"Started: lockout on user {m} (acme, production)"
    assert payload["message"].startswith(f"lockout on user {m} started.")


def test_failure_event_is_sent_as_apprise_failure_type(tmp_path: Path,
                                                       http_sink: HttpSink) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": [http_sink.apprise_url]})
    n.notify("key_rotation", notice("failure", m))
    reqs = http_sink.wait_for(lambda rs: any(m.encode() in r.body for r in rs))
    assert [r.json()["type"] for r in reqs if m.encode() in r.body] == ["failure"]


def test_notice_reaches_smtp_sink_with_title_as_subject(tmp_path: Path,
                                                        smtp_sink: SmtpSink) -> None:
    m = marker()
    url = smtp_sink.mailto_url("bob@example.test")
    n = make_notifier(tmp_path, {"backup_restore": ["bob"]}, {"bob": [url]})
    (d,) = n.notify("backup_restore", notice("success", m))
    assert d.ok, d.error
    msgs = smtp_sink.wait_for(lambda ms: any(m in str(x["Subject"]) for x in ms))
    (msg,) = [x for x in msgs if m in str(x["Subject"])]
    assert msg["To"] == "bob@example.test"
    assert f"lockout on {m} succeeded" in text_of(msg)


def test_channel_given_as_env_reference_is_resolved(tmp_path: Path, http_sink: HttpSink) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": ["env:ALICE_URL"]},
                      environ={"ALICE_URL": http_sink.apprise_url})
    (d,) = n.notify("key_rotation", notice("start", m))
    assert d.ok, d.error
    assert d.channel == f"json://127.0.0.1:{http_sink.port}…"


def test_person_listed_twice_gets_one_notice_per_channel(tmp_path: Path,
                                                         http_sink: HttpSink) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"key_rotation": ["alice", "alice"]},
                      {"alice": [http_sink.apprise_url, http_sink.apprise_url]})
    deliveries = n.notify("key_rotation", notice("start", m))
    assert [(d.person, d.ok) for d in deliveries] == [("alice", True)]


def test_every_owner_gets_the_notice(tmp_path: Path, http_sink: HttpSink,
                                     smtp_sink: SmtpSink) -> None:
    n = make_notifier(tmp_path, {"incident_response": ["alice", "bob"]},
                      {"alice": [http_sink.apprise_url],
                       "bob": [smtp_sink.mailto_url("bob@example.test")]})
    deliveries = n.notify("incident_response", notice("start", marker()))
    assert sorted((d.person, d.ok) for d in deliveries) == [("alice", True), ("bob", True)]


def test_down_channel_is_a_failed_delivery_quickly_and_does_not_raise(
        tmp_path: Path, http_sink: HttpSink) -> None:
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]},
                      {"alice": [http_sink.down_apprise_url]})
    (d,) = n.notify("key_rotation", notice("failure"))
    assert not d.ok
    assert d.error and "\n" not in d.error
    # Quickly: the refusal itself ended the send, the deadline did not (the notifier's own
    # measure; a wall clock would fail on a loaded machine).
    assert "timed out" not in d.error


def test_refusing_channel_is_a_failed_delivery_with_the_status(tmp_path: Path,
                                                               http_sink: HttpSink) -> None:
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]},
                      {"alice": [http_sink.apprise_url_status(500)]})
    (d,) = n.notify("key_rotation", notice("start"))
    assert not d.ok
    assert "500" in d.error


def test_one_failed_channel_does_not_stop_the_others(tmp_path: Path, http_sink: HttpSink) -> None:
    n = make_notifier(tmp_path, {"key_rotation": ["alice", "bob"]},
                      {"alice": [http_sink.down_apprise_url], "bob": [http_sink.apprise_url]})
    deliveries = n.notify("key_rotation", notice("start", marker()))
    assert sorted((d.person, d.ok) for d in deliveries) == [("alice", False), ("bob", True)]


def test_url_apprise_cannot_parse_is_a_failed_delivery(tmp_path: Path) -> None:
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": ["nosuchscheme://x/y"]})
    (d,) = n.notify("key_rotation", notice("start"))
    assert not d.ok
    assert "apprise cannot use this URL" in d.error


def test_unresolvable_reference_is_a_failed_delivery_naming_it(tmp_path: Path) -> None:
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": ["env:ALICE_URL"]})
    (d,) = n.notify("key_rotation", notice("start"))
    assert (d.ok, d.channel) == (False, "env:ALICE_URL")
    assert "ALICE_URL" in d.error


def test_responsibility_without_owner_returns_a_record_saying_so(tmp_path: Path) -> None:
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": ["json://127.0.0.1/"]})
    assert [d.to_dict() for d in n.notify("backup_restore", notice("start"))] == [
        {"person": "-", "channel": "-", "ok": False, "error": "no owner for backup_restore"}]


def test_owner_without_channel_is_a_failed_delivery(tmp_path: Path) -> None:
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": []})
    (d,) = n.notify("key_rotation", notice("start"))
    assert (d.person, d.ok) == ("alice", False)
    assert "no notify channel" in d.error


@pytest.mark.parametrize(("url", "shown"), [
    ("json://127.0.0.1:8080/hook/s3cr3tt0k3n", "json://127.0.0.1:8080…"),
    ("mailto://user:pa55word@smtp.example.com?to=a@example.com", "mailto://smtp.example.com…"),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234", "tgram://…"),
    ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://…"),
    ("not a url", "(unparseable URL)"),
])
def test_channel_is_masked_to_scheme_and_host(url: str, shown: str) -> None:
    assert mask_channel(url) == shown


def test_channel_token_never_appears_in_a_delivery(tmp_path: Path, http_sink: HttpSink) -> None:
    token = "TOKEN" + uuid.uuid4().hex
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]},
                      {"alice": [http_sink.apprise_url_status(500) + "/" + token]})
    (d,) = n.notify("key_rotation", notice("start"))
    assert token not in json.dumps(d.to_dict())


def test_secret_in_title_and_body_reaches_no_sink(tmp_path: Path, http_sink: HttpSink,
                                                  smtp_sink: SmtpSink) -> None:
    canary = "canary-" + uuid.uuid4().hex
    redactor = Redactor()
    redactor.register(canary)
    http_sink.clear()
    smtp_sink.clear()
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]},
                      {"alice": [http_sink.apprise_url, smtp_sink.mailto_url("a@example.test")]},
                      redactor=redactor)
    leak = Finding("SECRET_IN_HISTORY", f"the key {canary} leaked", f"revoke {canary}",
                   evidence={"value": canary})
    deliveries = n.notify("key_rotation", notice("failure", f"secrets.{canary}",
                                                 findings=(leak,)))
    assert all(d.ok for d in deliveries), deliveries
    (mail,) = smtp_sink.wait_for(lambda ms: len(ms) == 1)
    sent = http_sink.all_bytes() + b"".join(smtp_sink.raw_messages)
    assert canary.encode() not in sent
    # the notices did go out, with the secret masked: text, JSON fields and the e-mail
    (doc,) = [r.json() for r in http_sink.requests]
    assert f"the key {MASK} leaked" in doc["message"]
    assert doc["findings"][0]["message"] == f"the key {MASK} leaked"
    assert doc["target"] == f"secrets.{MASK}"
    assert f"the key {MASK} leaked" in text_of(mail)


# -- what a notice says, per channel ------------------------------------------------------------

RUN = "20261207T031500000000-ab12"
HASH = "9f2c1e5b7a3d4c6e8f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e"


def failed_drill(target: str) -> Notice:
    """A drill whose validation failed, with its numbers, as the engine builds it."""
    bad = Finding("EXPECT_FAILED", "select count(*) from users returned 0; expected at least 1",
                  "check that the dump holds the users table (pg_restore --list)",
                  subject="validate")
    note = Finding("RESTORED_ROWS", "restored 12 tables", "none", Severity.INFO)
    return notice("failure", target, runbook="drill.restore", status="rolled back",
                  exit_code=1, findings=(note, bad),
                  figures=(Figure("RTO", "4m 12s (target 30m)", {"rto_seconds": 252.0}),
                           Figure("backup", "pg/main-20261207T0300Z.dump, 3h 5m old",
                                  {"backup": "pg/main-20261207T0300Z.dump"})),
                  undone=("create the disposable environment",),
                  not_applied=("judge RTO/RPO, record the drill, write the trend",),
                  report=f"/srv/bg/state/reports/{RUN}.html", host="ops1", anchor=HASH)


def test_webhook_receives_the_run_as_json_fields(tmp_path: Path, http_sink: HttpSink) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"backup_restore": ["bob"]}, {"bob": [http_sink.apprise_url]})
    (d,) = n.notify("backup_restore", failed_drill(f"backups.{m}"))
    assert d.ok, d.error
    (doc,) = [r.json() for r in http_sink.requests if m.encode() in r.body]
    assert {k: doc[k] for k in ("run_id", "runbook", "target", "project", "environment",
                                "event", "verdict", "exit_code")} == {
        "run_id": RUN, "runbook": "drill.restore", "target": f"backups.{m}", "project": "acme",
        "environment": "production", "event": "failure", "verdict": "failed", "exit_code": 1}
    assert [f["code"] for f in doc["findings"]] == ["EXPECT_FAILED", "RESTORED_ROWS"]
    assert doc["numbers"] == {"rto_seconds": 252.0, "backup": "pg/main-20261207T0300Z.dump"}
    assert doc["changes"]["undone"] == ["create the disposable environment"]
    assert doc["links"] == {"runs_show": f"breakglass runs.show {RUN}",
                            "report": f"/srv/bg/state/reports/{RUN}.html", "host": "ops1"}
    assert doc["journal_hash"] == HASH
    # apprise's own fields are still there for a receiver that only reads those
    assert doc["title"] == f"Failed: drill.restore on backups.{m} (acme, production)"
    assert doc["type"] == "failure"


def test_email_is_plain_text_that_reads_at_80_columns_failing_finding_first(
        tmp_path: Path, smtp_sink: SmtpSink) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"backup_restore": ["bob"]},
                      {"bob": [smtp_sink.mailto_url("bob@example.test")]})
    (d,) = n.notify("backup_restore", failed_drill(f"backups.{m}"))
    assert d.ok, d.error
    msgs = smtp_sink.wait_for(lambda ms: any(m in str(x["Subject"]) for x in ms))
    (mail,) = [x for x in msgs if m in str(x["Subject"])]
    assert mail.get_content_type() == "text/plain"
    assert str(mail["Subject"]) == f"Failed: drill.restore on backups.{m} (acme, production)"
    body = text_of(mail)
    lines = body.splitlines()
    # a drill that failed "failed": "rolled back" would read as if production had been
    assert lines[0].startswith(f"drill.restore on backups.{m} failed (exit 1).")
    assert "rolled back" not in body
    # what failed comes first, then what to do, the numbers, the changes, how to see more
    order = [next(i for i, ln in enumerate(lines) if ln.strip().startswith(head))
             for head in ("EXPECT_FAILED (validate):", "what to do:", "RTO: 4m 12s",
                          "undone:", f"breakglass runs.show {RUN}")]
    assert order == sorted(order)
    # every line fits 80 columns, except a command to paste, which is never wrapped
    assert [ln for ln in lines if len(ln) > 80] == [
        f"  breakglass runs.verify {RUN} --anchor {HASH}"]


def test_chat_channel_receives_markdown(tmp_path: Path, http_sink: HttpSink) -> None:
    # apprise:// (an Apprise API server) declares Markdown, like Slack, Teams, Discord, Matrix
    m = marker()
    url = f"apprise://127.0.0.1:{http_sink.port}/{m}"
    n = make_notifier(tmp_path, {"backup_restore": ["bob"]}, {"bob": [url]})
    (d,) = n.notify("backup_restore", failed_drill(f"backups.{m}"))
    assert d.ok, d.error
    (form,) = [urllib.parse.parse_qs(r.body.decode()) for r in http_sink.requests
               if m.encode() in r.body]
    assert form["format"] == ["markdown"]
    body = form["body"][0]
    assert "**What is wrong**" in body
    assert "- `EXPECT_FAILED (validate)` select count(\\*) from users returned 0" in body
    assert f"- `breakglass runs.show {RUN}`" in body


def test_channel_that_hangs_is_not_waited_on_and_reported_timed_out(
        tmp_path: Path, http_sink: HttpSink) -> None:
    m = marker()
    config = load_config(write_config(tmp_path, {"incident_response": ["alice", "bob"]},
                                      {"alice": [http_sink.hang_apprise_url],
                                       "bob": [http_sink.apprise_url]}), environ={})
    redactor = Redactor()
    n = AppriseNotifier(config.owners, {k: v.notify for k, v in config.people.items()},
                        Secrets(config, redactor, {}), redactor, deadline=1.0)
    pending = n.dispatch("incident_response", notice("start", m))
    assert not pending.done()  # dispatch returned while the hanging channel holds the send
    got = {d.person: (d.ok, d.error) for d in pending.wait()}
    assert got == {"alice": (False, "timed out after 1s"), "bob": (True, "")}
    assert any(m.encode() in r.body for r in http_sink.requests)


def test_notices_to_one_channel_arrive_in_the_order_they_were_sent(
        tmp_path: Path, http_sink: HttpSink) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"key_rotation": ["alice"]}, {"alice": [http_sink.apprise_url]})
    pending = [n.dispatch("key_rotation", notice(event, m))
               for event in ("start", "approval", "success")]
    assert all(d.ok for p in pending for d in p.wait())
    events = [r.json()["event"] for r in http_sink.requests if m.encode() in r.body]
    assert events == ["start", "approval", "success"]


@pytest.mark.parametrize(("event", "told"), [
    ("start", False), ("success", False), ("failure", True), ("unverified", True)])
def test_a_read_only_run_tells_only_failures_by_default(tmp_path: Path, http_sink: HttpSink,
                                                        event: NoticeEvent,
                                                        told: bool) -> None:
    m = marker()
    n = make_notifier(tmp_path, {"backup_restore": ["bob"]}, {"bob": [http_sink.apprise_url]})
    got = n.notify("backup_restore", notice(event, m, runbook="backup.verify", mutating=False,
                                            wanted=DEFAULT_EVENTS[False]))
    assert [d.ok for d in got] == ([True] if told else [])
    assert any(m.encode() in r.body for r in http_sink.requests) is told


def test_notify_on_of_a_person_only_narrows_what_the_run_tells(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"key_rotation": ["alice"]},
                                      {"alice": ["json://127.0.0.1/"]}), environ={})
    n = AppriseNotifier(config.owners, {}, Secrets(config, Redactor(), {}), Redactor(),
                        chosen={"alice": ["success", "failure"]})
    # the run tells failures only: alice's "success" does not add one
    wanted = frozenset({"failure"})
    assert [n.wants("alice", notice(e, wanted=wanted)) for e in ("success", "failure")] == [
        False, True]
    assert n.wants("alice", notice("start")) is False  # the run tells it; alice chose not to


def test_notify_on_names_every_event_a_run_can_tell() -> None:
    assert typing.get_args(NoticeEventName) == CHOOSABLE


def test_notify_on_with_an_unknown_runbook_or_event_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"key_rotation": ["alice"]}, {"alice": []})
    config.write_text(config.read_text() + 'notify_on = ["failed"]\n\n'
                      '[notify_on]\n"backup.verfy" = ["failure"]\n')
    proc = run_cli("config.check", "--config", str(config), env={})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "people.alice.notify_on" in proc.stderr
    assert 'notify_on: unknown runbook "backup.verfy" (did you mean "backup.verify"?)' in (
        proc.stderr)
    assert "Traceback" not in proc.stderr


def test_a_drill_offers_rto_and_rpo_against_their_targets_and_the_backup(
        tmp_path: Path) -> None:
    from breakglass.drills.restore import RestoreDrill
    from breakglass.engine.measures import figures
    from breakglass.engine.runs import RunSummary, StepRecord

    summary = RunSummary("r", tmp_path / "r.jsonl")
    summary.steps["select"] = StepRecord("select", result={
        "key": "main-1.dump", "rpo_seconds": 11100.0, "rpo_target_seconds": 93600.0})
    # stopped before `report`: the RPO and the backup are known, the RTO is not
    assert [(f.label, f.text) for f in figures(RestoreDrill.measured(summary))] == [
        ("RPO", "3h 5m (target 26h)"), ("backup", "main-1.dump")]
    summary.steps["report"] = StepRecord("report", result={
        "rto_seconds": 252.0, "rto_target_seconds": 1800.0, "rpo_seconds": 11100.0,
        "rpo_target_seconds": 93600.0})
    (rto, _, _) = figures(RestoreDrill.measured(summary))
    assert (rto.label, rto.text, dict(rto.data)) == ("RTO", "4m 12s (target 30m)", {
        "rto_seconds": 252.0, "rto_target_seconds": 1800.0})


# -- notify.test through the real CLI -----------------------------------------------------------

def run_cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS")}
    full_env.update(env)
    r = subprocess.run([BREAKGLASS, *args], capture_output=True, text=True, env=full_env,
                       timeout=120, check=False)
    check_output(args, r.returncode, r.stdout)
    return r


def cli_config(tmp_path: Path) -> Path:
    return write_config(tmp_path, {"key_rotation": ["alice"], "backup_restore": ["bob", "alice"]},
                        {"alice": ["env:ALICE_NOTIFY_URL"], "bob": ["env:BOB_NOTIFY_URL"]})


def test_notify_test_reaches_both_sinks_and_exits_0(tmp_path: Path, http_sink: HttpSink,
                                                   smtp_sink: SmtpSink) -> None:
    http_sink.clear()
    smtp_sink.clear()
    proc = run_cli("notify.test", "--config", str(cli_config(tmp_path)), "--json",
                   env={"ALICE_NOTIFY_URL": http_sink.apprise_url,
                        "BOB_NOTIFY_URL": smtp_sink.mailto_url("bob@example.test")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(proc.stdout)["deliveries"]
    assert sorted((r["person"], r["arrived"]) for r in rows) == [("alice", True), ("bob", True)]
    assert [r["responsibilities"] for r in rows if r["person"] == "alice"] == [
        ["backup_restore", "key_rotation"]]
    (alice,) = [r.json() for r in http_sink.requests]
    assert "test notice" in alice["title"]
    (bob,) = smtp_sink.wait_for(lambda ms: len(ms) == 1)
    assert "test notice" in str(bob["Subject"])


def test_notify_test_with_a_channel_down_exits_1_and_says_which(
        tmp_path: Path, http_sink: HttpSink, smtp_sink: SmtpSink) -> None:
    proc = run_cli("notify.test", "--config", str(cli_config(tmp_path)),
                   env={"ALICE_NOTIFY_URL": http_sink.down_apprise_url,
                        "BOB_NOTIFY_URL": smtp_sink.mailto_url("bob@example.test")})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # one line per channel in a pipe: person, channel, arrived, … (docs/runs.md, "Output")
    rows = {ln.split()[0]: ln.split()[2] for ln in proc.stdout.splitlines()
            if ln.split()[:1] in (["alice"], ["bob"])}
    assert rows == {"alice": "no", "bob": "yes"}, proc.stdout
    assert "1 of 2 channels arrived" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_notify_test_json_reports_the_failed_channel(tmp_path: Path, http_sink: HttpSink,
                                                     smtp_sink: SmtpSink) -> None:
    proc = run_cli("notify.test", "--config", str(cli_config(tmp_path)), "--json",
                   env={"ALICE_NOTIFY_URL": http_sink.apprise_url,
                        "BOB_NOTIFY_URL": http_sink.apprise_url_status(500)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert {r["person"]: r["arrived"] for r in data["deliveries"]} == {"alice": True, "bob": False}
    assert data["exit_code"] == 1


def test_notify_test_never_prints_a_channel_token(tmp_path: Path, http_sink: HttpSink) -> None:
    token = "TOKEN" + uuid.uuid4().hex
    proc = run_cli("notify.test", "--config", str(cli_config(tmp_path)),
                   env={"ALICE_NOTIFY_URL": f"{http_sink.apprise_url}{token}",
                        "BOB_NOTIFY_URL": f"{http_sink.down_apprise_url}{token}"})
    assert proc.returncode == 1
    assert token not in proc.stdout + proc.stderr
    assert f"json://127.0.0.1:{http_sink.port}…" in proc.stdout


def test_notify_test_with_nobody_in_owners_exits_3(tmp_path: Path) -> None:
    config = write_config(tmp_path, {}, {})
    proc = run_cli("notify.test", "--config", str(config), env={})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "nothing to test" in proc.stderr


def test_notify_test_with_a_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "breakglass.toml"
    config.write_text('[project]\nname = "acme"\nenvironment = "production"\n'
                      '[people.alice]\nnotify = "json://127.0.0.1/"\n')
    proc = run_cli("notify.test", "--config", str(config), env={})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "people.alice.notify" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_notify_modules_do_not_import_apprise_or_sentry_at_import_time() -> None:
    code = ("import sys, breakglass.cli, breakglass.notify; "
            "print(sorted(m for m in ('apprise', 'sentry_sdk') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_notify_test_journals_deliveries_so_check_can_prove_the_channels(
        tmp_path: Path, http_sink: HttpSink) -> None:
    # ops.owners ("every owner has a working notice channel") reads the newest journaled delivery
    # to each person: before notify.test it could not verify, after it the owners are proven.
    config = write_config(tmp_path, {"key_rotation": ["alice"]},
                          {"alice": ["env:ALICE_NOTIFY_URL"], "bob": ["env:BOB_NOTIFY_URL"]})
    env = {"ALICE_NOTIFY_URL": http_sink.apprise_url, "BOB_NOTIFY_URL": http_sink.apprise_url}

    def owners_codes() -> list[str]:
        proc = run_cli("check", "--config", str(config), "--only", "ops.owners", "--json",
                       env=env)
        (item,) = json.loads(proc.stdout)["items"]
        return [f["code"] for f in item["findings"]]

    assert "NOTICE_UNPROVEN" in owners_codes()
    assert run_cli("notify.test", "--config", str(config), env=env).returncode == 0
    listed = run_cli("runs.list", "--config", str(config), env=env)
    assert "notify.test" in listed.stdout, listed.stdout + listed.stderr
    assert "NOTICE_UNPROVEN" not in owners_codes()
