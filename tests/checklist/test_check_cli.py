"""`breakglass check`: exit codes from the items' verdicts, --gate/--only/--allow-unverified, the
table, --json and --junit — through the real CLI.

Items that need no server: manual items (NOT_ATTESTED until `breakglass attest`) and
ops.runbook_docs, a config-only check ([checklist.ops] docs naming a missing file fails it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from breakglass.checklist import items as catalog
from breakglass.checklist.model import Gate
from tests.checklist.check_project import CheckProject, run_id_in, verdicts

MISSING_DOCS = '[checklist.ops]\ndocs = ["runbook-missing.md"]\n'


@pytest.fixture
def project(tmp_path: Path, http_sink: Any) -> CheckProject:
    return CheckProject(tmp_path / "p", notify_url=http_sink.apprise_url).write(MISSING_DOCS)


# -- exit codes ---------------------------------------------------------------------------------
def test_unattested_manual_item_could_not_verify_exits_3(project: CheckProject) -> None:
    r = project.run("check", "--only", "auth.csrf")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "could not verify" in r.stdout and "NOT_ATTESTED" in r.stdout


def test_attested_item_passes_exits_0(project: CheckProject) -> None:
    assert project.attest("auth.csrf").returncode == 0
    r = project.run("check", "--only", "auth.csrf")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passed" in r.stdout and "attested by alice" in r.stdout


def test_failed_item_exits_1_even_when_another_could_not_verify(project: CheckProject) -> None:
    code, data = project.check_json("--only", "ops.runbook_docs,auth.csrf")
    assert code == 1
    assert verdicts(data) == {"auth.csrf": "could not verify", "ops.runbook_docs": "failed"}


def test_allow_unverified_turns_3_into_0_for_that_item_only(project: CheckProject) -> None:
    code, data = project.check_json("--only", "auth.csrf,secrets.rotated",
                                    "--allow-unverified", "auth.csrf")
    assert code == 3
    assert verdicts(data) == {"secrets.rotated": "could not verify", "auth.csrf": "allowed"}
    code, data = project.check_json("--only", "auth.csrf,secrets.rotated",
                                    "--allow-unverified", "auth.csrf,secrets.rotated")
    assert code == 0
    assert set(verdicts(data).values()) == {"allowed"}
    # journaled as an allowed note: INFO, saying so, the original code kept
    note = next(f for f in data["findings"] if f["subject"] == "auth.csrf")
    assert note["code"] == "NOT_ATTESTED" and note["severity"] == "info"
    assert note["message"].startswith("allowed (--allow-unverified auth.csrf)")
    assert note["evidence"]["allowed_unverified"] is True


def test_allow_unverified_never_excuses_a_failure(project: CheckProject) -> None:
    code, data = project.check_json("--only", "ops.runbook_docs",
                                    "--allow-unverified", "ops.runbook_docs")
    assert code == 1
    assert verdicts(data) == {"ops.runbook_docs": "failed"}


# -- selection and usage errors -------------------------------------------------------------------
def test_gate_selects_its_items_in_checklist_order(project: CheckProject) -> None:
    code, data = project.check_json("--gate", "release")
    assert [i["id"] for i in data["items"]] == [i.id for i in catalog.in_gate(Gate.RELEASE)]
    assert data["gate"] == "release" and data["target"] == "release"
    assert data["params"]["gate"] == "release"  # what ops.review_scheduled reads for "monthly"
    assert code in (1, 3)  # nothing is configured: nothing can pass


def test_only_narrows_to_the_named_items(project: CheckProject) -> None:
    _, data = project.check_json("--only", "secrets.rotated , auth.csrf")
    assert [i["id"] for i in data["items"]] == ["secrets.rotated", "auth.csrf"]
    assert [s["step"] for s in data["steps"]] == ["secrets.rotated", "auth.csrf"]


@pytest.mark.parametrize(("args", "expected"), [
    (("--only", "tls.hst"), "tls.hsts"),
    (("--only", "auth.csrf,cookies.secur"), "cookies.secure"),
    (("--only", "tls"), "tls.https_redirect"),
    (("--allow-unverified", "deps.audits"), "deps.audit"),
])
def test_unknown_item_exits_2_and_suggests_close_ids(project: CheckProject,
                                                     args: tuple[str, ...], expected: str) -> None:
    r = project.run("check", *args)
    assert r.returncode == 2
    assert "unknown checklist item" in r.stderr and expected in r.stderr
    assert not (project.state / "runs").exists()  # refused before any run


def test_unknown_gate_exits_2(project: CheckProject) -> None:
    r = project.run("check", "--gate", "nightly")
    assert r.returncode == 2
    assert "unknown gate" in r.stderr and "launch, release, monthly" in r.stderr


def test_only_an_item_outside_the_gate_exits_2(project: CheckProject) -> None:
    r = project.run("check", "--gate", "release", "--only", "ssh.hardened")
    assert r.returncode == 2
    assert "not in gate release" in r.stderr


# -- output -------------------------------------------------------------------------------------
def test_table_rows_in_checklist_order_then_each_finding_once(project: CheckProject) -> None:
    # In a pipe, at 80 columns: one line per item (docs/runs.md, "Output")
    r = project.run("check", "--only", "auth.csrf,ops.runbook_docs,secrets.rotated",
                    env=project.env(COLUMNS="80"))
    lines = r.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["item", "verdict",
                                                                       "detail"])
    firsts = [line.split()[0] for line in lines[header + 1:] if line[:1].strip()]
    ids = [i for i in firsts if i in catalog.BY_ID]
    assert ids == ["secrets.rotated", "auth.csrf", "ops.runbook_docs"]
    # the engine's per-step lines are not printed besides the table, and the findings table
    # (with the actions) comes once
    _, data = project.check_json("--only", "ops.runbook_docs")
    action = data["findings"][0]["action"]
    assert " ".join(r.stdout.split()).count(" ".join(action.split())) == 1
    assert "1 failed, 2 could not verify" in r.stdout
    assert f"check on all: failed (exit 1), run {run_id_in(r.stdout)}" in " ".join(r.stdout.split())


def test_json_has_the_run_and_one_entry_per_item(project: CheckProject) -> None:
    project.attest("auth.csrf")
    code, data = project.check_json("--only", "auth.csrf,ops.runbook_docs")
    assert code == 1
    assert data["runbook"] == "check" and data["exit_code"] == 1 and data["run_id"]
    by_id = {i["id"]: i for i in data["items"]}
    csrf, docs = by_id["auth.csrf"], by_id["ops.runbook_docs"]
    for entry in (csrf, docs):
        assert {"id", "title", "section", "severity", "gates", "verdict", "findings",
                "evidence"} <= set(entry)
    assert csrf["verdict"] == "passed" and csrf["findings"] == []
    assert csrf["evidence"]["by"] == "alice" and csrf["section"] == 3
    assert csrf["gates"] == ["launch", "release", "monthly"]
    assert docs["verdict"] == "failed"
    assert docs["findings"][0]["outcome"] == "failed" and docs["findings"][0]["action"]
    assert data["preconditions"] == []


def test_junit_has_failure_error_and_skipped_elements(project: CheckProject) -> None:
    out = project.root / "ci" / "junit.xml"
    out.parent.mkdir()
    project.attest("auth.csrf")
    r = project.run("check", "--only",
                    "auth.csrf,secrets.rotated,admin.restricted,ops.runbook_docs",
                    "--allow-unverified", "admin.restricted", "--junit", str(out))
    assert r.returncode == 1
    root = ET.parse(out).getroot()  # noqa: S314 - the file this test just had written
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "breakglass check all"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["secrets.rotated", "auth.csrf", "admin.restricted",
                           "ops.runbook_docs"]
    assert cases["auth.csrf"].get("classname") == "checklist.section03"
    assert [e.tag for e in cases["auth.csrf"]] == ["system-out"]  # passed: evidence only
    error = cases["secrets.rotated"].find("error")
    assert error is not None and error.get("type") == "NOT_ATTESTED"
    skipped = cases["admin.restricted"].find("skipped")
    assert skipped is not None and "allowed" in (skipped.get("message") or "")
    failure = cases["ops.runbook_docs"].find("failure")
    assert failure is not None and "runbook-missing.md" in (failure.get("message") or "")
    assert "next:" in (failure.text or "")


def test_junit_to_an_unwritable_path_exits_2(project: CheckProject) -> None:
    r = project.run("check", "--only", "auth.csrf", "--junit",
                    str(project.root / "no" / "such" / "dir" / "j.xml"))
    assert r.returncode == 2 and "--junit" in r.stderr
    assert not (project.state / "runs").exists()  # refused before running anything


def test_check_run_is_journaled_and_owners_told(project: CheckProject, http_sink: Any) -> None:
    http_sink.clear()
    r = project.run("check", "--only", "auth.csrf")
    run_id = run_id_in(r.stdout)
    show = project.run("runs.show", run_id)
    assert show.returncode == 0 and "auth.csrf" in show.stdout
    assert project.run("runs.verify", run_id).returncode == 0
    # release_signoff's owner (alice) hears of the failure (auth.csrf is not attested), through
    # apprise; a read-only run does not announce its start (notify_on's default)
    bodies = b"".join(req.decoded for req in http_sink.wait_for(lambda rs: len(rs) >= 1))
    assert b"check on all" in bodies


def test_secret_in_the_config_env_never_appears_in_any_output(tmp_path: Path,
                                                              http_sink: Any) -> None:
    canary = "canary-5e3c1f0b9d2a"
    notify = http_sink.apprise_url.replace("json://", f"json://ops:{canary}@")
    http_sink.clear()
    p = CheckProject(tmp_path / "p", notify_url=notify).write(
        MISSING_DOCS + '\n[sentry]\ndsn = "env:SENTRY_DSN"\n')
    env = p.env(SENTRY_DSN=http_sink.sentry_dsn.replace("publickey", canary))
    assert p.run("attest", "auth.csrf", "--by", "alice", "--note", "ok", "--yes",
                 env=env).returncode == 0
    junit = p.root / "junit.xml"
    p.run("check", "--only", "auth.csrf,monitoring.sentry,ops.runbook_docs", "--junit",
          str(junit), env=env)
    p.run("check", "--only", "auth.csrf,monitoring.sentry,ops.runbook_docs", "--json", env=env)
    assert junit.exists()
    # the secrets were really used: Sentry got the DSN key, apprise the basic-auth password
    seen = [" ".join(req.headers.values()) for req in http_sink.requests]
    assert any(canary in h for h in seen)
    assert any("Basic " in h for h in seen)
    assert canary not in p.everything_written()


def test_a_failing_engine_precondition_gets_a_row_of_its_own(tmp_path: Path,
                                                            http_sink: Any) -> None:
    # Nobody owns release_signoff: the engine's owner precondition counts in a read-only run,
    # so the exit code 1 must be explained by a row, a JSON entry and a JUnit testcase.
    p = CheckProject(tmp_path / "p", notify_url=http_sink.apprise_url)
    p.write()
    p.config.write_text(p.config.read_text().replace('release_signoff = ["alice"]\n', ""))
    junit = p.root / "j.xml"
    code, data = p.check_json("--only", "auth.csrf", "--allow-unverified", "auth.csrf",
                              "--junit", str(junit))
    assert code == 1
    assert verdicts(data) == {"auth.csrf": "allowed"}
    assert [(c["id"], c["verdict"]) for c in data["preconditions"]] == [
        ("owners.release_signoff", "failed")]
    assert data["preconditions"][0]["findings"][0]["code"] == "NO_OWNER"
    cases = ET.parse(junit).getroot().iter("testcase")  # noqa: S314 - our own file
    assert ("checklist.preconditions", "owners.release_signoff") in [
        (c.get("classname"), c.get("name")) for c in cases]


@pytest.mark.parametrize("task", ["check", "attest"])
def test_help_explains_the_task(project: CheckProject, task: str) -> None:
    r = project.run(task, "--help")
    assert r.returncode == 0, r.stderr
    assert "Exit 0" in r.stdout
    assert ("--gate" if task == "check" else "--by") in r.stdout


def test_items_of_one_run_share_one_context(tmp_path: Path, http_sink: Any) -> None:
    # Four header items judge the same login page: the run fetches it once (CheckContext.fact),
    # because every step evaluates its item with the run's one CheckContext.
    http_sink.clear()
    site = http_sink.apprise_url.replace("json://", "http://").rstrip("/")
    p = CheckProject(tmp_path / "p", notify_url=http_sink.apprise_url).write(
        f'[checklist.web]\nbase_url = "{site}"\n')
    code, data = p.check_json("--only", "headers.csp,headers.nosniff,headers.referrer_policy,"
                                        "headers.clickjacking")
    assert code == 1  # the sink sends none of these headers
    assert set(verdicts(data).values()) == {"failed"}
    assert [r.path for r in http_sink.requests if r.path.startswith("/login")] == ["/login"]
