"""The fault suite's fast subset (bench/faults.py --quick): for each covered runbook, two
boundaries — SIGKILLs, resumed; for rollback also a restart refused on one host, finished by
the printed recovery plan; for lockout also Redis down, the account disabled all the same; for
rotate one boundary per kind (a SIGKILL mid-create, a host or Stripe gone and back) — end
consistent or with a recovery plan that worked, checked with independent clients (SFTP, HTTP,
pg_restore, psycopg, redis-py, boto3, the Stripe fake's state, the files), and no canary secret
appears in any output or file. The whole suite runs in CI as `bench/faults.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench._faults import SCENARIO_MODULES
from bench._faults.lab import Lab
from bench._faults.scenario import CONSISTENT, PLAN, SCENARIOS, Fault
from tests.servers.moto import MotoAuthServer
from tests.servers.postgres import PostgresServer
from tests.servers.sshd import SshdFactory

ROOT = Path(__file__).resolve().parents[2]

for _module in SCENARIO_MODULES:
    __import__(f"bench._faults.{_module}")


@pytest.fixture
def lab(tmp_path: Path, sshd_factory: SshdFactory, pg_server: PostgresServer,
        moto_auth_server: MotoAuthServer) -> Iterator[Lab]:
    lab = Lab(tmp_path, sshd=sshd_factory, postgres=pg_server, moto=moto_auth_server)
    yield lab
    lab.close()


QUICK = [(name, fault) for name, cls in sorted(SCENARIOS.items())
         for fault in cls.faults(quick=True)]


@pytest.mark.parametrize(("runbook", "fault"), QUICK,
                         ids=[f"{n}-{f.kind}-{f.point}" for n, f in QUICK])
def test_a_fault_at_a_quick_boundary_ends_consistent_and_leaks_nothing(
        lab: Lab, tmp_path: Path, runbook: str, fault: Fault) -> None:
    trial = SCENARIOS[runbook](lab).trial(fault, tmp_path / "trial")
    assert trial.outcome in (CONSISTENT, PLAN), trial.detail
    assert trial.leaks == []


def test_the_command_prints_the_figures_per_runbook_and_exits_0() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "faults.py"), "--quick",
                        "--only", "attest", "--json", "--budget", "300"],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    figures = json.loads(r.stdout)["figures"]
    assert figures == {"attest": {"boundaries tried": 2, "consistent": 2, "recovery plan": 0,
                                  "stranded": 0, "secrets leaked": 0, "not reached": 0}}


def test_an_unknown_runbook_is_a_one_line_usage_error() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "faults.py"), "--only", "nope"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "faults: unknown runbook 'nope'; covered: rollback, backup.take, drill.restore, attest, "
        "lockout, unlock, rotate.aws_iam_key, rotate.aws_secretsmanager, rotate.ssm_parameter, "
        "rotate.postgres_role, rotate.env_file, rotate.stripe_webhook"]


def test_a_family_name_runs_every_member() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "faults.py"), "--quick",
                        "--only", "rotate", "--kind", "none", "--json"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(json.loads(r.stdout)["figures"]) == [
        "rotate.aws_iam_key", "rotate.aws_secretsmanager", "rotate.env_file",
        "rotate.postgres_role", "rotate.ssm_parameter", "rotate.stripe_webhook"]


def test_jobs_split_the_runbooks_and_merge_their_figures() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "faults.py"), "--quick",
                        "--only", "attest,unlock", "--jobs", "2", "--json"],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    figures = json.loads(r.stdout)["figures"]
    assert {n: f["boundaries tried"] for n, f in figures.items()} == {"attest": 2, "unlock": 1}
    # each child streams a line per trial as it ends (a CI log shows progress)
    assert sum(" consistent" in line for line in r.stderr.splitlines()) == 3
