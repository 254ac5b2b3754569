"""`breakglass rotate` of an env_file secret on two real sshd hosts, each running a service that
reads ~/.env (tests/rotate/service.py), through the real CLI: one new value on every host, the
service restarted onto it, Django's fallbacks kept or (--leaked) cleared, mode and owner kept
with a 0600 backup, a failing host stops the rotation with a recovery plan that works, a SIGKILL
anywhere is finished by `runs.resume` with the value written once, and no value in any output."""

from __future__ import annotations

import shlex
import stat
import subprocess

import pytest

from breakglass.runbooks.rotate import dotenv_format
from tests.rotate.env_file_project import ENV, OLD, EnvProject, env_project, hosts, secret_toml
from tests.rotate.service import digest
from tests.servers._util import free_port

__all__ = ["env_project", "hosts"]  # the fixtures, imported for pytest


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def new_value(proj: EnvProject) -> str:
    values = set(proj.values())
    assert len(values) == 1, "every host must hold the same value"
    (value,) = values
    assert value is not None and value != OLD
    return value


# -- happy path --------------------------------------------------------------------------------

def test_rotation_writes_one_new_value_to_every_host_and_restarts_onto_it(
        env_project: EnvProject) -> None:
    env_project.write(secret_toml(django="false"))
    r = env_project.run("rotate", "APP_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    new = new_value(env_project)
    assert len(new) == 32
    assert [s.loaded_key_digest() for s in env_project.services] == [digest(new)] * 2
    for svc in env_project.services:  # every other line kept byte for byte
        assert svc.env_file.read_text() == ENV.replace(OLD, new)
    assert env_project.backups() == []  # no grace: the backups holding the old value are gone
    assert env_project.leaks(OLD, new) == []


def test_dry_run_prints_the_plan_and_changes_nothing(env_project: EnvProject) -> None:
    env_project.write(secret_toml())
    r = env_project.run("rotate", "APP_KEY", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("[pin]", "[create]", "[consumers]", "[verify_new]", "[verify_old]",
                 "[delete]"):
        assert step in r.stdout
    assert "SECRET_KEY_FALLBACKS" in r.stdout
    assert [s.env_file.read_text() for s in env_project.services] == [ENV, ENV]
    assert env_project.leaks(OLD) == []


# -- Django ------------------------------------------------------------------------------------

def test_django_secret_key_keeps_the_old_key_as_the_fallback(env_project: EnvProject) -> None:
    env_project.write(secret_toml())  # key = SECRET_KEY: Django by default, grace two weeks
    r = env_project.run("rotate", "APP_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    new = new_value(env_project)
    assert len(new) == 50  # get_random_secret_key's length
    assert env_project.values("SECRET_KEY_FALLBACKS") == [OLD, OLD]
    assert len(env_project.backups()) == 2  # kept, like the fallback, for the grace period
    assert "kept, out of use, until" in r.stdout
    assert env_project.leaks(OLD, new) == []


def test_django_leaked_clears_the_fallbacks_so_every_session_dies(
        env_project: EnvProject) -> None:
    for svc in env_project.services:  # an older key still in the fallbacks
        svc.env_file.write_text(ENV + "SECRET_KEY_FALLBACKS=older-key-Pq81nVz0aa3k\n")
    env_project.write(secret_toml(grace='"7d"'))
    r = env_project.run("rotate", "APP_KEY", "--leaked", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    new = new_value(env_project)
    assert env_project.values("SECRET_KEY_FALLBACKS") == ["", ""]
    assert env_project.backups() == []  # a backup of a leaked value is one more copy of it
    assert env_project.leaks(OLD, new, "older-key-Pq81nVz0aa3k") == []


def test_django_fallback_is_removed_once_the_grace_period_is_over(
        env_project: EnvProject) -> None:
    env_project.write(secret_toml(grace='"0s"'))
    r = env_project.run("rotate", "APP_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert env_project.values("SECRET_KEY_FALLBACKS") == ["", ""]
    assert env_project.backups() == []


# -- the file itself ---------------------------------------------------------------------------

def test_mode_and_owner_are_kept_and_the_backup_is_0600_with_the_original(
        env_project: EnvProject) -> None:
    before = [s.env_file.stat() for s in env_project.services]
    env_project.write(secret_toml())  # Django: the backups stay for the grace period
    r = env_project.run("rotate", "APP_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    for svc, st in zip(env_project.services, before, strict=True):
        now = svc.env_file.stat()
        assert stat.S_IMODE(now.st_mode) == 0o640
        assert (now.st_uid, now.st_gid) == (st.st_uid, st.st_gid)
    for backup in env_project.backups():
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert backup.read_text() == ENV


# -- failures ----------------------------------------------------------------------------------

def test_a_host_failing_its_health_check_stops_before_revocation_and_the_plan_restores(
        env_project: EnvProject) -> None:
    dead = f'"http://127.0.0.1:{free_port()}/healthz"'
    env_project.write(secret_toml(django="false"), web2={"health_url": dead})
    r = env_project.run("rotate", "APP_KEY", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Recovery plan (CONSUMER_UNHEALTHY, web2:app):" in r.stdout, r.stdout
    (run_id,) = env_project.run_ids()
    events = env_project.events(run_id)
    applied = {e["data"]["step"] for e in events if e["type"] == "step_apply_started"}
    assert applied == {"pin", "create", "consumers"}  # nothing deleted
    assert len(env_project.backups()) == 2
    new = new_value(env_project)
    plan = next(e["data"]["data"]["commands"] for e in events
                if e["type"] == "log" and e["data"]["message"] == "recovery plan")
    restores = [line for line in plan if "breakglass-restore" in line]
    assert len(restores) == 2 and all(line in r.stdout for line in restores)
    for svc, line in zip(env_project.services, restores, strict=True):
        remote = shlex.split(line)[-1]  # `ssh -p PORT user@host 'REMOTE'`
        code, _, err = svc.server.run(remote)
        assert code == 0, err
        assert svc.env_file.read_text() == ENV
        assert stat.S_IMODE(svc.env_file.stat().st_mode) == 0o640
    assert env_project.leaks(OLD, new) == []


def test_a_host_that_cannot_be_written_stops_the_rotation_with_a_recovery_plan(
        env_project: EnvProject) -> None:
    env_project.write(secret_toml(django="false"))
    second = env_project.services[1]
    pids = [s.pid() for s in env_project.services]
    second.home.chmod(0o555)  # the login user cannot create the temp file or the backup
    try:
        r = env_project.run("rotate", "APP_KEY", "--yes")
    finally:
        second.home.chmod(0o755)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "ENV_FILE_PARTIAL" in r.stdout
    first_value, second_value = env_project.values()
    assert first_value != OLD and second_value == OLD
    assert [s.pid() for s in env_project.services] == pids  # nothing restarted
    (run_id,) = env_project.run_ids()
    plan = next(e["data"]["data"]["commands"] for e in env_project.events(run_id)
                if e["type"] == "log" and e["data"]["message"] == "recovery plan")
    (restore,) = plan
    # Pasteable: the command stands whole on its own line, not wrapped inside the table.
    assert "Recovery plan (ENV_FILE_PARTIAL, create):" in r.stdout
    assert f"  1. {restore}" in r.stdout.splitlines()
    code, _, err = env_project.services[0].server.run(shlex.split(restore)[-1])
    assert code == 0, err
    assert env_project.values() == [OLD, OLD]
    assert first_value is not None and env_project.leaks(OLD, first_value) == []


def test_a_host_that_could_not_be_written_is_finished_by_resume_once_fixed(
        env_project: EnvProject) -> None:
    env_project.write(secret_toml(django="false"))
    second = env_project.services[1]
    second.home.chmod(0o555)
    try:
        r = env_project.run("rotate", "APP_KEY", "--yes")
    finally:
        second.home.chmod(0o755)
    assert r.returncode == 3 and "ENV_FILE_PARTIAL" in r.stdout, r.stdout + r.stderr
    (run_id,) = env_project.run_ids()
    r = env_project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    new = new_value(env_project)  # the value web1 got, written once more to web2 only
    assert [s.loaded_key_digest() for s in env_project.services] == [digest(new)] * 2
    assert env_project.backups() == [] and env_project.leaks(OLD, new) == []


def test_hosts_holding_different_values_block_a_new_rotation(env_project: EnvProject) -> None:
    env_project.services[1].env_file.write_text(ENV.replace(OLD, "drifted-value-Gk28dPz0"))
    env_project.write(secret_toml())
    r = env_project.run("rotate", "APP_KEY", "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "differs between hosts" in r.stdout
    assert env_project.services[0].env_file.read_text() == ENV


def sftp_state(proj: EnvProject) -> list[tuple[str | None, list[str]]]:
    """Each host's SECRET_KEY and the files beside it, read over SFTP (not by breakglass)."""
    out = []
    for svc in proj.services:
        with svc.server.connect() as client, client.open_sftp() as sftp:
            with sftp.open(str(svc.env_file)) as f:
                text = f.read().decode()
            out.append((dotenv_format.read_value(text, "SECRET_KEY"),
                        sorted(sftp.listdir(str(svc.home)))))
    return out


def test_a_host_down_between_the_writes_and_the_restarts_gets_a_plan_and_resume_finishes(
        env_project: EnvProject) -> None:
    env_project.write(secret_toml(django="false"))
    for svc in env_project.services:  # running on the old value, as in production
        assert svc.server.run(f"{svc.home}/restart.sh app")[0] == 0
    env_project.kill_at("create.after_verify", "APP_KEY")  # every file written, no restart
    (run_id,) = env_project.run_ids()
    down = env_project.services[1].server
    down.stop()
    try:
        r = env_project.resume(run_id)
    finally:
        down.start()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Recovery plan (HOST_UNREACHABLE, " in r.stdout, r.stdout
    (failed,) = [e["data"]["finding"] for e in env_project.events(run_id)
                 if e["type"] == "step_failed"]
    assert failed["code"] == "HOST_UNREACHABLE"
    assert "web1: file holds the new value" in failed["message"]
    assert "web2: file holds the new value" in failed["message"]
    assert "OLD value (not restarted)" in failed["message"]
    assert f"runs.resume {run_id}" in failed["action"]
    plan = failed["evidence"]["recovery_plan"]
    assert sum("breakglass-restore" in line for line in plan) == 2  # a way back for each host
    r = env_project.resume(run_id)  # the host is back: the same run finishes
    assert r.returncode == 0, r.stdout + r.stderr
    (v1, files1), (v2, files2) = sftp_state(env_project)
    assert v1 == v2 and v1 not in (None, OLD)
    assert not [f for f in files1 + files2 if ".breakglass-" in f]  # backups cleaned up
    assert [s.loaded_key_digest() for s in env_project.services] == [digest(str(v1))] * 2
    assert env_project.leaks(OLD, str(v1)) == []


# -- crash and resume --------------------------------------------------------------------------

POINTS = ["pin.after_apply", "create.before_apply", "create.mid", "create.after_apply",
          "create.after_verify", "consumers.after_apply", "verify_new.after_verify",
          "verify_old.after_verify", "delete.after_apply"]


@pytest.mark.parametrize("point", POINTS)
def test_killed_anywhere_resume_ends_every_host_on_one_value_written_once(
        env_project: EnvProject, point: str) -> None:
    env_project.write(secret_toml(django="false"))
    env_project.kill_at(point, "APP_KEY")
    # A file already rewritten must not be rewritten by the resumed run (same inode: the
    # atomic write replaces the file, so a second write would change it).
    written = {i: s.env_file.stat().st_ino for i, s in enumerate(env_project.services)
               if dotenv_format.read_value(s.env_file.read_text(), "SECRET_KEY") != OLD}
    if point == "create.mid":
        assert list(written) == [0], "killed between the two hosts"
    (run_id,) = env_project.run_ids()
    r = env_project.resume(run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    new = new_value(env_project)
    for i, ino in written.items():
        assert env_project.services[i].env_file.stat().st_ino == ino
    assert [s.loaded_key_digest() for s in env_project.services] == [digest(new)] * 2
    assert env_project.backups() == []
    assert env_project.leaks(OLD, new) == []


# -- configuration -----------------------------------------------------------------------------

def test_a_relative_path_is_exit_2(env_project: EnvProject) -> None:
    env_project.write(secret_toml(path='"app/.env"'))
    line = one_line_error(env_project.run("rotate", "APP_KEY", "--dry-run"))
    assert "secrets.APP_KEY.path" in line and "absolute" in line


def test_an_unknown_host_is_exit_2_naming_the_configured_ones(env_project: EnvProject) -> None:
    env_project.write(secret_toml(hosts='["web1", "web9"]'))
    line = one_line_error(env_project.run("rotate", "APP_KEY", "--dry-run"))
    assert "no [hosts.web9]" in line and "web1, web2" in line


def test_a_missing_key_is_a_config_error_naming_it(env_project: EnvProject) -> None:
    env_project.write('[secrets.APP_KEY]\nkind = "env_file"\npath = "~/.env"\n')
    line = one_line_error(env_project.run("rotate", "APP_KEY", "--dry-run"))
    assert 'key is required for kind = "env_file"' in line


def test_no_hosts_and_no_consumers_is_exit_2(env_project: EnvProject) -> None:
    env_project.write('[secrets.APP_KEY]\nkind = "env_file"\npath = "~/.env"\n'
                      'key = "SECRET_KEY"\n')
    line = one_line_error(env_project.run("rotate", "APP_KEY", "--dry-run"))
    assert "set hosts" in line


def test_revoke_first_is_refused(env_project: EnvProject) -> None:
    env_project.write(secret_toml())
    line = one_line_error(env_project.run("rotate", "APP_KEY", "--revoke-first", "--dry-run"))
    assert "--revoke-first does not apply" in line
