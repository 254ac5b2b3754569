"""`breakglass drill.restore` with `environment = "rds"`: the API flow against moto's RDS, driven
through the real CLI in a subprocess.

moto's RDS instance is a record, not a PostgreSQL: its endpoint (`*.rds.amazonaws.com`) does not
resolve, so a connection to it fails. These tests prove the flow around that: the snapshot is
selected and named in the plan, a tagged instance is restored from it, the failed connection is
"could not verify" (exit 3) and never a pass, and the instance is deleted — also after a SIGKILL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from breakglass.recovery.environments.rds import TAG_DRILL, TAG_PROJECT, instance_id
from tests.drills.project import DrillProject

# `environment` must come before the tables that follow [drills.restore] (TOML)
#: the drill environments this module tests (tests/drills/test_registry.py)
ENVIRONMENTS_TESTED = ("rds",)

RDS = ('environment = "rds"\n\n[drills.restore.rds]\nsource_instance = "prod-db"\n'
       'instance_class = "db.t3.small"\npassword = "env:RDS_PASSWORD"\ntimeout = "5m"\n')
EXPECT = '[[drills.restore.expect]]\nsql = "select count(*) from users"\nmin = 1\n'


@pytest.fixture
def source(aws: Any) -> Any:
    """The "production" instance and one snapshot of it, on a freshly reset moto."""
    rds = aws.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="prod-db", Engine="postgres",
                           EngineVersion="16.3", DBInstanceClass="db.t3.micro",
                           MasterUsername="postgres", MasterUserPassword="prod-secret-pw",
                           AllocatedStorage=20)
    rds.create_db_snapshot(DBInstanceIdentifier="prod-db", DBSnapshotIdentifier="prod-snap-1")
    return aws


@pytest.fixture
def project(tmp_path: Path, source: Any, http_sink: Any) -> Iterator[DrillProject]:
    # No source database is reached in an rds drill: [databases.shop] is never resolved.
    proj = DrillProject(tmp_path, source_dsn="postgresql://unused@127.0.0.1:9/none")
    proj.environ.update(BOB_NOTIFY_URL=http_sink.apprise_url, RDS_PASSWORD="drill-pw-1234")
    proj.write_config(drill=RDS + EXPECT, extra=_aws(source))
    yield proj
    proj.stop_started()


def _aws(aws: Any) -> str:
    return f'[aws]\nendpoint_url = "{aws.endpoint_url}"\nregion = "{aws.region}"\n'


def drill_instances(aws: Any) -> dict[str, dict[str, str]]:
    """Instances named like a drill's, with their tags."""
    out = {}
    for inst in aws.client("rds").describe_db_instances()["DBInstances"]:
        if inst["DBInstanceIdentifier"].startswith("bg-drill-"):
            out[inst["DBInstanceIdentifier"]] = {t["Key"]: t["Value"] for t in inst["TagList"]}
    return out


# -- the flow ------------------------------------------------------------------------------------
def test_drill_restores_the_snapshot_cannot_connect_and_is_could_not_verify(
        project: DrillProject) -> None:
    res = project.drill()
    assert res.rc == 3, res
    unreachable = next(f for f in res.findings if f["code"] == "DATABASE_UNREACHABLE")
    assert unreachable["outcome"] == "unverified"
    assert "could not validate RDS instance bg-drill-" in unreachable["message"]
    assert "security_groups" in unreachable["action"]
    assert res.doc["verdict"] == "could not verify"


def test_drill_instance_is_restored_from_the_selected_snapshot_with_the_class(
        project: DrillProject, source: Any) -> None:
    res = project.drill()
    assert res.step_result("select")["key"] == "prod-snap-1"
    target = res.step_result("environment")["target"]
    assert target["handle"]["instance"] == instance_id(res.doc["run_id"])
    assert target["handle"]["snapshot"] == "prod-snap-1"
    assert target["major"] == 16


def test_drill_deletes_the_instance_after_validation_could_not_connect(
        project: DrillProject, source: Any) -> None:
    res = project.drill()
    assert res.rc == 3, res
    assert res.step_result("teardown")["destroyed"] is True
    assert drill_instances(source) == {}
    assert not (project.state / "drills" / res.doc["run_id"]).exists()


def test_drill_password_never_reaches_output_or_journal(project: DrillProject) -> None:
    res = project.drill()
    journal = (project.state / "runs" / f"{res.doc['run_id']}.jsonl").read_text()
    assert "drill-pw-1234" not in res.stdout + res.stderr + journal


def test_drill_is_recorded_with_the_rds_stages_and_the_snapshots_age(
        project: DrillProject) -> None:
    res = project.drill()
    report = res.step_result("report")
    assert set(report["stages"]) == {"environment", "validate", "teardown"}
    assert report["environment"] == "rds" and report["backup_key"] == "prod-snap-1"
    assert 0 <= report["rpo_seconds"] < 600  # the snapshot was taken by the fixture
    assert report["verdict"] == "could not verify"
    assert len((project.state / "drills" / "history.jsonl").read_text().splitlines()) == 1


def test_drill_notes_that_structure_and_row_counts_were_not_compared(
        project: DrillProject) -> None:
    res = project.drill()
    note = next(f for f in res.findings if f["code"] == "MANIFEST_NOT_COMPARED")
    assert note["severity"] == "info"
    assert note["evidence"]["not_checked"] == ["structure", "row counts"]


def test_snapshot_older_than_max_age_is_rpo_exceeded(project: DrillProject) -> None:
    project.config.write_text(project.config.read_text().replace('max_age = "26h"',
                                                                 'max_age = "1s"'))
    time.sleep(1.5)  # the fixture's snapshot is now older than max_age
    res = project.drill()
    assert "RPO_EXCEEDED" in res.failing
    rpo = next(f for f in res.findings if f["code"] == "RPO_EXCEEDED")
    assert "newest snapshot" in rpo["message"] and rpo["evidence"]["backup"] == "prod-snap-1"


# -- the plan ------------------------------------------------------------------------------------
def test_dry_run_names_the_snapshot_and_the_instance_class_and_creates_nothing(
        project: DrillProject, source: Any) -> None:
    res = project.run("drill.restore", "--dry-run")
    assert res.rc == 0, res
    flat = " ".join(res.stdout.split())
    for words in ("restore RDS snapshot prod-snap-1 of prod-db (PostgreSQL 16.3)",
                  "(db.t3.small)", f"{TAG_DRILL}=", "structure and row counts are not compared",
                  "DESTRUCTIVE destroy"):
        assert words in flat, words
    assert "pg_restore" not in flat and "download" not in flat
    assert drill_instances(source) == {}


# -- resume and leftovers ------------------------------------------------------------------------
def test_sigkill_after_the_instance_is_created_leaves_a_tagged_instance(
        project: DrillProject, source: Any) -> None:
    project.kill(project.start_paused("environment.after_apply"))
    run_id = project.run_ids()[-1]
    tags = drill_instances(source)[instance_id(run_id)]
    assert tags[TAG_DRILL] == run_id and tags[TAG_PROJECT] == "acme"


def test_resume_after_sigkill_deletes_the_instance(project: DrillProject, source: Any) -> None:
    project.kill(project.start_paused("environment.after_apply"))
    run_id = project.run_ids()[-1]
    res = project.run("runs.resume", run_id, "--yes", "--json")
    assert res.rc == 3, res  # the instance still cannot be validated: never a pass
    assert "DATABASE_UNREACHABLE" in res.failing
    assert drill_instances(source) == {}


def test_resume_after_sigkill_does_not_restore_a_second_instance(
        project: DrillProject, source: Any) -> None:
    project.kill(project.start_paused("environment.after_apply"))
    run_id = project.run_ids()[-1]
    res = project.run("runs.resume", run_id, "--yes", "--json")
    created = [e for e in (project.state / "runs" / f"{run_id}.jsonl").read_text().splitlines()
               if '"step_applied"' in e and '"seconds_environment"' in e]
    assert len(created) == 1, res


def test_the_next_drill_deletes_the_instance_a_killed_drill_left(
        project: DrillProject, source: Any) -> None:
    project.kill(project.start_paused("environment.after_apply"))
    killed = project.run_ids()[-1]
    res = project.drill()
    assert res.rc == 3, res
    assert any(instance_id(killed) in r for r in res.step_result("leftovers")["removed"])
    assert drill_instances(source) == {}


# -- what is not there ---------------------------------------------------------------------------
@pytest.mark.parametrize("source_setting", ['snapshot = "no-such-snap"',
                                            'source_instance = "no-such-db"'])
def test_missing_snapshot_is_a_finding_and_creates_nothing(
        project: DrillProject, source: Any, source_setting: str) -> None:
    project.write_config(drill=RDS.replace('source_instance = "prod-db"', source_setting)
                         + EXPECT, extra=_aws(source))
    res = project.drill()
    assert res.rc == 1, res
    assert "RDS_SNAPSHOT_MISSING" in res.failing
    assert drill_instances(source) == {}
    assert not (project.state / "drills" / "history.jsonl").exists()


def test_unreachable_rds_api_could_not_verify(project: DrillProject, http_sink: Any) -> None:
    project.write_config(drill=RDS + EXPECT, extra=f'[aws]\nendpoint_url = '
                         f'"{http_sink.down_url}"\nregion = "us-east-1"\n')
    res = project.drill()
    assert res.rc == 3, res
    assert "RDS_UNREACHABLE" in res.failing


def test_archive_key_is_refused_for_an_rds_drill(project: DrillProject) -> None:
    res = project.run("drill.restore", "--archive", "shop-x.dump", "--dry-run")
    assert res.rc == 2, res
    assert "--archive names a dump" in res.stderr and "Traceback" not in res.stderr


def test_the_old_backup_key_spelling_is_read_as_archive_with_a_note(
        project: DrillProject) -> None:
    res = project.run("drill.restore", "--backup", "shop-x.dump", "--dry-run")
    assert res.rc == 2, res  # the same refusal as --archive: the key reached the runbook
    assert "--archive names a dump" in res.stderr, res
    assert "note: --backup is now --archive" in res.stderr, res
