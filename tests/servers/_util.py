"""Shared plumbing for the server fixtures: free loopback ports, waiting until a server really
answers, system users for daemons that refuse root, and bookkeeping of the processes a
fixture started so that it stops exactly those (never "every redis-server on the box").

Every fixture in tests/servers/ follows the same life cycle:
1. make a private temp dir (``private_tmpdir``), write config files there;
2. start the daemon with ``Popen`` (or a ctl tool) and remember its PID in a ``ProcessBook``;
3. ``wait_until`` a real protocol exchange succeeds (a TCP connect is not enough: PostgreSQL
   accepts connections before it can serve them) — no sleeps;
4. at session end (pytest runs finalizers on failures and Ctrl-C too; ``teardown_on_sigterm``
   makes SIGTERM from a CI timeout behave like Ctrl-C) ``ProcessBook.stop_all`` sends SIGTERM
   to the recorded PIDs, waits, then SIGKILLs what is left, and the temp dir is removed.
   Only a SIGKILL of pytest itself leaves daemons behind (their dirs are /tmp/bg-*).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
# The lock that serialises useradd between pytest-xdist workers (two concurrent useradd calls
# race on /etc/passwd's lock file and one of them fails).
_USERADD_LOCK = Path(tempfile.gettempdir()) / "breakglass-tests-useradd.lock"


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    There is a window between closing this socket and the daemon binding the port; callers
    that start a daemon retry with a new port when the bind fails (``start_with_retries``).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float = 15.0,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.02,
) -> None:
    """Poll ``ready`` until it returns True; fail fast if ``proc`` exits meanwhile.

    ``ready`` may raise: any exception counts as "not yet". On timeout or early exit, raise
    ServerStartError with the last lines of ``log`` so a CI failure explains itself.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception as exc:  # "not ready yet" comes in many shapes
            last_error = exc
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(
                f"{what} exited with code {proc.returncode} before answering"
                f"{_log_tail(log)}"
            )
        time.sleep(interval)
    raise ServerStartError(
        f"{what} did not answer within {timeout:.0f}s (last error: {last_error!r}){_log_tail(log)}"
    )


def _log_tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- " + str(log) + " ---\n" + "\n".join(tail)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie of ours."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (a daemon run as a test user)
        return True
    # A zombie answers kill(0); when it is our child, reap it so it disappears.
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class ProcessBook:
    """The PIDs one fixture started, and how to stop exactly them."""

    pids: list[int] = field(default_factory=list)
    popens: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def add_popen(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.popens.append(proc)
        self.pids.append(proc.pid)
        return proc

    def add_pid(self, pid: int) -> None:
        """Record a PID we did not spawn directly (a daemon forked by pg_ctl)."""
        self.pids.append(pid)

    def stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM every recorded PID, wait up to ``grace`` seconds, SIGKILL the rest."""
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for pid in self.pids:
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for proc in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        self.pids.clear()
        self.popens.clear()


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 10 s: a test app stops whatever state it is in."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def is_root() -> bool:
    return os.geteuid() == 0


def ensure_system_user(name: str, *useradd_args: str) -> pwd.struct_passwd:
    """Create the user ``name`` once (root only); idempotent and safe across xdist workers."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    if not is_root():
        raise ServerStartError(f"user {name!r} is missing and only root can create it")
    _USERADD_LOCK.touch(exist_ok=True)
    with _USERADD_LOCK.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)  # another worker created it while we waited
            subprocess.run(
                ["useradd", *useradd_args, name], check=True, capture_output=True, text=True
            )
            return pwd.getpwnam(name)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def private_tmpdir(prefix: str) -> Path:
    """A fresh 0700 directory directly under the system temp dir.

    Not pytest's tmp_path_factory: its base (/tmp/pytest-of-USER) is 0700, so a daemon
    running as another user (PostgreSQL as bgtest, ssh logins as bgssh) could not reach
    anything inside. The path is also short, which unix socket paths (max 107 bytes) need.
    """
    return Path(tempfile.mkdtemp(prefix=prefix))


def chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    """Give ``path`` and everything under it to ``user`` (root only)."""
    os.chown(path, user.pw_uid, user.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


def ensure_traversable(path: Path) -> None:
    """Let other users traverse (o+x, not read) every parent directory of ``path``.

    Needed when root runs the tests from a checkout under /root (0700): the PostgreSQL
    binaries bundled in the venv must be reachable by the unprivileged bgtest user. Only the
    search bit is added, and only where it is missing.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def retry_on_port_clash(start: Callable[[int], T], attempts: int = 3) -> T:
    """Call ``start(port)`` with a fresh free port, retrying when the server fails to start.

    Another xdist worker (or any process) may grab the port between ``free_port`` and the
    daemon's bind; a new port fixes that. Other start failures repeat and surface as the last
    ServerStartError.
    """
    error: ServerStartError | None = None
    for _ in range(attempts):
        try:
            return start(free_port())
        except ServerStartError as exc:
            error = exc
    assert error is not None
    raise error


def teardown_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so pytest still runs the fixtures' finalizers.

    CI wrappers (``timeout``, a cancelled job) send SIGTERM; by default Python dies at once and
    the daemons we started would outlive the run. Installed only over the default handler, only
    from the main thread, and idempotent (every server fixture calls it).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
