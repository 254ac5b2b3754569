"""`breakglass rollback` over three real sshd hosts on loopback, each serving a tiny app from
its `current` release (tests/rollback/fleet.py), through the real CLI: a good rollback, a bad
target release caught on the second host with the whole fleet put back, an unreachable host
(exit 3, nothing changed), a missing `--to` release refused naming its host, the migration
check blocking, and a SIGKILL between a swap and its restart finished by `runs.resume`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from breakglass.connectors.ssh import SSHHost
from breakglass.runbooks.rollback.recovery import HostState, plan
from tests.cli_project import recovery_plan
from tests.rollback.fleet import FleetHost, RollbackProject, install
from tests.servers.sinks import HttpSink
from tests.servers.sshd import SshdFactory, SshdServer

GOOD = {"r1": "ok", "r2": "ok", "r3": "ok"}


@pytest.fixture(scope="module")
def servers(sshd_factory: SshdFactory) -> list[SshdServer]:
    return sshd_factory.start(3)


def make_project(servers: list[SshdServer], root: Path,
                 layouts: list[dict[str, str]] | None = None) -> RollbackProject:
    layouts = layouts or [GOOD] * len(servers)
    hosts: list[FleetHost] = []
    for i, (server, releases) in enumerate(zip(servers, layouts, strict=True), start=1):
        hosts.append(install(server, f"web{i}", releases, current="r3"))
    return RollbackProject(root, hosts)


@pytest.fixture
def project(servers: list[SshdServer], tmp_path: Path) -> Iterator[RollbackProject]:
    proj = make_project(servers, tmp_path)
    try:
        yield proj
    finally:
        stop(proj)


def stop(proj: RollbackProject) -> None:
    proj.stop_started()  # only what this test started
    for h in proj.hosts:
        h.clean()


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# -- the good path -----------------------------------------------------------------------------

def test_rollback_moves_every_host_to_the_previous_release_and_proves_it_serves(
        project: RollbackProject) -> None:
    project.write()
    r = project.run("rollback", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.currents() == ["r2"] * 3
    assert project.serving() == ["r2"] * 3  # restarted onto it, not just relinked
    assert [h.restarts() for h in project.hosts] == [["r2"]] * 3


def test_dry_run_names_target_hosts_and_the_migration_verdict_and_changes_nothing(
        project: RollbackProject) -> None:
    project.write('migration_check = "echo no schema change between $BREAKGLASS_ROLLBACK_FROM '
                  'and $BREAKGLASS_ROLLBACK_TO"\n')
    r = project.run("rollback", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "roll back from r3 to r2" in r.stdout
    assert "migration check (on web1): safe — no schema change between r3 and r2" in r.stdout
    for name in ("web1", "web2", "web3"):
        assert f"[host.{name}]" in r.stdout
    assert project.currents() == ["r3"] * 3
    assert [h.restarts() for h in project.hosts] == [[]] * 3


def test_owners_of_release_signoff_and_incident_response_are_told(
        project: RollbackProject, http_sink: HttpSink) -> None:
    http_sink.clear()
    project.write(notify_url=http_sink.apprise_url)
    r = project.run("rollback", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    paths = {req.path for req in http_sink.requests}
    assert {"/alice", "/bob"} <= paths


def test_to_a_named_release_rolls_back_to_it(project: RollbackProject) -> None:
    project.write()
    r = project.run("rollback", "--to", "r1", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.serving() == ["r1"] * 3


# -- a bad target release ----------------------------------------------------------------------

def test_target_failing_health_on_the_second_host_puts_every_changed_host_back(
        servers: list[SshdServer], tmp_path: Path) -> None:
    bad_on_web2 = {"r1": "ok", "r2": "broken", "r3": "ok"}
    proj = make_project(servers, tmp_path, [GOOD, bad_on_web2, GOOD])
    try:
        proj.write()
        r = proj.run("rollback", "--yes")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "HEALTH_CHECK_FAILED" in r.stdout, r.stdout
        assert proj.currents() == ["r3"] * 3
        assert proj.serving() == ["r3"] * 3
        web1, web2, web3 = (h.restarts() for h in proj.hosts)
        assert web1 == ["r2", "r3"] and web2 == ["r2", "r3"]  # changed, then put back
        assert web3 == []  # never touched
    finally:
        stop(proj)


# -- refusals: nothing changes anywhere --------------------------------------------------------

def test_unreachable_host_is_exit_3_named_in_the_plan_and_nothing_changes(
        project: RollbackProject) -> None:
    project.write(down=["web3"])
    r = project.run("rollback", "--yes")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "web3: cannot be read" in r.stdout
    assert "HOST_UNREACHABLE" in r.stdout
    assert project.currents() == ["r3"] * 3
    assert [h.restarts() for h in project.hosts] == [[]] * 3


def test_to_a_release_missing_on_one_host_is_refused_naming_that_host(
        servers: list[SshdServer], tmp_path: Path) -> None:
    no_r1 = {"r2": "ok", "r3": "ok"}
    proj = make_project(servers, tmp_path, [GOOD, GOOD, no_r1])
    try:
        proj.write()
        r = proj.run("rollback", "--to", "r1", "--yes")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "ROLLBACK_TARGET_MISSING" in r.stdout
        assert "web3: release r1 is not in" in r.stdout
        assert "web1: release r1" not in r.stdout
        assert proj.currents() == ["r3"] * 3
        assert [h.restarts() for h in proj.hosts] == [[]] * 3
    finally:
        stop(proj)


def test_unsafe_migration_check_blocks_without_force(project: RollbackProject) -> None:
    project.write('migration_check = "echo r2 cannot read column users.tier; exit 1"\n')
    r = project.run("rollback", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "MIGRATION_UNSAFE" in r.stdout
    assert project.currents() == ["r3"] * 3


def test_force_rolls_back_despite_an_unsafe_migration_check(project: RollbackProject) -> None:
    project.write('migration_check = "exit 1"\n')
    r = project.run("rollback", "--force", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.serving() == ["r2"] * 3


def test_a_release_id_that_is_a_path_is_a_one_line_usage_error(
        project: RollbackProject) -> None:
    project.write()
    line = one_line_error(project.run("rollback", "--to", "../../etc", "--yes"))
    assert "--to" in line and "release id" in line


def test_rollback_without_a_releases_section_is_a_one_line_config_error(
        project: RollbackProject) -> None:
    project.config.write_text('[project]\nname = "acme"\nenvironment = "test"\n')
    line = one_line_error(project.run("rollback", "--dry-run"))
    assert "[releases]" in line


# -- crash and resume --------------------------------------------------------------------------

def test_sigkill_between_swap_and_restart_is_finished_by_resume_without_double_work(
        project: RollbackProject) -> None:
    project.write()
    project.kill_at("host.web2.mid")  # web2's current moved, its app not restarted yet
    assert project.currents() == ["r2", "r2", "r3"]
    assert project.serving() == ["r2", "r3", "r3"]
    (run_id,) = project.run_ids()
    r = project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.serving() == ["r2"] * 3
    assert [h.restarts() for h in project.hosts] == [["r2"]] * 3  # each host restarted once
    shown = json.loads(project.run("runs.show", run_id, "--json").stdout)
    assert shown["status"] == "succeeded"


def test_resume_after_sigkill_on_a_bad_release_puts_the_fleet_back(
        servers: list[SshdServer], tmp_path: Path) -> None:
    bad_on_web2 = {"r1": "ok", "r2": "broken", "r3": "ok"}
    proj = make_project(servers, tmp_path, [GOOD, bad_on_web2, GOOD])
    try:
        proj.write()
        proj.kill_at("host.web2.after_apply")  # web2 swapped and restarted onto broken r2
        proj.hosts[1].wait_serving("r2")  # the restarted app may still be starting
        assert proj.serving() == ["r2", "r2", "r3"]
        (run_id,) = proj.run_ids()
        r = proj.resume(run_id)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "HEALTH_CHECK_FAILED" in r.stdout
        assert proj.currents() == ["r3"] * 3
        assert proj.serving() == ["r3"] * 3
        assert [h.restarts() for h in proj.hosts] == [["r2", "r3"], ["r2", "r3"], []]
    finally:
        stop(proj)


def test_dry_run_with_an_unreachable_host_is_exit_3(project: RollbackProject) -> None:
    project.write(down=["web2"])
    r = project.run("rollback", "--dry-run")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "REFUSED, nothing will change: web2: cannot be read" in r.stdout


# -- a restart that fails: a resumable run, each host's state, a recovery plan -----------------

def test_a_restart_failing_in_the_swap_and_the_undo_names_each_hosts_state_and_resume_finishes(
        project: RollbackProject) -> None:
    project.write()
    web1, web2, web3 = project.hosts
    web2.break_restart()
    r = project.run("rollback", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    (run_id,) = project.run_ids()
    assert "failed; undo incomplete" in r.stdout
    assert "RESTART_FAILED" in r.stdout and "UNDO_RESTART_FAILED" in r.stdout
    assert "FLEET_NOT_RESTORED" in r.stdout
    assert "web1 runs r3 (as before the rollback)" in r.stdout
    assert "web2: current -> r3; restart owed" in r.stdout
    assert "web3 runs r3 (as before the rollback)" in r.stdout
    assert f"breakglass runs.resume {run_id}" in r.stdout
    # Seen over SFTP: every link is back on r3, web2 still owes its restart.
    assert project.currents() == ["r3"] * 3
    assert [h.restart_owed() for h in project.hosts] == [False, True, False]
    assert project.serving() == ["r3"] * 3  # web2's restart failed before stopping r3

    web2.fix_restart()
    r = project.resume(run_id)
    assert r.returncode == 1, r.stdout + r.stderr  # the rollback itself did not happen
    assert "what it had changed was undone" in r.stdout and "FLEET_NOT_RESTORED" not in r.stdout
    assert project.currents() == ["r3"] * 3
    assert [h.restart_owed() for h in project.hosts] == [False, False, False]
    assert project.serving() == ["r3"] * 3
    assert web2.restarts() == ["r3"]  # the resumed undo restarted it, once
    assert web1.restarts() == ["r2", "r3"] and web3.restarts() == []
    shown = json.loads(project.run("runs.show", run_id, "--json").stdout)
    assert shown["status"] == "rolled back"


def test_the_printed_recovery_plan_run_by_hand_puts_the_fleet_back(
        project: RollbackProject) -> None:
    project.write()
    web2 = project.hosts[1]
    web2.break_restart()
    r = project.run("rollback", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    commands = recovery_plan(r.stdout, "FLEET_NOT_RESTORED")
    # Only web2 is in the plan: the others are back already.
    assert commands and all(f"-p {web2.server.port} " in c or web2.health_url in c
                            for c in commands), commands
    web2.fix_restart()
    for line in commands:  # pasted into a shell, one by one
        done = project.run_pasted(line)
        assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
    assert project.currents() == ["r3"] * 3
    assert [h.restart_owed() for h in project.hosts] == [False, False, False]
    assert project.serving() == ["r3"] * 3
    assert web2.restarts() == ["r3"]


def test_the_recovery_plan_of_a_host_left_on_the_target_swaps_restarts_and_clears_it(
        project: RollbackProject) -> None:
    """The plan's swap line, run against a host whose `current` still points at the target
    with a restart owed (an undo that could not reach it)."""
    web2 = project.hosts[1]
    web2.server.run("cd ~/app && ln -sfn \"$PWD/releases/r2\" current && "
                    "echo 'RUN r2' > .breakglass-rollback")
    state = HostState("web2", start="r3", current="r2", pending=True)
    s = web2.server
    host = SSHHost("web2", s.host, s.port, s.user, health_url=web2.health_url)
    commands = plan(state, host, "~/app", "sh ~/restart.sh", app=None)
    assert "ln -sfn" in commands[0] and commands[-1].startswith("curl -fsS")
    for line in commands:
        done = project.run_pasted(line)
        assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
    assert web2.current() == "r3" and not web2.restart_owed()
    assert web2.serving() == "r3"


def test_a_restart_failing_once_is_undone_and_the_fleet_ends_whole(
        project: RollbackProject) -> None:
    project.write()
    project.hosts[1].break_restart(times=1)
    r = project.run("rollback", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "RESTART_FAILED" in r.stdout and "FLEET_NOT_RESTORED" not in r.stdout
    assert "what it had changed was undone" in r.stdout
    assert project.currents() == ["r3"] * 3
    assert [h.restart_owed() for h in project.hosts] == [False, False, False]
    assert project.serving() == ["r3"] * 3


def test_preconditions_that_are_not_configured_print_so_never_a_check_mark(
        project: RollbackProject) -> None:
    project.write()
    r = project.run("rollback", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = {item: line for line in r.stdout.splitlines()
             for item in ("backups.restore_tested", "releases.migrations")
             if f"precondition {item}:" in line}
    assert set(lines) == {"backups.restore_tested", "releases.migrations"}, r.stdout
    for line in lines.values():
        assert "not configured" in line and "✓" not in line, line


def test_a_host_gone_when_a_begun_rollback_resumes_names_each_hosts_release_then_resume_finishes(
        project: RollbackProject) -> None:
    project.write()
    project.kill_at("host.web2.before_apply")  # web1 on r2, web2 and web3 still on r3
    (run_id,) = project.run_ids()
    project.write(down=["web3"])
    r = project.resume(run_id)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "ROLLBACK_PAUSED" in r.stdout
    assert ("web1 on r2 (the target); web2 on r3 (as before); web3: cannot be read"
            in r.stdout), r.stdout
    assert "nothing was changed" not in r.stdout  # web1 was
    assert project.currents() == ["r2", "r3", "r3"]  # over SFTP: the resume changed nothing

    project.write()
    r = project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.currents() == ["r2"] * 3
    assert project.serving() == ["r2"] * 3
    assert [h.restarts() for h in project.hosts] == [["r2"]] * 3


def test_runs_undo_after_a_kill_mid_swap_puts_every_changed_host_back(
        project: RollbackProject) -> None:
    project.write()
    project.kill_at("host.web2.mid")  # web1 on r2; web2 swapped to r2, not restarted
    (run_id,) = project.run_ids()
    r = project.run("runs.undo", run_id, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert project.currents() == ["r3"] * 3  # over SFTP
    assert [h.restart_owed() for h in project.hosts] == [False, False, False]
    assert project.serving() == ["r3"] * 3
    shown = json.loads(project.run("runs.show", run_id, "--json").stdout)
    assert shown["status"] == "undone"
