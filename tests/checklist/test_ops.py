"""The operations checks: backups.verified (backup.verify's own steps on a real file:// store and
moto S3), backups.restore_tested (the drill history), monitoring.sentry (a real HTTP sink as the
Sentry DSN), ops.owners (journaled deliveries), ops.runbook_docs, ops.review_scheduled (journaled
`check` runs). Each item both passes and fails."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext
from breakglass.drills import history
from breakglass.engine import journal as jr
from breakglass.engine.executor import new_run_id
from breakglass.engine.findings import Outcome
from breakglass.engine.redaction import Redactor
from breakglass.state.local import LocalState
from tests.recovery.stores import FileTestStore, S3TestStore, manifest_bytes
from tests.checklist import histories
from tests.checklist.context import codes, make_ctx, run
from tests.servers.sinks import HttpSink

KEY = "shop-20240501T0300Z.dump"
OWNERS = """
[owners]
key_rotation = ["alice"]
incident_response = ["alice"]
access_approvals = ["alice"]
release_signoff = ["bob"]
backup_restore = ["bob"]
dependency_patching = ["bob"]

[people.alice]
notify = ["json://127.0.0.1:9/"]

[people.bob]
notify = ["json://127.0.0.1:9/"]
"""


@pytest.fixture(scope="session")
def dump(pg_server: Any) -> bytes:
    import psycopg

    dsn = pg_server.create_database("ops_check_shop")
    with psycopg.connect(dsn) as conn:
        conn.execute("create table users (id serial primary key, email text not null)")
        conn.execute("insert into users (email) select 'u' || g || '@example.test' "
                     "from generate_series(1, 100) g")
    out = subprocess.run([str(pg_server.bin_dir / "pg_dump"), "-Fc", "-d", "ops_check_shop"],
                         env={**os.environ, **pg_server.env()}, capture_output=True, check=True)
    return out.stdout


def backup_toml(url: str, extra: str = "", max_age: str = "26h") -> str:
    return (f'{extra}\n[backups.shop]\nstore = "{url}"\nmax_age = "{max_age}"\n'
            'retention_days = 7\nencryption = "none"\n')


def file_store(tmp_path: Path) -> FileTestStore:
    root = tmp_path / "backups"
    root.mkdir()
    return FileTestStore(root)


# -- backups.verified ---------------------------------------------------------------------------
def test_no_backups_configured_is_not_configured(tmp_path: Path) -> None:
    r = run(make_ctx(tmp_path, ""), "backups.verified")
    assert codes(r) == ["NOT_CONFIGURED"]
    assert r.findings[0].outcome is Outcome.UNVERIFIED


def test_fresh_intact_file_backup_passes(tmp_path: Path, dump: bytes) -> None:
    store = file_store(tmp_path)
    store.put(KEY, dump, manifest=manifest_bytes(dump))
    r = run(make_ctx(tmp_path, backup_toml(store.url)), "backups.verified")
    assert r.findings == []
    assert r.evidence["shop"]["newest"] == KEY
    assert r.evidence["shop"]["checked_against"] == "manifest"


def test_stale_backup_keeps_backup_verify_code_and_subject(tmp_path: Path, dump: bytes) -> None:
    store = file_store(tmp_path)
    store.put(KEY, dump, manifest=manifest_bytes(dump))
    max_age = store.make_stale()
    r = run(make_ctx(tmp_path, backup_toml(store.url, max_age=max_age)), "backups.verified")
    assert codes(r) == ["BACKUP_STALE"]
    assert r.findings[0].subject == "backups.shop"


def test_s3_backup_passes_and_missing_bucket_is_unverified(aws: Any, tmp_path: Path,
                                                           dump: bytes) -> None:
    s3 = S3TestStore(aws).create()
    s3.put(KEY, dump, manifest=manifest_bytes(dump))
    ok = run(make_ctx(tmp_path / "a", backup_toml(s3.url, s3.config_toml())),
             "backups.verified")
    assert ok.findings == [], ok.findings
    gone = run(make_ctx(tmp_path / "b", backup_toml("s3://no-such-bucket/pg/",
                                                    s3.config_toml())), "backups.verified")
    assert codes(gone) == ["STORE_UNREACHABLE"]
    assert gone.findings[0].outcome is Outcome.UNVERIFIED


# -- backups.restore_tested ---------------------------------------------------------------------
DRILL = backup_toml("file:///nonexistent/") + '\n[drills.restore]\nbackup = "shop"\n'


def drill(state: Path, verdict: str, when: datetime, codes_: list[str] | None = None) -> str:
    """A drill of backups.shop that ended `verdict`, its line backed by its run's journal."""
    return histories.drill(state, verdict, when, "shop", codes_)


def test_restore_never_drilled_is_RESTORE_NEVER_TESTED(tmp_path: Path) -> None:
    assert codes(run(make_ctx(tmp_path, DRILL), "backups.restore_tested")) == [
        "RESTORE_NEVER_TESTED"]


def test_no_backups_and_no_drill_is_not_configured(tmp_path: Path) -> None:
    r = run(make_ctx(tmp_path, ""), "backups.restore_tested")
    assert codes(r) == ["NOT_CONFIGURED"]


def test_recent_passed_drill_passes(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    run_id = drill(ctx.state_dir, "passed", ctx.now - timedelta(days=3))
    r = run(ctx, "backups.restore_tested")
    assert r.findings == []
    assert r.evidence["shop"]["run_id"] == run_id


def test_old_pass_is_RESTORE_TEST_STALE(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    drill(ctx.state_dir, "passed", ctx.now - timedelta(days=36))
    r = run(ctx, "backups.restore_tested")
    assert codes(r) == ["RESTORE_TEST_STALE"]
    assert r.findings[0].evidence["age_days"] == 36


def test_newer_failed_drill_after_a_pass_is_RESTORE_TEST_FAILED(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    drill(ctx.state_dir, "passed", ctx.now - timedelta(days=5))
    drill(ctx.state_dir, "failed", ctx.now - timedelta(days=1), ["ROWCOUNT_MISMATCH"])
    r = run(ctx, "backups.restore_tested")
    assert codes(r) == ["RESTORE_TEST_FAILED"]
    assert "ROWCOUNT_MISMATCH" in r.findings[0].message


def _forge(state: Path, **line: Any) -> None:
    history.append(LocalState(state),
                   {"backup_set": "shop", "verdict": "passed", "codes": [], **line})


def test_an_appended_passed_line_without_a_journal_does_not_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    drill(ctx.state_dir, "failed", ctx.now - timedelta(days=2), ["ROWCOUNT_MISMATCH"])
    _forge(ctx.state_dir, run_id=new_run_id(), finished=ctx.now.isoformat())
    r = run(ctx, "backups.restore_tested")
    assert codes(r) == ["RESTORE_TEST_FAILED"]
    (why,) = r.evidence["not_counted"]
    assert "no journal for its run id" in why


def test_a_forged_line_alone_is_RESTORE_NEVER_TESTED(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    _forge(ctx.state_dir, run_id=new_run_id(), finished=ctx.now.isoformat())
    r = run(ctx, "backups.restore_tested")
    assert codes(r) == ["RESTORE_NEVER_TESTED"]
    assert "1 line(s) not counted" in r.findings[0].message


def test_a_line_edited_to_passed_does_not_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    run_id = drill(ctx.state_dir, "failed", ctx.now - timedelta(days=2), ["ROWCOUNT_MISMATCH"])
    path = ctx.state_dir / "drills" / "history.jsonl"
    path.write_text(path.read_text().replace('"failed"', '"passed"'))
    r = run(ctx, "backups.restore_tested")
    assert codes(r) == ["RESTORE_NEVER_TESTED"]
    assert r.evidence["not_counted"] == [
        f"run {run_id}: the line differs from what its run journaled (edited)"]


def test_a_line_naming_a_run_of_another_runbook_does_not_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    other = check_run(ctx.state_dir, "monthly")
    _forge(ctx.state_dir, run_id=other, finished=ctx.now.isoformat())
    assert codes(run(ctx, "backups.restore_tested")) == ["RESTORE_NEVER_TESTED"]


def test_a_line_whose_journal_does_not_verify_does_not_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL)
    drill(ctx.state_dir, "failed", ctx.now - timedelta(days=3), ["ROWCOUNT_MISMATCH"])
    run_id = drill(ctx.state_dir, "passed", ctx.now - timedelta(days=1))
    path = jr.journal_path(ctx.state_dir, run_id)
    path.write_text(path.read_text().replace('"exit_code":0', '"exit_code":1'))
    assert codes(run(ctx, "backups.restore_tested")) == ["RESTORE_TEST_FAILED"]


def test_drill_max_age_is_configurable(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DRILL + '\n[checklist.ops]\ndrill_max_age = "7d"\n')
    drill(ctx.state_dir, "passed", ctx.now - timedelta(days=8))
    assert codes(run(ctx, "backups.restore_tested")) == ["RESTORE_TEST_STALE"]


# -- monitoring.sentry --------------------------------------------------------------------------
SENTRY = '[sentry]\ndsn = "env:SENTRY_DSN"\n'
KEY_CANARY = "c0ffee1234abcd5678ef"


def sentry_ctx(tmp_path: Path, sink: HttpSink, path: str = "") -> CheckContext:
    dsn = f"http://{KEY_CANARY}@127.0.0.1:{sink.port}{path}/42"
    return make_ctx(tmp_path, SENTRY, {"SENTRY_DSN": dsn})


def test_no_sentry_is_SENTRY_NOT_CONFIGURED(tmp_path: Path) -> None:
    r = run(make_ctx(tmp_path, ""), "monitoring.sentry")
    assert codes(r) == ["SENTRY_NOT_CONFIGURED"]
    assert r.findings[0].outcome is Outcome.FAILED


def test_reachable_sentry_passes_with_one_authenticated_envelope(
        tmp_path: Path, http_sink: HttpSink) -> None:
    http_sink.clear()
    r = run(sentry_ctx(tmp_path, http_sink), "monitoring.sentry")
    assert r.findings == [] and r.evidence["status"] == 200
    (req,) = [q for q in http_sink.requests if q.path == "/api/42/envelope/"]
    assert f"sentry_key={KEY_CANARY}" in req.headers["x-sentry-auth"]
    assert b'"type":"client_report"' in req.body
    assert KEY_CANARY not in json.dumps(r.evidence)


def test_rejected_key_is_SENTRY_DSN_REJECTED(tmp_path: Path, http_sink: HttpSink) -> None:
    r = run(sentry_ctx(tmp_path, http_sink, "/status/401"), "monitoring.sentry")
    assert codes(r) == ["SENTRY_DSN_REJECTED"]
    assert KEY_CANARY not in json.dumps([f.to_dict() for f in r.findings] + [r.evidence])


def test_unreachable_sentry_is_unverified(tmp_path: Path, http_sink: HttpSink) -> None:
    dsn = f"http://{KEY_CANARY}@127.0.0.1:{http_sink.down_port}/42"
    ctx = make_ctx(tmp_path, SENTRY, {"SENTRY_DSN": dsn})
    r = evaluate(ctx, BY_ID["monitoring.sentry"])
    assert [(f.code, f.outcome) for f in r.findings] == [("SENTRY_UNREACHABLE",
                                                          Outcome.UNVERIFIED)]
    assert KEY_CANARY not in json.dumps([f.to_dict() for f in r.findings])


# -- ops.owners ---------------------------------------------------------------------------------
def deliveries(state: Path, *rows: tuple[str, bool]) -> None:
    """A run journal with one delivery event per (person, ok), as the executor writes them."""
    j = jr.Journal.create(state, new_run_id(), Redactor())
    j.append("run_started", {"runbook": "test.markers"})
    for person, ok in rows:
        j.append("delivery", {"event": "start", "person": person, "channel": "json://127.0.0.1…",
                              "ok": ok, "error": "" if ok else "refused"})


def test_missing_owner_and_owner_without_channel_are_findings(tmp_path: Path) -> None:
    toml = '[owners]\nkey_rotation = ["alice"]\n\n[people.alice]\nnotify = []\n'
    r = run(make_ctx(tmp_path, toml), "ops.owners")
    assert sorted((f.code, f.subject) for f in r.findings) == [
        ("NO_NOTICE_CHANNEL", "people.alice"), *sorted(
            ("NO_OWNER", f"owners.{resp}") for resp in (
                "access_approvals", "backup_restore", "dependency_patching",
                "incident_response", "release_signoff"))]


def test_owners_with_recent_deliveries_pass(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, OWNERS)
    deliveries(ctx.state_dir, ("alice", True), ("bob", True))
    r = run(ctx, "ops.owners")
    assert r.findings == []
    assert set(r.evidence["deliveries"]) == {"alice", "bob"}


def test_owner_never_notified_is_NOTICE_UNPROVEN_unverified(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, OWNERS)
    deliveries(ctx.state_dir, ("alice", True))
    r = run(ctx, "ops.owners")
    assert [(f.code, f.subject, f.outcome) for f in r.findings] == [
        ("NOTICE_UNPROVEN", "people.bob", Outcome.UNVERIFIED)]
    assert "notify.test" in r.findings[0].action


def test_deliveries_older_than_35_days_do_not_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, OWNERS)
    deliveries(ctx.state_dir, ("alice", True), ("bob", True))
    ctx.now = datetime.now(UTC) + timedelta(days=36)
    assert codes(run(ctx, "ops.owners")) == ["NOTICE_UNPROVEN", "NOTICE_UNPROVEN"]


def test_a_delivery_in_a_journal_that_does_not_verify_does_not_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, OWNERS)
    deliveries(ctx.state_dir, ("alice", True))
    deliveries(ctx.state_dir, ("bob", False))
    (path,) = [p for p in jr.runs_dir(ctx.state_dir).glob("*.jsonl") if '"bob"' in p.read_text()]
    text = path.read_text()
    assert '"ok":false' in text
    path.write_text(text.replace('"ok":false', '"ok":true'))  # edited to pass
    r = run(ctx, "ops.owners")
    assert [(f.code, f.subject) for f in r.findings] == [("NOTICE_UNPROVEN", "people.bob")]


def test_owner_whose_last_notice_failed_is_NOTICE_FAILED(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, OWNERS)
    deliveries(ctx.state_dir, ("alice", True), ("bob", True), ("bob", False))
    assert codes(run(ctx, "ops.owners")) == ["NOTICE_FAILED"]


# -- ops.runbook_docs ---------------------------------------------------------------------------
FULL_DOC = """# Incident response
## Leaked secret: rotate the key (`breakglass rotate NAME --leaked`)
## Compromised account: lock out the user (`breakglass lockout USER`)
## Bad release: roll back (`breakglass rollback`)
## Data loss: restore from the newest backup (`breakglass drill.restore`)
"""


def test_no_docs_configured_is_not_configured(tmp_path: Path) -> None:
    assert codes(run(make_ctx(tmp_path, ""), "ops.runbook_docs")) == ["NOT_CONFIGURED"]


def test_doc_naming_every_incident_passes(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, '[checklist.ops]\ndocs = ["ir.md"]\n')
    (tmp_path / "ir.md").write_text(FULL_DOC)
    r = run(ctx, "ops.runbook_docs")
    assert r.findings == []
    assert set(r.evidence["topics"]) == {"key rotation", "user lockout", "rollback", "restore"}


def test_synonyms_across_several_files_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, '[checklist.ops]\ndocs = ["ir"]\n')
    (tmp_path / "ir").mkdir()
    (tmp_path / "ir" / "secrets.md").write_text("Credential rotation: see below.\n")
    (tmp_path / "ir" / "accounts.txt").write_text("Disable the account, revoke all sessions.\n")
    (tmp_path / "ir" / "deploys.rst").write_text("Rolling back: revert the deploy.\n")
    (tmp_path / "ir" / "data.md").write_text("Recovery from backup takes 20 minutes.\n")
    assert run(ctx, "ops.runbook_docs").findings == []


def test_doc_without_lockout_is_DOC_TOPIC_MISSING(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, '[checklist.ops]\ndocs = ["ir.md"]\n')
    (tmp_path / "ir.md").write_text(FULL_DOC.replace(
        "lock out the user (`breakglass lockout USER`)", "call Bob"))
    r = run(ctx, "ops.runbook_docs")
    assert codes(r) == ["DOC_TOPIC_MISSING"]
    assert r.findings[0].evidence["missing"] == ["user lockout"]


def test_missing_doc_is_DOC_MISSING(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, '[checklist.ops]\ndocs = ["ir.md", "gone.md"]\n')
    (tmp_path / "ir.md").write_text(FULL_DOC)
    r = run(ctx, "ops.runbook_docs")
    assert codes(r) == ["DOC_MISSING"]
    assert r.findings[0].subject.endswith("gone.md")


# -- ops.review_scheduled -----------------------------------------------------------------------
def check_run(state: Path, gate: str, *, finished: bool = True, dry_run: bool = False,
              only: list[str] | None = None) -> str:
    run_id = new_run_id()
    j = jr.Journal.create(state, run_id, Redactor())
    j.append("run_started", {"runbook": "check", "params": {"gate": gate, "only": only},
                             "target": gate,
                             "dry_run": dry_run, "mutating": False})
    if finished:
        j.append("run_finished", {"status": "passed", "exit_code": 0})
    return run_id


def test_no_monthly_check_is_REVIEW_NEVER_RUN(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "")
    check_run(ctx.state_dir, "release")  # a release gate is not the monthly review
    check_run(ctx.state_dir, "monthly", finished=False)  # nor an unfinished one
    check_run(ctx.state_dir, "monthly", dry_run=True)  # nor a dry run
    check_run(ctx.state_dir, "monthly", only=["tls.hsts"])  # nor a few items of it
    assert codes(run(ctx, "ops.review_scheduled")) == ["REVIEW_NEVER_RUN"]


def test_recent_monthly_check_passes_with_its_run_as_evidence(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "")
    run_id = check_run(ctx.state_dir, "monthly")
    r = run(ctx, "ops.review_scheduled")
    assert r.findings == [] and r.evidence["run_id"] == run_id


def test_a_full_check_without_gate_counts_as_the_review(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "")
    check_run(ctx.state_dir, "")
    assert run(ctx, "ops.review_scheduled").findings == []


def test_a_monthly_check_whose_journal_does_not_verify_does_not_count(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "")
    run_id = check_run(ctx.state_dir, "release")
    path = jr.journal_path(ctx.state_dir, run_id)
    path.write_text(path.read_text().replace('"gate":"release"', '"gate":"monthly"'))
    assert codes(run(ctx, "ops.review_scheduled")) == ["REVIEW_NEVER_RUN"]


def test_old_monthly_check_is_REVIEW_OVERDUE(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "")
    check_run(ctx.state_dir, "monthly")
    ctx.now = datetime.now(UTC) + timedelta(days=36)
    r = run(ctx, "ops.review_scheduled")
    assert codes(r) == ["REVIEW_OVERDUE"] and r.findings[0].evidence["age_days"] >= 35
