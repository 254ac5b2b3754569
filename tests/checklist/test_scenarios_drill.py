"""`breakglass drill.scenarios` through the real CLI against a real Django app over verified TLS
(tests/checklist/scenario_app.py): every scenario passes against the app that does it right
and fails against the one that does it wrong; missing config is "could not verify"; production
is refused; requests and time are bounded; no secret reaches any output."""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.checklist.scenario_app import ScenarioApp, start
from tests.cli_project import CliProject
from tests.servers.nginx import TestCA
from tests.servers.sinks import HttpSink

PASSWORD = "canary-pw-" + secrets.token_hex(8)
WEBHOOK_SECRET = "whsec_canary" + secrets.token_hex(12)

SCENARIOS = {  # scenario -> (code when right, code when wrong)
    "session_revoked": ("SESSION_REFUSED", "SESSION_STILL_ACCEPTED"),
    "reset_expired": ("RESET_REJECTED", "EXPIRED_RESET_ACCEPTED"),
    "private_file": ("PRIVATE_FILE_REFUSED", "PRIVATE_FILE_PUBLIC"),
    "webhook_signature": ("SIGNATURE_REJECTED", "INVALID_SIGNATURE_ACCEPTED"),
    "tenant_isolation": ("OTHER_TENANT_REFUSED", "OTHER_TENANT_ACCESSIBLE"),
    "admin_routes": ("ADMIN_ROUTES_REFUSED", "ADMIN_ROUTE_OPEN"),
    "brute_force": ("RATE_LIMITED", "NO_RATE_LIMIT"),
}

HEAD = """\
[project]
name = "acme"
environment = "{environment}"
state_dir = "state"

[owners]
release_signoff = ["alice"]
[people.alice]
notify = ["{notify}"]
"""

FULL = """\
[drills.scenarios]
base_url = "{url}"
ca_bundle = "{bundle}"
{limits}
[drills.scenarios.login]
path = "/login/"
[drills.scenarios.user]
username = "alice"
password = "env:SCENARIO_PASSWORD"
[drills.scenarios.brute_force]
username = "mallory"
attempts = {attempts}
[drills.scenarios.reset_expired]
path = "/reset/{{token}}/"
token = "env:SCENARIO_RESET_TOKEN"
rejected_text = "link was invalid"
[drills.scenarios.session_revoked]
probe_path = "/account/"
logout_path = "/logout/"
[drills.scenarios.private_file]
paths = ["/media/private/invoice-1.pdf"]
[drills.scenarios.webhook_signature]
path = "/webhooks/stripe/"
secret = "env:SCENARIO_WEBHOOK_SECRET"
[drills.scenarios.tenant_isolation]
own_path = "/projects/1/"
other_paths = ["/projects/2/"]
[drills.scenarios.admin_routes]
paths = ["/staff/"]
"""


@dataclass
class ScenarioProject(CliProject):
    app: ScenarioApp | None = None
    ca: TestCA | None = None
    notify: str = ""
    command: ClassVar[tuple[str, ...]] = ("drill.scenarios",)

    def write(self, *, environment: str = "staging", extra: str = "", full: bool = True,
              limits: str = "", attempts: int = 10) -> ScenarioProject:
        assert self.app is not None and self.ca is not None
        self.root.mkdir(parents=True, exist_ok=True)
        body = FULL.format(url=self.app.url, bundle=self.ca.bundle, limits=limits,
                           attempts=attempts) if full else ""
        self.config.write_text(HEAD.format(environment=environment, notify=self.notify)
                               + extra + body)
        return self

    def env(self, **more: str) -> dict[str, str]:
        token = self.app.reset_token if self.app else ""
        return super().env(**{"SCENARIO_PASSWORD": PASSWORD, "SCENARIO_RESET_TOKEN": token,
                              "SCENARIO_WEBHOOK_SECRET": WEBHOOK_SECRET, **more})

    def drill(self, *args: str) -> tuple[int, dict[str, Any]]:
        r = self.run("drill.scenarios", *args, "--json")
        assert r.stdout.strip(), r.stderr
        return r.returncode, json.loads(r.stdout)

    def history(self) -> list[dict[str, Any]]:
        path = self.state / "drills" / "scenarios.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def everything_written(self) -> str:
        files = [p.read_text(errors="replace") for p in self.root.rglob("*") if p.is_file()]
        return "\n".join([*self.outputs.values(), *files])


def scenario(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The step's one finding (verdict note or finding) of scenario `name`."""
    (step,) = [s for s in data["steps"] if s["step"] == name]
    assert len(step["findings"]) == 1, step
    return dict(step["findings"][0])


def verdict_of(finding: dict[str, Any]) -> str:
    if finding["outcome"] == "unverified":
        return "could not verify"
    return "passed" if finding["severity"] == "info" else "failed"


# -- apps and projects ----------------------------------------------------------------------------
def _app(tmp: Path, test_ca: TestCA, bad: tuple[str, ...] = (), slow: float = 0.0
         ) -> Iterator[ScenarioApp]:
    cert, key = test_ca.cert("good")
    app = start(cert, key, tmp, PASSWORD, WEBHOOK_SECRET, bad, slow)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def right_app(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
              ) -> Iterator[ScenarioApp]:
    yield from _app(tmp_path_factory.mktemp("right"), test_ca)


def _project(root: Path, app: ScenarioApp, ca: TestCA, sink: HttpSink) -> ScenarioProject:
    return ScenarioProject(root, app=app, ca=ca, notify=sink.apprise_url)


@dataclass(frozen=True)
class FullRun:
    """A whole drill against one app, done once per test session (not once per xdist worker:
    it costs an app and a full run) and read back by every test that judges it."""

    root: Path
    code: int
    data: dict[str, Any]
    url: str
    reset_token: str
    sessions: list[str]

    def history(self) -> list[dict[str, Any]]:
        path = self.root / "state" / "drills" / "scenarios.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def everything_written(self) -> str:
        """Every output of the run plus every file it left (journal, reports, history)."""
        files = [p.read_text(errors="replace") for p in (self.root / "state").rglob("*")
                 if p.is_file()]
        return "\n".join([(self.root / "outputs.txt").read_text(), *files])


def _full_run(factory: pytest.TempPathFactory, name: str, bad: tuple[str, ...], ca: TestCA,
              sink: HttpSink) -> FullRun:
    # Shared by the xdist workers of this session (their basetemps' parent), made by the first.
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / f"scenarios-{name}"
    with open(shared / f"scenarios-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "result.json").exists():
            for app in _app(root / "app", ca, bad):
                project = _project(root / "project", app, ca, sink).write()
                code, data = project.drill()
                time.sleep(0.2)  # the app's last log lines
                (root / "project" / "outputs.txt").write_text("\n".join(project.outputs.values()))
                (root / "result.json").write_text(json.dumps({
                    "code": code, "data": data, "url": app.url, "reset_token": app.reset_token,
                    "sessions": app.issued_sessions}))
    saved = json.loads((root / "result.json").read_text())
    return FullRun(root / "project", saved["code"], saved["data"], saved["url"],
                   saved["reset_token"], saved["sessions"])


@pytest.fixture(scope="module")
def right_run(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA,
              http_sink: HttpSink) -> FullRun:
    return _full_run(tmp_path_factory, "right", (), test_ca, http_sink)


@pytest.fixture(scope="module")
def wrong_run(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA,
              http_sink: HttpSink) -> FullRun:
    bad = ("rate_limit", "reset", "session", "private", "webhook", "tenant", "admin")
    return _full_run(tmp_path_factory, "wrong", bad, test_ca, http_sink)


@pytest.fixture
def project(tmp_path: Path, right_app: ScenarioApp, test_ca: TestCA,
            http_sink: HttpSink) -> ScenarioProject:
    return _project(tmp_path, right_app, test_ca, http_sink)


# -- each scenario passes and fails ---------------------------------------------------------------
def test_every_scenario_passes_against_the_app_that_does_it_right(
        right_run: FullRun) -> None:
    code, data = right_run.code, right_run.data
    got = {n: (verdict_of(f := scenario(data, n)), f["code"]) for n in SCENARIOS}
    assert got == {n: ("passed", codes[0]) for n, codes in SCENARIOS.items()}
    assert code == 0
    # The history line the checklist items read.
    (line,) = right_run.history()
    assert line["base_url"] == right_run.url
    assert line["run_id"] == data["run_id"]
    assert {n: (v["verdict"], v["code"]) for n, v in line["scenarios"].items()} == got


def test_every_scenario_fails_against_the_app_that_does_it_wrong(
        wrong_run: FullRun) -> None:
    code, data = wrong_run.code, wrong_run.data
    got = {n: (verdict_of(f := scenario(data, n)), f["code"]) for n in SCENARIOS}
    assert got == {n: ("failed", codes[1]) for n, codes in SCENARIOS.items()}
    assert code == 1
    assert all(scenario(data, n)["action"] for n in SCENARIOS)
    (line,) = wrong_run.history()
    assert {n: (v["verdict"], v["code"]) for n, v in line["scenarios"].items()} == got


def test_a_finding_carries_the_checklist_items_severity(
        wrong_run: FullRun) -> None:
    data = wrong_run.data
    # session revocation is critical in items.py, the reset link's expiry an error
    assert scenario(data, "session_revoked")["severity"] == "critical"
    assert scenario(data, "reset_expired")["severity"] == "error"


def test_each_request_is_recorded_by_method_path_and_status(
        right_run: FullRun) -> None:
    data = right_run.data
    requests = scenario(data, "session_revoked")["evidence"]["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("GET", "/login/", 200), ("POST", "/login/", 302), ("GET", "/account/", 200),
        ("POST", "/logout/", 302), ("GET", "/account/", 302)]
    assert requests[-1]["location"] == "/login/"
    # The reset link's token is never recorded: its path is shown as the template.
    (reset,) = scenario(data, "reset_expired")["evidence"]["requests"]
    assert reset == {"method": "GET", "path": "/reset/{token}/", "status": 200,
                     "note": "expired reset link"}


def test_brute_force_stops_at_the_first_limited_answer(
        right_run: FullRun) -> None:
    data = right_run.data
    found = scenario(data, "brute_force")
    posts = [r for r in found["evidence"]["requests"] if r["method"] == "POST"]
    assert [r["status"] for r in posts] == [200] * 5 + [429]
    assert found["evidence"]["attempts"] == 6


def test_a_correctly_signed_but_stale_webhook_accepted_is_a_finding(
        tmp_path: Path, test_ca: TestCA, http_sink: HttpSink) -> None:
    for app in _app(tmp_path / "app", test_ca, ("stale",)):
        project = _project(tmp_path / "p", app, test_ca, http_sink).write()
        code, data = project.drill("--only", "webhook_signature")
        found = scenario(data, "webhook_signature")
        assert (code, found["code"]) == (1, "STALE_SIGNATURE_ACCEPTED"), found
        assert found["evidence"]["answers"] == {"control": 200, "invalid": 400, "stale": 200}


# -- could not verify -----------------------------------------------------------------------------
def test_a_scenario_without_its_config_could_not_be_verified_never_passed(
        project: ScenarioProject) -> None:
    assert project.app is not None
    project.write(full=False, extra=f'[drills.scenarios]\nbase_url = "{project.app.url}"\n')
    code, data = project.drill()
    assert code == 3
    for name in SCENARIOS:
        found = scenario(data, name)
        assert (verdict_of(found), found["code"]) == ("could not verify", "NOT_CONFIGURED")
    (line,) = project.history()
    assert {v["verdict"] for v in line["scenarios"].values()} == {"could not verify"}


def test_an_untrusted_certificate_is_could_not_verify(project: ScenarioProject) -> None:
    # Without the staging CA the certificate does not verify: nothing is sent in the clear and
    # nothing passes.
    project.write()
    project.config.write_text(re.sub(r'ca_bundle = ".*"\n', "", project.config.read_text()))
    code, data = project.drill("--only", "private_file")
    assert (code, scenario(data, "private_file")["code"]) == (3, "TLS_UNVERIFIED")


def test_a_wrong_test_password_is_login_failed_not_a_pass(project: ScenarioProject) -> None:
    project.write()
    r = project.run("drill.scenarios", "--only", "tenant_isolation", "--json",
                    env=project.env(SCENARIO_PASSWORD="not-the-password"))
    data = json.loads(r.stdout)
    assert (r.returncode, scenario(data, "tenant_isolation")["code"]) == (3, "LOGIN_FAILED")


# -- --only ---------------------------------------------------------------------------------------
def test_only_runs_the_named_scenarios(project: ScenarioProject) -> None:
    project.write()
    code, data = project.drill("--only", "private_file,admin_routes")
    assert code == 0
    assert [s["step"] for s in data["steps"]] == ["private_file", "admin_routes", "history"]
    (line,) = project.history()
    assert set(line["scenarios"]) == {"private_file", "admin_routes"}


def test_only_with_an_unknown_scenario_is_a_usage_error(project: ScenarioProject) -> None:
    project.write()
    r = project.run("drill.scenarios", "--only", "private_file,sql_injection")
    assert r.returncode == 2
    assert "sql_injection" in r.stderr and "brute_force" in r.stderr


# -- production -----------------------------------------------------------------------------------
def test_base_url_on_the_apps_host_is_refused_with_one_line(project: ScenarioProject) -> None:
    assert project.app is not None
    project.write(extra=f'[app]\nbase_url = "{project.app.url}"\n')
    r = project.run("drill.scenarios")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "production" in r.stderr and "--allow-production" in r.stderr
    assert not (project.state / "runs").exists() or not any((project.state / "runs").rglob("*"))


def test_base_url_on_a_production_host_is_refused(project: ScenarioProject) -> None:
    project.write(environment="production", extra='[hosts.web1]\naddress = "127.0.0.1"\n'
                                                  'user = "deploy"\n')
    r = project.run("drill.scenarios")
    assert r.returncode == 2
    assert "[hosts.web1]" in r.stderr


def test_the_same_host_in_a_staging_project_is_not_production(
        project: ScenarioProject) -> None:
    project.write(environment="staging", extra='[hosts.web1]\naddress = "127.0.0.1"\n'
                                               'user = "deploy"\n')
    code, _ = project.drill("--only", "private_file")
    assert code == 0


def test_allow_production_runs_and_the_journal_records_it(project: ScenarioProject) -> None:
    assert project.app is not None
    project.write(extra=f'[app]\nbase_url = "{project.app.url}"\n')
    code, data = project.drill("--only", "private_file", "--allow-production")
    assert code == 0
    journal = Path(data["journal"]).read_text().splitlines()
    started = json.loads(journal[0])
    assert started["type"] == "run_started"
    assert started["data"]["params"]["allow_production"] is True
    notes = [json.loads(line)["data"] for line in journal if '"precondition"' in line]
    assert any(n["item"] == "drill.production_target" and n["findings"][0]["code"]
               == "PRODUCTION_TARGET_ALLOWED" for n in notes)


# -- bounds ---------------------------------------------------------------------------------------
def test_a_scenario_stops_at_max_requests(project: ScenarioProject) -> None:
    # The right app limits the 6th wrong password; 5 requests (a GET for the CSRF token and 4
    # POSTs) end the scenario first: cut short is "could not verify", never a pass.
    assert project.app is not None
    project.write(limits="max_requests = 5", attempts=50)
    before = project.app.seen("POST /login/")
    code, data = project.drill("--only", "brute_force")
    found = scenario(data, "brute_force")
    assert (code, verdict_of(found), found["code"]) == (3, "could not verify", "REQUEST_LIMIT")
    assert len(found["evidence"]["requests"]) == 5
    time.sleep(0.2)  # the app's log line follows its answer
    assert project.app.seen("POST /login/") - before == 4


def test_the_run_stops_at_its_total_request_budget(project: ScenarioProject) -> None:
    project.write(limits="max_total_requests = 3")
    code, data = project.drill("--only", "private_file,admin_routes")
    assert code == 3
    assert scenario(data, "private_file")["code"] == "PRIVATE_FILE_REFUSED"  # 1 request
    assert scenario(data, "admin_routes")["code"] == "REQUEST_LIMIT"  # 2 more, then none


def test_the_run_stops_at_its_deadline(tmp_path: Path, test_ca: TestCA,
                                       http_sink: HttpSink) -> None:
    for app in _app(tmp_path / "app", test_ca, ("rate_limit",), slow=0.4):
        project = _project(tmp_path / "p", app, test_ca, http_sink).write(
            limits='deadline = "2s"\nmax_requests = 500', attempts=200)
        code, data = project.drill("--only", "brute_force")
        assert code == 3
        assert scenario(data, "brute_force")["code"] == "DEADLINE"
        # Counts, not a clock: every answer takes at least 0.4 s, so a 2-s deadline lets at
        # most 6 attempts start (fewer on a loaded machine), never the 200 asked for.
        posts = [r for r in scenario(data, "brute_force")["evidence"]["requests"]
                 if r["method"] == "POST"]
        assert 1 <= len(posts) <= 6


# -- secrets --------------------------------------------------------------------------------------
def test_no_password_session_token_or_secret_in_any_output_journal_or_report(
        right_run: FullRun, wrong_run: FullRun) -> None:
    for run in (right_run, wrong_run):
        assert run.sessions, "the app handed out no session: the canary proves nothing"
        written = run.everything_written()
        assert "run_started" in written and "SESSION_" in written  # journals and reports read
        token = run.reset_token.split("/")[1]
        for canary in [PASSWORD, WEBHOOK_SECRET, token, *run.sessions]:
            assert canary not in written, f"{canary[:12]}… leaked"


# -- the checklist items read what the drill recorded ----------------------------------------------
@pytest.mark.parametrize("run_name", ["right", "wrong"])
def test_the_checklist_items_judge_the_drills_history(
        tmp_path: Path, run_name: str, request: pytest.FixtureRequest) -> None:
    import shutil

    from breakglass.drills.scenarios import ITEMS
    from tests.checklist.context import make_ctx, run

    full: FullRun = request.getfixturevalue(f"{run_name}_run")
    ctx = make_ctx(tmp_path, f'[drills.scenarios]\nbase_url = "{full.url}"\n')
    # the history and the journal of the run that wrote it (a line counts only with it)
    for folder in ("drills", "runs"):
        shutil.copytree(full.root / "state" / folder, ctx.state_dir / folder)
    got = {item: [f.code for f in run(ctx, item).findings] for item in ITEMS.values()}
    if run_name == "right":
        assert got == {item: [] for item in ITEMS.values()}
    else:
        assert got == {item: [SCENARIOS[n][1]] for n, item in ITEMS.items()}
