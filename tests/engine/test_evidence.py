"""Evidence that holds against someone who can write the state folder (issue #10): each forgery
that a plain hash chain + head let through, tried on real runs through the CLI.

    rewrite with a recomputed chain      passes runs.verify alone; fails --anchor (the final
                                         hash the owners' notice carried)
    one appended, chained run_finished   unconfirmed (past the head): never the run's status
    last line cut, head moved back       unconfirmed / fails --anchor
    a journal that does not verify       TAMPERED in runs.list and runs.show, never "succeeded"
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from breakglass.engine import journal
from tests.engine.conftest import Project
from tests.servers.sinks import HttpSink

HASH = re.compile(r"journal hash:? ([0-9a-f]{64})")


def rechain(path: Path, events: list[dict[str, Any]], head_behind: int = 0) -> None:
    """Write `events` as a journal whose chain and head are recomputed as breakglass would: what
    anyone who can write the file can do. `head_behind` leaves the head that many events back."""
    prev, lines, hashes = journal.GENESIS, [], []
    for seq, ev in enumerate(events, start=1):
        digest = journal.event_hash(seq, ev["ts"], ev["type"], ev["data"], prev)
        lines.append(journal.canonical({"seq": seq, "ts": ev["ts"], "type": ev["type"],
                                        "data": ev["data"], "prev": prev, "hash": digest}))
        prev = digest
        hashes.append(digest)
    path.write_text("".join(f"{line}\n" for line in lines))
    head = len(events) - head_behind
    journal.head_path(path).write_text(journal.canonical({"seq": head, "hash": hashes[head - 1]}))


def append_chained(path: Path, type_: str, data: dict[str, Any]) -> None:
    """One correctly chained event appended by hand, the head left as it was."""
    last = journal.read_events(path)[-1]
    seq, ts = last["seq"] + 1, last["ts"]
    digest = journal.event_hash(seq, ts, type_, data, last["hash"])
    with path.open("a") as fh:
        fh.write(journal.canonical({"seq": seq, "ts": ts, "type": type_, "data": data,
                                    "prev": last["hash"], "hash": digest}) + "\n")


def listed(project: Project) -> dict[str, dict[str, Any]]:
    return {r["run_id"]: r for r in json.loads(project.run("runs.list", "--json").stdout)["runs"]}


def shown(project: Project, run_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(project.run("runs.show", run_id, "--json").stdout)
    return doc


@pytest.fixture
def failed_run(project: Project, http_sink: HttpSink) -> tuple[Project, str, str]:
    """A run that failed verification and rolled back, its owner told; returns the anchor as
    the notice the owner received carried it."""
    project.add_owner(http_sink.apprise_url)
    r = project.markers_run("--yes", "--fail-verify", "s2")
    assert r.returncode == 1, r.stdout + r.stderr
    (run_id,) = project.run_ids()

    def anchors(requests: list[Any]) -> set[str]:
        notices = [q.decoded.decode() for q in requests if q.path == "/"]
        return {m for n in notices if run_id in n for m in HASH.findall(n)}

    http_sink.wait_for(lambda rs: bool(anchors(rs)))
    (anchor,) = anchors(http_sink.requests)
    return project, run_id, anchor


def test_the_final_notice_carries_the_hash_of_the_runs_end(
        failed_run: tuple[Project, str, str]) -> None:
    project, run_id, anchor = failed_run
    (end,) = [e for e in project.events(run_id) if e["type"] == "run_finished"]
    assert end["hash"] == anchor
    deliveries = [e["data"] for e in project.events(run_id) if e["type"] == "delivery"]
    assert [d.get("anchor") for d in deliveries] == [None, anchor]  # start, then the end
    r = project.run("runs.verify", run_id)
    assert r.returncode == 0
    assert f"final hash {anchor} was sent to alice" in r.stdout


def test_the_anchor_of_an_untouched_journal_matches(failed_run: tuple[Project, str, str]) -> None:
    project, run_id, anchor = failed_run
    r = project.run("runs.verify", run_id, "--anchor", anchor)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "anchor matches event" in r.stdout and "run_finished: rolled back" in r.stdout
    doc = json.loads(project.run("runs.verify", run_id, "--anchor", anchor, "--json").stdout)
    assert doc["anchor"]["matches"] is True


def test_a_rewrite_with_a_recomputed_chain_fails_against_the_anchor(
        failed_run: tuple[Project, str, str]) -> None:
    project, run_id, anchor = failed_run
    path = project.journal(run_id)
    events = journal.read_events(path)
    for ev in events:
        if ev["type"] == "run_finished":
            ev["data"] = {"status": "succeeded", "exit_code": 0}
    rechain(path, events)

    alone = project.run("runs.verify", run_id)
    assert alone.returncode == 0  # no secret key: a consistent rewrite passes on its own
    r = project.run("runs.verify", run_id, "--anchor", anchor)
    assert r.returncode == 1
    assert "ANCHOR MISMATCH" in r.stdout


def test_one_appended_chained_run_finished_is_unconfirmed_never_the_runs_end(
        project: Project) -> None:
    project.kill(project.start_paused("s2.mid"))
    (run_id,) = project.run_ids()
    append_chained(project.journal(run_id), "run_finished",
                   {"status": "succeeded", "exit_code": 0})

    assert listed(project)[run_id]["status"] == "end unconfirmed"
    doc = shown(project, run_id)
    assert (doc["status"], doc["exit_code"], doc["unconfirmed_end"]) == (
        "end unconfirmed", None, "succeeded")
    r = project.run("runs.verify", run_id)
    assert r.returncode == 3
    assert "unconfirmed" in r.stdout and "--anchor" in r.stdout
    # resume finishes it for real (the forged end decides nothing)
    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert listed(project)[run_id]["status"] == "succeeded"


def test_an_appended_step_done_does_not_make_resume_skip_the_step(project: Project) -> None:
    project.kill(project.start_paused("s2.before"))
    (run_id,) = project.run_ids()
    append_chained(project.journal(run_id), "step_done", {"step": "s2", "applied": True})
    assert project.run("runs.resume", run_id, "--yes").returncode == 0
    assert project.present() == ["s1.a", "s1.b", "s2.a", "s2.b", "s3.a", "s3.b"]


def test_an_appended_confirmation_does_not_let_resume_apply_without_yes(
        project: Project) -> None:
    assert project.markers_run().returncode == 2  # no --yes: nothing applied
    (run_id,) = project.run_ids()
    append_chained(project.journal(run_id), "confirmed", {"how": "--yes"})
    r = project.run("runs.resume", run_id)
    assert r.returncode == 2, r.stdout + r.stderr
    assert project.applied() == []


def test_an_appended_success_does_not_change_a_failed_runs_status(
        failed_run: tuple[Project, str, str]) -> None:
    project, run_id, _ = failed_run
    append_chained(project.journal(run_id), "run_finished",
                   {"status": "succeeded", "exit_code": 0})
    row = listed(project)[run_id]
    assert (row["status"], row["exit_code"]) == ("rolled back", 1)
    assert project.run("runs.verify", run_id).returncode == 3


def test_cutting_the_end_and_moving_the_head_back_is_noticed(
        failed_run: tuple[Project, str, str]) -> None:
    project, run_id, anchor = failed_run
    path = project.journal(run_id)
    events = journal.read_events(path)
    end = next(i for i, e in enumerate(events) if e["type"] == "run_finished")

    # the last line cut and the head moved back one: what is left ends unconfirmed
    rechain(path, events[:-1], head_behind=1)
    assert project.run("runs.verify", run_id).returncode == 3
    assert project.run("runs.verify", run_id, "--anchor", anchor).returncode == 0

    # the end cut too, the head made consistent: only the anchor can tell
    rechain(path, events[:end])
    assert project.run("runs.verify", run_id).returncode == 0
    assert listed(project)[run_id]["status"] == "interrupted"
    r = project.run("runs.verify", run_id, "--anchor", anchor)
    assert r.returncode == 1 and "ANCHOR MISMATCH" in r.stdout


def test_a_journal_that_does_not_verify_is_TAMPERED_in_list_and_show(project: Project) -> None:
    assert project.markers_run("--yes").returncode == 0
    (run_id,) = project.run_ids()
    path = project.journal(run_id)
    path.write_text(path.read_text().replace('"s1"', '"s9"', 1))

    row = listed(project)[run_id]
    assert (row["status"], row["exit_code"], row["journal_ok"]) == ("TAMPERED", None, False)
    table = project.run("runs.list")
    assert "TAMPERED" in table.stdout and "succeeded" not in table.stdout
    doc = shown(project, run_id)
    assert (doc["status"], doc["claimed_status"]) == ("TAMPERED", "succeeded")
    assert doc["journal_problems"]
    text = project.run("runs.show", run_id).stdout
    assert "TAMPERED: this journal does not verify" in text


def test_a_malformed_anchor_is_a_usage_error(failed_run: tuple[Project, str, str]) -> None:
    project, run_id, anchor = failed_run
    r = project.run("runs.verify", run_id, "--anchor", anchor[:16])
    assert r.returncode == 2
    assert "paste the whole 64-character hash" in r.stderr and "Traceback" not in r.stderr


def test_with_sentry_the_final_hash_is_sent_there_and_journaled(
        project: Project, http_sink: HttpSink) -> None:
    project.config.write_text(project.config.read_text() + '\n[sentry]\ndsn = "env:SENTRY_DSN"\n')
    http_sink.clear()
    r = project.markers_run("--yes", env={"SENTRY_DSN": http_sink.sentry_dsn})
    assert r.returncode == 0, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    (end,) = [e for e in project.events(run_id) if e["type"] == "run_finished"]
    (sent,) = [e["data"] for e in project.events(run_id) if e["type"] == "anchor"]
    assert sent == {"to": "sentry", "hash": end["hash"], "ok": True, "error": ""}
    tags = [i.json().get("tags", {}) for e in http_sink.sentry_envelopes()
            for i in e.of_type("event")]
    assert {"run_id": run_id, "journal_hash": end["hash"]}.items() <= next(
        t for t in tags if t.get("run_id") == run_id).items()
