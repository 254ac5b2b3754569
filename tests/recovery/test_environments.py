"""Disposable environments of the restore drill (breakglass/recovery/environments/).

Real servers throughout: embedded clusters from the bundled PostgreSQL 16 and 18, the
`pg_server` fixture as a drill server (and as "production" for the guard), a second server of
another major as a separate drill server, moto for the RDS API flow. moto's RDS instance is a
record, not a PostgreSQL: the tests check the API flow (restore, tags, waiters, delete) and the
Target's endpoint, never a connection to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from breakglass.config import Config, validate
from breakglass.connectors.pgcluster import MARKER, EmbeddedCluster, cluster_parent
from breakglass.engine.redaction import Redactor
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.recovery.environments import environment_for, leftovers, remove_leftover
from breakglass.recovery.environments.local import LocalEnvironment
from breakglass.recovery.environments.server import ServerEnvironment
from breakglass.secrets import Secrets

#: the drill environments this module tests (tests/drills/test_registry.py requires one per
#: registered environment)
ENVIRONMENTS_TESTED = ("local", "server")

RUN = "20250101T000000000000-"  # + a per-test suffix: run ids must not collide across tests


# -- helpers ----------------------------------------------------------------------------------
def make_config(tmp_path: Path, **drill: Any) -> Config:
    doc: dict[str, Any] = {
        "project": {"name": "acme", "environment": "production", "state_dir": "state"},
        "databases": {"main": {"dsn": "env:PROD_DSN"}},
        "backups": {"main": {"store": f"file://{tmp_path}/store/", "database": "main"}},
        "drills": {"restore": {"backup": "main", **drill}},
    }
    return validate(doc, tmp_path / "breakglass.toml")


def env_of(config: Config, run_id: str, environ: dict[str, str] | None = None,
           kind: str | None = None) -> Any:
    redactor = Redactor()
    secrets = Secrets(config, redactor, environ=environ or {})
    return environment_for(config, run_id, secrets, config.project.state_dir, redactor, kind)


def postgres_pids_of(path: Path) -> list[int]:
    """Live processes whose command line names `path` (a postmaster started with -D there)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(path).encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def wait_until(condition: Callable[[], bool], within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def server_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("show server_version").fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def local(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalEnvironment]:
    env = env_of(make_config(tmp_path), RUN + request.node.name[-12:].replace("[", "")
                 .replace("]", ""))
    assert isinstance(env, LocalEnvironment)
    try:
        yield env
    finally:
        env.destroy()


# -- local --------------------------------------------------------------------------------------
@pytest.mark.parametrize("major", [16, 18])
def test_local_cluster_runs_the_dumps_major(local: LocalEnvironment, major: int) -> None:
    target = local.create(major)
    assert target.major == major
    assert server_version(target.dsn).split(".")[0] == str(major)


def test_local_cluster_listens_on_a_unix_socket_only(local: LocalEnvironment) -> None:
    target = local.create(16)
    with psycopg.connect(target.dsn) as conn:
        row = conn.execute("show listen_addresses").fetchone()
    assert row == ("",)
    assert target.dsn.startswith("host=/")


def test_local_plan_names_the_next_newer_server_when_the_major_is_missing(
        local: LocalEnvironment) -> None:
    plan = local.describe_plan(17)
    assert "PostgreSQL 18" in plan and "no PostgreSQL 17 here" in plan
    assert local.create(17).major == 18


def test_local_refuses_a_dump_newer_than_every_server(local: LocalEnvironment) -> None:
    with pytest.raises(CouldNotVerify) as err:
        local.create(99)
    assert err.value.code == "NO_MATCHING_POSTGRES"
    assert "postgresql-99" in err.value.action
    assert local.find() is None


def test_local_create_is_idempotent_per_run(local: LocalEnvironment) -> None:
    first = local.create(16)
    again = local.create(16)
    assert again == first
    assert local.find() == first


def test_local_destroy_removes_processes_and_files(local: LocalEnvironment) -> None:
    root = Path(local.create(16).handle["root"])
    assert postgres_pids_of(root)
    assert local.destroy() is True
    assert not root.exists()
    assert postgres_pids_of(root) == []
    assert local.find() is None
    assert local.destroy() is False


def test_local_records_the_cluster_before_it_starts(local: LocalEnvironment) -> None:
    target = local.create(16)
    assert local.record_path.exists()
    assert local.read_record()["handle"]["root"] == target.handle["root"]  # type: ignore[index]
    assert oct(local.record_path.stat().st_mode & 0o777) == "0o600"


def test_a_killed_run_leaves_a_folder_that_leftovers_find_and_remove(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    run_id = RUN + "killed"
    child = textwrap.dedent(f"""
        import sys, time
        from breakglass.config import load_config
        from breakglass.engine.redaction import Redactor
        from breakglass.secrets import Secrets
        from breakglass.recovery.environments import environment_for
        config = load_config({str(tmp_path / 'breakglass.toml')!r})
        r = Redactor()
        env = environment_for(config, {run_id!r}, Secrets(config, r), config.project.state_dir, r)
        env.create(16)
        print("ready", flush=True)
        time.sleep(600)
    """)
    (tmp_path / "breakglass.toml").write_text(
        '[project]\nname = "acme"\nenvironment = "production"\nstate_dir = "state"\n')
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # Its postmaster dies with it (connectors/process.py); its folder stays behind.
        (root,) = [r for r in cluster_parent().glob(f"bg-drill-{run_id}-*")]
        assert wait_until(lambda: postgres_pids_of(root) == [])
        redactor = Redactor()
        secrets = Secrets(config, redactor, environ={})
        found = [x for x in leftovers(config, secrets, config.project.state_dir, redactor,
                                      is_live=lambda _: False) if x.run_id == run_id]
        assert [x.kind for x in found] == ["local"]
        root = Path(found[0].handle["root"])
        assert root.is_dir()
        assert remove_leftover(found[0], config, secrets, config.project.state_dir, redactor)
        assert postgres_pids_of(root) == []
        assert not root.exists()
        assert not any(x.run_id == run_id for x in leftovers(
            config, secrets, config.project.state_dir, redactor, is_live=lambda _: False))
    finally:
        proc.kill()
        env_of(config, run_id).destroy()


def test_a_cluster_folder_is_marked_before_anything_is_written_into_it(tmp_path: Path) -> None:
    cluster = EmbeddedCluster(tmp_path / "no-binaries-needed", label="marktest")
    try:
        assert [p.name for p in cluster.root.iterdir()] == [MARKER]
    finally:
        cluster.stop()
    assert not cluster.root.exists()


def test_a_resumed_run_starts_the_server_that_died_with_its_killed_drill(
        local: LocalEnvironment) -> None:
    root = Path(local.create(16).handle["root"])
    with psycopg.connect(local.find().dsn, autocommit=True) as conn:  # type: ignore[union-attr]
        conn.execute("create table kept as select 1 as x")
    for pid in postgres_pids_of(root):  # as the kernel does when the drill is SIGKILLed
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    assert wait_until(lambda: postgres_pids_of(root) == [])
    target = local.find()
    assert target is not None
    with psycopg.connect(target.dsn) as conn:
        assert conn.execute("select x from kept").fetchone() == (1,)


def test_an_unmarked_folder_of_a_run_of_this_state_dir_is_a_leftover(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    state = config.project.state_dir
    ours, foreign = RUN + "unmarked", RUN + "foreign"
    (state / "runs").mkdir(parents=True)
    (state / "runs" / f"{ours}.jsonl").write_text("")
    folders = [cluster_parent() / f"bg-drill-{run}-abcd1234" for run in (ours, foreign)]
    for folder in folders:
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "rows").write_text("restored production rows")
    try:
        redactor = Redactor()
        secrets = Secrets(config, redactor, environ={})
        found = leftovers(config, secrets, state, redactor, is_live=lambda _: False)
        assert [x.run_id for x in found if x.run_id in (ours, foreign)] == [ours]
        assert remove_leftover(found[[x.run_id for x in found].index(ours)], config, secrets,
                               state, redactor)
        assert not folders[0].exists() and folders[1].exists()
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def test_leftovers_skip_live_runs(local: LocalEnvironment) -> None:
    local.create(16)
    found = leftovers(local.config, local.secrets, local.state_dir, local.redactor,
                      is_live=lambda run_id: run_id == local.run_id)
    assert all(x.run_id != local.run_id for x in found)


# -- server: the production guard -------------------------------------------------------------
def test_guard_refuses_the_production_server_by_the_same_address(tmp_path: Path,
                                                                 pg_server: Any) -> None:
    config = make_config(tmp_path, environment="server", server="env:DRILL_DSN")
    environ = {"PROD_DSN": pg_server.dsn("shop"), "DRILL_DSN": pg_server.dsn()}
    findings = ServerEnvironment.refusals(config, Secrets(config, Redactor(), environ=environ))
    assert [f.code for f in findings] == ["DRILL_TARGET_IS_PRODUCTION"]
    assert "[databases.main]" in findings[0].message


def test_guard_sees_localhost_and_127_0_0_1_as_one_host(tmp_path: Path, pg_server: Any) -> None:
    config = make_config(tmp_path, environment="server", server="env:DRILL_DSN")
    drill = pg_server.dsn().replace("@127.0.0.1:", "@localhost:")
    assert "@localhost:" in drill
    environ = {"PROD_DSN": pg_server.dsn("shop"), "DRILL_DSN": drill}
    findings = ServerEnvironment.refusals(config, Secrets(config, Redactor(), environ=environ))
    assert [f.code for f in findings] == ["DRILL_TARGET_IS_PRODUCTION"]


def test_server_create_refuses_production_with_one_line(tmp_path: Path, pg_server: Any) -> None:
    config = make_config(tmp_path, environment="server", server="env:DRILL_DSN")
    environ = {"PROD_DSN": pg_server.dsn("shop"), "DRILL_DSN": pg_server.dsn()}
    env = env_of(config, RUN + "prod", environ)
    with pytest.raises(UsageError) as err:
        env.create(16)
    assert "[databases.main]" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UsageError):
        env.describe_plan(16)
    assert env.find() is None


def test_guard_accepts_a_different_server(tmp_path: Path, pg_server: Any,
                                          pg_server_factory: Any) -> None:
    other = pg_server_factory.start(18)
    config = make_config(tmp_path, environment="server", server="env:DRILL_DSN")
    environ = {"PROD_DSN": pg_server.dsn("shop"), "DRILL_DSN": other.dsn()}
    assert ServerEnvironment.refusals(config, Secrets(config, Redactor(), environ=environ)) == []


def test_guard_is_unverified_when_a_production_dsn_cannot_be_resolved(
        tmp_path: Path, pg_server: Any) -> None:
    config = make_config(tmp_path, environment="server", server="env:DRILL_DSN")
    findings = ServerEnvironment.refusals(config, Secrets(config, Redactor(),
                                                environ={"DRILL_DSN": pg_server.dsn()}))
    assert [(f.code, f.outcome.value) for f in findings] == [
        ("DRILL_GUARD_UNVERIFIED", "unverified")]


# -- server: create and drop ----------------------------------------------------------------
@pytest.fixture
def server_env(tmp_path: Path, pg_server: Any, pg_server_factory: Any) -> Iterator[Any]:
    """A drill server (the pg_server fixture) while production is another server."""
    prod = pg_server_factory.start(18)
    config = make_config(tmp_path, environment="server", server="env:DRILL_DSN")
    environ = {"PROD_DSN": prod.dsn("shop"), "DRILL_DSN": pg_server.dsn()}
    env = env_of(config, RUN + "srv-" + os.urandom(2).hex(), environ)
    try:
        yield env
    finally:
        env.destroy()


def databases(pg_server: Any) -> set[str]:
    with psycopg.connect(pg_server.dsn()) as conn:
        return {r[0] for r in conn.execute("select datname from pg_database")}


def test_server_creates_and_drops_a_scratch_database(server_env: Any, pg_server: Any) -> None:
    target = server_env.create(16)
    assert target.dbname.startswith("drill_20250101t000000000000_srv")
    assert target.dbname in databases(pg_server)
    assert server_version(target.dsn).startswith("16.")
    assert server_env.destroy() is True
    assert target.dbname not in databases(pg_server)
    assert server_env.destroy() is False


def test_server_drop_ends_sessions_still_connected(server_env: Any, pg_server: Any) -> None:
    target = server_env.create(16)
    with psycopg.connect(target.dsn, autocommit=True) as lingering:
        lingering.execute("select 1")
        assert server_env.destroy() is True
    assert target.dbname not in databases(pg_server)


def test_server_create_is_idempotent_and_found(server_env: Any) -> None:
    first = server_env.create(16)
    assert server_env.create(16) == first
    assert server_env.find() == first


def test_server_refuses_a_dump_newer_than_the_server(server_env: Any, pg_server: Any) -> None:
    with pytest.raises(CouldNotVerify) as err:
        server_env.create(18)
    assert err.value.code == "NO_MATCHING_POSTGRES"


def test_server_leftover_of_a_dead_run_is_found_and_dropped(server_env: Any,
                                                            pg_server: Any) -> None:
    target = server_env.create(16)
    found = [x for x in leftovers(server_env.config, server_env.secrets, server_env.state_dir,
                                  server_env.redactor, is_live=lambda _: False)
             if x.kind == "server"]
    assert server_env.run_id in {x.run_id for x in found}
    mine = next(x for x in found if x.run_id == server_env.run_id)
    assert remove_leftover(mine, server_env.config, server_env.secrets, server_env.state_dir,
                           server_env.redactor)
    assert target.dbname not in databases(pg_server)


# -- rds (moto) ---------------------------------------------------------------------------------
@pytest.fixture
def rds_config(tmp_path: Path, aws: Any) -> Config:
    rds = aws.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="prod-db", Engine="postgres",
                           EngineVersion="16.3", DBInstanceClass="db.t3.micro",
                           MasterUsername="postgres", MasterUserPassword="prod-secret-pw",
                           AllocatedStorage=20)
    rds.create_db_snapshot(DBInstanceIdentifier="prod-db", DBSnapshotIdentifier="prod-snap-1")
    doc: dict[str, Any] = {
        "project": {"name": "acme", "environment": "production", "state_dir": "state"},
        "aws": {"endpoint_url": aws.endpoint_url, "region": aws.region},
        "backups": {"main": {"store": f"file://{tmp_path}/store/"}},
        "drills": {"restore": {"backup": "main", "environment": "rds",
                               "rds": {"source_instance": "prod-db",
                                       "password": "env:RDS_PASSWORD"}}},
    }
    return validate(doc, tmp_path / "breakglass.toml")


def instance_ids(aws: Any) -> set[str]:
    return {i["DBInstanceIdentifier"]
            for i in aws.client("rds").describe_db_instances()["DBInstances"]}


def test_rds_restores_the_newest_snapshot_into_a_tagged_instance_and_deletes_it(
        rds_config: Config, aws: Any) -> None:
    env = env_of(rds_config, RUN + "rds", {"RDS_PASSWORD": "drill-pw-1234"})
    assert "newest available snapshot of RDS instance prod-db" in env.describe_plan(16)
    target = env.create(16)
    assert target.handle["instance"] == "bg-drill-20250101t000000000000-rds"
    assert target.handle["restored"] is True and target.major == 16
    assert "sslmode=require" in target.dsn and "drill-pw-1234" in target.dsn
    assert "drill-pw-1234" not in target.description
    inst = aws.client("rds").describe_db_instances(
        DBInstanceIdentifier=target.handle["instance"])["DBInstances"][0]
    tags = {t["Key"]: t["Value"] for t in inst["TagList"]}
    assert tags["breakglass:drill"] == env.run_id and tags["breakglass:project"] == "acme"
    assert inst["DBInstanceStatus"] == "available"
    assert env.create(16) == target  # idempotent
    assert env.destroy() is True
    assert target.handle["instance"] not in instance_ids(aws)
    assert "prod-db" in instance_ids(aws)
    assert env.destroy() is False


def test_rds_leftover_of_a_killed_run_is_found_and_deleted(rds_config: Config, aws: Any) -> None:
    env = env_of(rds_config, RUN + "rds-killed", {"RDS_PASSWORD": "drill-pw-1234"})
    env.create(16)
    # A killed run: nothing calls destroy. The next drill scans with its own is_live.
    found = leftovers(rds_config, env.secrets, env.state_dir, env.redactor,
                      is_live=lambda _: False, kinds=["rds"])
    assert [(x.kind, x.run_id) for x in found] == [("rds", env.run_id)]
    assert remove_leftover(found[0], rds_config, env.secrets, env.state_dir, env.redactor)
    assert env.identifier not in instance_ids(aws)


def test_rds_never_deletes_an_instance_without_its_drill_tag(rds_config: Config,
                                                             aws: Any) -> None:
    env = env_of(rds_config, RUN + "rds-untagged", {"RDS_PASSWORD": "drill-pw-1234"})
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=env.identifier, Engine="postgres", DBInstanceClass="db.t3.micro",
        MasterUsername="postgres", MasterUserPassword="other-pw-123", AllocatedStorage=20)
    with pytest.raises(UsageError):
        env.destroy()
    assert env.identifier in instance_ids(aws)


def test_rds_missing_snapshot_cannot_verify(tmp_path: Path, aws: Any) -> None:
    doc: dict[str, Any] = {
        "project": {"name": "acme", "environment": "production", "state_dir": "state"},
        "aws": {"endpoint_url": aws.endpoint_url, "region": aws.region},
        "backups": {"main": {"store": f"file://{tmp_path}/store/"}},
        "drills": {"restore": {"backup": "main", "environment": "rds",
                               "rds": {"snapshot": "no-such-snap"}}},
    }
    env = env_of(validate(doc, tmp_path / "breakglass.toml"), RUN + "rds-nosnap")
    with pytest.raises(CouldNotVerify) as err:
        env.create(16)
    assert err.value.code == "RDS_SNAPSHOT_MISSING"


def test_a_cluster_of_another_state_dir_is_not_a_leftover_here(local: LocalEnvironment,
                                                                tmp_path: Path) -> None:
    local.create(16)
    other = make_config(tmp_path / "other")
    redactor = Redactor()
    found = leftovers(other, Secrets(other, redactor, environ={}), other.project.state_dir,
                      redactor, is_live=lambda _: False)
    assert all(x.run_id != local.run_id for x in found)
