"""breakglass/connectors/ssh.py against real sshd hosts (tests/servers/sshd.py)."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from breakglass.connectors.ssh import Connection, SSHHost, run_on_hosts
from breakglass.errors import CouldNotVerify, UsageError
from tests.rotate.hosts import ssh_host
from tests.servers._util import free_port
from tests.servers.sshd import SshdFactory, SshdServer


def _cmdlines() -> list[bytes]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                out.append((proc / "cmdline").read_bytes())
            except OSError:
                continue  # the process ended while we looked
    return out


def test_run_returns_exit_status_stdout_and_stderr(sshd_server: SshdServer) -> None:
    with ssh_host(sshd_server).connect() as conn:
        res = conn.run("echo out; echo err >&2; exit 3")
    assert (res.exit, res.stdout, res.stderr) == (3, "out\n", "err\n")


def test_a_list_command_is_quoted_word_by_word(sshd_server: SshdServer) -> None:
    with ssh_host(sshd_server).connect() as conn:
        res = conn.run(["printf", "%s|", "a b", "$HOME", "'q'"])
    assert res.stdout == "a b|$HOME|'q'|"


def test_unknown_host_key_is_refused_and_not_added(sshd_server: SshdServer,
                                                   tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(CouldNotVerify) as info:
        ssh_host(sshd_server, known_hosts=empty).connect()
    assert info.value.code == "HOST_KEY_UNKNOWN"
    assert "SHA256:" in str(info.value) and "ssh-keyscan" in info.value.action
    assert empty.read_text() == ""


def test_changed_host_key_is_refused(sshd_server: SshdServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key_data = other.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd_server.host}]:{sshd_server.port} {key_type} {key_data}\n")
    with pytest.raises(CouldNotVerify) as info:
        ssh_host(sshd_server, known_hosts=known).connect()
    assert info.value.code == "HOST_KEY_CHANGED"
    assert "man-in-the-middle" in info.value.action


def test_missing_known_hosts_file_is_a_config_error(sshd_server: SshdServer,
                                                    tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        ssh_host(sshd_server, known_hosts=tmp_path / "nope").connect()


def test_a_key_the_host_does_not_authorise_is_refused(sshd_server: SshdServer,
                                                      tmp_path: Path) -> None:
    other = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    host = SSHHost("web1", sshd_server.host, sshd_server.port, sshd_server.user,
                   known_hosts=sshd_server.known_hosts, key_text=other.read_text())
    with pytest.raises(CouldNotVerify) as info:
        host.connect()
    assert info.value.code == "SSH_AUTH_FAILED"


def test_a_passphrase_protected_key_is_a_usage_error(sshd_server: SshdServer,
                                                     tmp_path: Path) -> None:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", str(key)],
                   check=True)
    host = SSHHost("web1", sshd_server.host, sshd_server.port, sshd_server.user,
                   key_ref="env:K", known_hosts=sshd_server.known_hosts,
                   key_text=key.read_text())
    with pytest.raises(UsageError, match="passphrase-protected"):
        host.connect()


def test_a_port_with_nothing_listening_is_unreachable(sshd_server: SshdServer) -> None:
    host = SSHHost("down", "127.0.0.1", free_port(), sshd_server.user,
                   known_hosts=sshd_server.known_hosts,
                   key_text=sshd_server.key_path.read_text())
    with pytest.raises(CouldNotVerify) as info:
        host.connect()
    assert info.value.code == "HOST_UNREACHABLE"


def test_a_command_past_its_timeout_could_not_verify(sshd_server: SshdServer) -> None:
    with ssh_host(sshd_server).connect() as conn, pytest.raises(CouldNotVerify) as info:
        conn.run("sleep 5", timeout=0.5)
    assert info.value.code == "SSH_TIMEOUT"


def test_a_secret_on_stdin_reaches_the_command_but_never_its_argv(
        sshd_server: SshdServer) -> None:
    secret = "s3cr3t-" + secrets.token_hex(16)
    marker = "bg-marker-" + secrets.token_hex(8)
    target = sshd_server.home / "stdin-secret"
    result: list[object] = []

    def remote() -> None:
        with ssh_host(sshd_server).connect() as conn:
            # $0 carries the marker into the remote shell's argv; the secret comes on stdin.
            result.append(conn.run(["sh", "-c", 'read -r v; sleep 1.5; printf %s "$v" > "$1"',
                                    marker, str(target)], stdin=secret.encode() + b"\n"))

    thread = threading.Thread(target=remote)
    thread.start()
    seen_marker = False
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        lines = _cmdlines()
        assert not any(secret.encode() in line for line in lines)
        seen_marker = seen_marker or any(marker.encode() in line for line in lines)
        time.sleep(0.05)
    thread.join()
    assert seen_marker, "the scan never saw the remote command (the check proves nothing)"
    assert target.read_text() == secret


def test_read_file_and_stat_of_a_missing_file_are_none(sshd_server: SshdServer) -> None:
    with ssh_host(sshd_server).connect() as conn:
        missing = str(sshd_server.home / "missing")
        assert conn.read_file(missing) is None
        assert conn.stat(missing) is None


def test_atomic_write_keeps_the_mode_and_leaves_a_0600_backup(sshd_server: SshdServer) -> None:
    path = sshd_server.home / "app.env"
    with ssh_host(sshd_server).connect() as conn:
        conn.write_file_atomic(str(path), b"A=1\n", backup=False)
        conn.sftp().chmod(str(path), 0o640)
        res = conn.write_file_atomic(str(path), b"A=2\n", run_id="run42")
    assert path.read_bytes() == b"A=2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    backup = sshd_server.home / "app.env.breakglass-run42.bak"
    assert res.backup_path == str(backup)
    assert backup.read_bytes() == b"A=1\n"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert not (sshd_server.home / ".app.env.breakglass-tmp").exists()


def test_a_second_write_in_the_same_run_keeps_the_first_backup(
        sshd_server: SshdServer) -> None:
    path = sshd_server.home / "twice.env"
    with ssh_host(sshd_server).connect() as conn:
        conn.write_file_atomic(str(path), b"original\n", backup=False)
        conn.write_file_atomic(str(path), b"first\n", run_id="r1")
        conn.write_file_atomic(str(path), b"second\n", run_id="r1")
    assert (sshd_server.home / "twice.env.breakglass-r1.bak").read_bytes() == b"original\n"


def test_atomic_write_creates_a_missing_file_0600(sshd_server: SshdServer) -> None:
    path = sshd_server.home / "new.env"
    with ssh_host(sshd_server).connect() as conn:
        res = conn.write_file_atomic(str(path), b"K=v\n", run_id="r")
    assert res.created and res.backup_path is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_atomic_write_replaces_the_inode_never_the_content_in_place(
        sshd_server: SshdServer) -> None:
    path = sshd_server.home / "inode.env"
    with ssh_host(sshd_server).connect() as conn:
        conn.write_file_atomic(str(path), b"old\n", backup=False)
        with path.open("rb") as reader:  # a reader that opened the old file keeps it whole
            conn.write_file_atomic(str(path), b"new\n", backup=False)
            assert reader.read() == b"old\n"
    assert path.read_bytes() == b"new\n"


@pytest.mark.needs(root="the test chowns a file to another user than the login")
def test_an_owner_the_login_user_cannot_keep_is_a_note(sshd_server: SshdServer) -> None:
    path = sshd_server.home / "root-owned.env"
    path.write_bytes(b"A=1\n")
    os.chown(path, 0, 0)
    path.chmod(0o644)
    with ssh_host(sshd_server).connect() as conn:
        res = conn.write_file_atomic(str(path), b"A=2\n", run_id="r")
    assert path.read_bytes() == b"A=2\n"
    assert any("owner 0:0 not kept" in n and "sudo" in n for n in res.notes)


def test_pool_runs_eight_hosts_concurrently(sshd_factory: SshdFactory) -> None:
    # A barrier, not a clock: each host's command marks its arrival in one folder, then waits
    # until all 8 have arrived. Run one after the other, the first would wait alone and answer
    # "alone"; a loaded machine only makes them slower.
    hosts = [ssh_host(s, f"h{i}", known_hosts=sshd_factory.known_hosts)
             for i, s in enumerate(_fleet(sshd_factory, 8))]
    folder = Path(tempfile.mkdtemp(prefix="bg-pool-", dir="/tmp"))
    folder.chmod(0o1777)  # the login user is not the test's user when the tests run as root
    barrier = (f"touch {folder}/$$ && for i in $(seq 200); do "
               f"[ $(ls {folder} | wc -l) -ge 8 ] && echo ok && exit 0; sleep 0.1; done; "
               "echo alone")
    try:
        outcomes = run_on_hosts(hosts, lambda c: c.run(barrier).stdout, max_parallel=8)
    finally:
        shutil.rmtree(folder)
    assert [o.value for o in outcomes] == ["ok\n"] * 8, [o.error for o in outcomes]


def test_one_unreachable_host_does_not_stop_the_others(sshd_factory: SshdFactory) -> None:
    fleet = [ssh_host(s, f"h{i}", known_hosts=sshd_factory.known_hosts)
             for i, s in enumerate(_fleet(sshd_factory, 3))]
    down = SSHHost("down", "127.0.0.1", free_port(), fleet[0].user,
                   known_hosts=sshd_factory.known_hosts, key_text=fleet[0].key_text)
    outcomes = run_on_hosts([fleet[0], down, *fleet[1:]], _whoami)
    assert [o.ok for o in outcomes] == [True, False, True, True]
    assert isinstance(outcomes[1].error, CouldNotVerify)
    assert outcomes[1].error.code == "HOST_UNREACHABLE"


def test_after_the_error_threshold_remaining_hosts_are_skipped(
        sshd_factory: SshdFactory) -> None:
    (good,) = [ssh_host(s, "good", known_hosts=sshd_factory.known_hosts)
               for s in _fleet(sshd_factory, 1)]
    downs = [SSHHost(f"down{i}", "127.0.0.1", free_port(), good.user,
                     known_hosts=sshd_factory.known_hosts, key_text=good.key_text)
             for i in range(2)]
    outcomes = run_on_hosts([*downs, good], _whoami, max_parallel=1, error_threshold=2)
    assert [o.skipped for o in outcomes] == [False, False, True]
    skipped = outcomes[2].error
    assert isinstance(skipped, CouldNotVerify) and skipped.code == "HOST_SKIPPED"


def _whoami(conn: Connection) -> str:
    return conn.run("id -un").stdout.strip()


_started: list[SshdServer] = []


def _fleet(factory: SshdFactory, n: int) -> list[SshdServer]:
    """Hosts shared by the pool tests (started once; every test here is read-only on them)."""
    if len(_started) < n:
        _started.extend(factory.start(n - len(_started)))
    return _started[:n]
