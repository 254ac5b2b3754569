"""Every child process breakglass starts goes through `run` or `popen` (DESIGN principle 11:
child processes are hostile ground).

Two promises, kept here once instead of at each call site:

- **A minimal environment.** A child gets PATH, the C locale, TMPDIR, and only the variables
  its tool needs (`inherit`, e.g. HOME for git's safe.directory, proxies for pip-audit) plus the
  ones the caller builds (`extra`, e.g. PGHOST/PGPASSFILE). Never breakglass's own environment:
  it holds AWS_SECRET_ACCESS_KEY, DATABASE_URL, SENTRY_DSN and notify URLs, and a child's
  environment is readable in /proc/PID/environ — for the drill's PostgreSQL, by the restored
  dump's own SQL functions too.
- **Children die with breakglass.** Each child starts in its own session (a Ctrl-C or a closed
  terminal reaches breakglass, which cleans up, rather than killing tools mid-write) and asks
  the kernel for a signal when its parent dies (prctl PR_SET_PDEATHSIG, Linux): a SIGKILLed
  breakglass leaves no pg_restore or postgres running. The signal is tied to the *thread* that
  started the child (prctl(2)), so a child that must outlive its call is started from the
  main thread — every runbook step runs there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fnmatch
import functools
import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

#: libpq and PostgreSQL's messages are matched in English: C locale, never the user's
LOCALE = {"LC_ALL": "C", "LANG": "C"}
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
#: the user's home: git reads safe.directory and identity from ~/.gitconfig, npm ~/.npmrc
HOME = ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_NOSYSTEM")
#: what a tool that goes to the network needs to get out the way the machine is set up
NETWORK = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
           "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_*", "npm_config_*",
           "NPM_CONFIG_*")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def child_env(extra: Mapping[str, str] | None = None, inherit: Iterable[str] = ()
              ) -> dict[str, str]:
    """The environment of a child: PATH, C locale, TMPDIR, the variables named in `inherit`
    (a `*` at the end matches a prefix) that are set, then `extra`."""
    env = {"PATH": os.environ.get("PATH") or DEFAULT_PATH, **LOCALE}
    patterns = ("TMPDIR", *inherit)
    for name, value in os.environ.items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            env[name] = value
    env.update(extra or {})
    return env


@functools.cache
def _prctl() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: the next run's leftover cleanup is the safety net


def _die_with_parent(death_signal: int) -> Callable[[], None] | None:
    # Looked up here, in the parent: the child between fork and exec should do as little as
    # possible (no imports, no dlopen).
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        # Runs in the child between fork and exec (after the switch to `user`, which would
        # otherwise clear the setting). The parent may have died before prctl took effect:
        # then the child was already re-parented, and must not run at all.
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _options(env_extra: Mapping[str, str] | None, inherit: Iterable[str], death_signal: int,
             kwargs: dict[str, Any]) -> dict[str, Any]:
    if "env" in kwargs or "preexec_fn" in kwargs:
        raise TypeError("the child's environment and start-up are built here: pass env_extra "
                        "and inherit")
    return {**kwargs, "env": child_env(env_extra, inherit), "start_new_session": True,
            "preexec_fn": _die_with_parent(death_signal)}


def run(args: Sequence[str], *, env_extra: Mapping[str, str] | None = None,
        inherit: Iterable[str] = (), death_signal: int = signal.SIGKILL,
        **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """subprocess.run with the child's environment and life tied to breakglass (module doc)."""
    return subprocess.run(list(args), **_options(env_extra, inherit, death_signal, kwargs))


def popen(args: Sequence[str], *, env_extra: Mapping[str, str] | None = None,
          inherit: Iterable[str] = (), death_signal: int = signal.SIGKILL,
          **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen with the child's environment and life tied to breakglass."""
    return subprocess.Popen(list(args), **_options(env_extra, inherit, death_signal, kwargs))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists. A reused pid counts as alive: what a dead run
    left then waits for a later run, which is safer than removing a live run's files."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
