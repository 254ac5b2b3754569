"""The §14 checklist items judged from drill.scenarios' history (state_dir/drills/scenarios.jsonl):
pass when the newest run of the scenario passed within drill_max_age; the newest failure is a
finding quoting its run; never run, too old, could not verify or no config is unverified."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakglass.checklist.model import CheckContext
from breakglass.drills.scenarios import ITEMS, history
from breakglass.engine.findings import Outcome
from breakglass.state.local import LocalState
from tests.checklist import histories
from tests.checklist.context import codes, make_ctx, run

URL = "https://staging.acme.test"
CONFIG = f'[drills.scenarios]\nbase_url = "{URL}"\n'
NOW = datetime.now(UTC)


def ctx_with(tmp_path: Path, *runs: tuple[str, timedelta, dict[str, str]],
             base_url: str = URL, config: str = CONFIG) -> CheckContext:
    """A context whose history holds `runs`: (name, age, {scenario: verdict}), each line backed
    by its run's journal. `IDS[name]` is the run id each got."""
    ctx = make_ctx(tmp_path, config)
    for name, age, verdicts in runs:
        line = histories.scenarios(ctx.state_dir, base_url, NOW - age,
                                   {n: (v, _code(v)) for n, v in verdicts.items()})
        IDS[name] = line["run_id"]
    return ctx


IDS: dict[str, str] = {}


def _code(verdict: str) -> str:
    return {"passed": "RATE_LIMITED", "failed": "NO_RATE_LIMIT",
            "could not verify": "LOGIN_FAILED"}[verdict]


def test_every_scenario_has_its_item_registered() -> None:
    from breakglass.checklist.checks import load

    checks = load()
    for item in ITEMS.values():
        assert item in checks


def test_a_recent_pass_passes(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=3), {"brute_force": "passed"}))
    result = run(ctx, "auth.rate_limit")
    assert result.findings == []
    assert result.evidence["run_id"] == IDS["r1"] and result.evidence["verdict"] == "passed"


def test_the_newest_run_failing_is_a_finding_quoting_the_run(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=9), {"brute_force": "passed"}),
                   ("r2", timedelta(days=2), {"brute_force": "failed"}))
    result = run(ctx, "auth.rate_limit")
    (f,) = result.findings
    assert (f.code, f.outcome) == ("NO_RATE_LIMIT", Outcome.FAILED)
    assert IDS["r2"] in f.message and f"runs.show {IDS['r2']}" in f.action


def test_a_fix_proven_by_a_newer_run_passes(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=9), {"brute_force": "failed"}),
                   ("r2", timedelta(days=1), {"brute_force": "passed"}))
    assert run(ctx, "auth.rate_limit").findings == []


def test_a_pass_older_than_drill_max_age_is_unverified(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=40), {"brute_force": "passed"}))
    result = run(ctx, "auth.rate_limit")
    assert codes(result) == ["SCENARIO_STALE"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED
    assert "drill.scenarios --only brute_force" in result.findings[0].action


def test_drill_max_age_comes_from_checklist_ops(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=10), {"brute_force": "passed"}),
                   config=CONFIG + '[checklist.ops]\ndrill_max_age = "7d"\n')
    assert codes(run(ctx, "auth.rate_limit")) == ["SCENARIO_STALE"]


def test_could_not_verify_in_the_newest_run_is_unverified(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=2), {"brute_force": "could not verify"}))
    result = run(ctx, "auth.rate_limit")
    assert codes(result) == ["SCENARIO_UNVERIFIED"]
    assert "LOGIN_FAILED" in result.findings[0].message


def test_never_run_is_unverified(tmp_path: Path) -> None:
    # a run that did not include the scenario (--only) does not count for it
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=1), {"private_file": "passed"}))
    assert codes(run(ctx, "auth.rate_limit")) == ["SCENARIO_NEVER_RUN"]


def test_runs_against_another_base_url_do_not_count(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=1), {"brute_force": "passed"}),
                   base_url="https://old-staging.acme.test")
    assert codes(run(ctx, "auth.rate_limit")) == ["SCENARIO_NEVER_RUN"]


def test_no_scenarios_config_is_not_configured(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "")
    result = run(ctx, "admin.routes")
    assert codes(result) == ["NOT_CONFIGURED"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED


@pytest.mark.parametrize("scenario,item", list(ITEMS.items()))
def test_each_item_reads_its_own_scenario(tmp_path: Path, scenario: str, item: str) -> None:
    others = {n: "failed" for n in ITEMS if n != scenario}
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=1), {scenario: "passed", **others}))
    assert run(ctx, item).findings == []


# -- a line counts only while its run's journal backs it ----------------------------------------
def _append(ctx: CheckContext, line: dict[str, Any]) -> None:
    history.append(LocalState(ctx.state_dir), line)


def test_an_appended_line_without_a_journal_does_not_turn_a_failure_into_a_pass(
        tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=2), {"brute_force": "failed"}))
    _append(ctx, {"run_id": "20991231T000000-beef", "time": NOW.isoformat(), "base_url": URL,
                  "scenarios": {"brute_force": {"verdict": "passed", "code": "RATE_LIMITED"}}})
    assert codes(run(ctx, "auth.rate_limit")) == ["NO_RATE_LIMIT"]


def test_a_line_edited_to_pass_no_longer_counts(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=9), {"brute_force": "passed"}),
                   ("r2", timedelta(days=2), {"brute_force": "failed"}))
    path = ctx.state_dir / "drills" / "scenarios.jsonl"
    path.write_text(path.read_text().replace('"verdict": "failed"', '"verdict": "passed"')
                    .replace("NO_RATE_LIMIT", "RATE_LIMITED"))
    result = run(ctx, "auth.rate_limit")
    # r2's line no longer counts; r1's genuine pass is the newest that does
    assert result.findings == [] and result.evidence["run_id"] == IDS["r1"]
    (why,) = history.backed(LocalState(ctx.state_dir))[1]
    assert why.startswith(f"run {IDS['r2']}: ") and "differ" in why


def test_a_line_that_drops_a_failed_scenario_no_longer_counts(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=2), {"brute_force": "failed",
                                                        "private_file": "passed"}))
    path = ctx.state_dir / "drills" / "scenarios.jsonl"
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    del line["scenarios"]["brute_force"]
    path.write_text(json.dumps(line) + "\n")
    assert codes(run(ctx, "uploads.private")) == ["SCENARIO_NEVER_RUN"]


def test_a_copied_line_moved_to_a_later_time_no_longer_counts(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, ("r1", timedelta(days=40), {"brute_force": "passed"}))
    path = ctx.state_dir / "drills" / "scenarios.jsonl"
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text(json.dumps({**line, "time": NOW.isoformat()}) + "\n")
    assert codes(run(ctx, "auth.rate_limit")) == ["SCENARIO_NEVER_RUN"]
