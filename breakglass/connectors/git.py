"""git, the one way breakglass runs it: the leaked-secret history search (runbooks/rotate/leaked.py)
and the committed-secrets scan (checklist/secretscan.py, checks/repo.py).

Every call runs `git -C REPO -c core.quotepath=off ARGS` through connectors/process.py (a minimal
environment that keeps HOME: git reads safe.directory from ~/.gitconfig). Failures are
CouldNotVerify with the caller's finding `code` and `action`: the same failed `git log` means
"could not search the history" to the rotation and "could not scan" to the checklist.

    git not installed          CouldNotVerify GIT_MISSING
    timed out / exit != 0      CouldNotVerify `code` (the caller's), `action` (the caller's)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from breakglass.connectors import process
from breakglass.errors import CouldNotVerify


def git_path() -> str:
    """The git binary; CouldNotVerify GIT_MISSING when it is not installed."""
    git = shutil.which("git")
    if git is None:
        raise CouldNotVerify("git is not installed: cannot read the repository",
                             code="GIT_MISSING", action="install git (apt-get install git)")
    return git


def last_line(err: str | bytes) -> str:
    """The last line of git's stderr: the one that says what went wrong."""
    text = err.decode(errors="replace") if isinstance(err, bytes) else err
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"


def _argv(git: str, repo: Path, args: tuple[str, ...]) -> list[str]:
    return [git, "-C", str(repo), "-c", "core.quotepath=off", *args]


def popen(git: str, repo: Path, *args: str, **pipes: Any) -> subprocess.Popen[bytes]:
    """git as a running process, for output read as it comes (`log -p` of a whole history,
    `cat-file --batch`); `pipes` are Popen's stdin/stdout/stderr. The caller reads, waits and
    judges the exit status (last_line(stderr) says why)."""
    return process.popen(_argv(git, repo, args), inherit=process.HOME, **pipes)


def run(git: str, repo: Path, *args: str, timeout: float, code: str, action: str,
        stdin: str | None = None, check: bool = True) -> str:
    """git's stdout (text, undecodable bytes replaced). `check` False: "" when git fails (a
    question whose "no" is an answer, e.g. `rev-parse HEAD` in a repository without commits)."""
    try:
        proc = process.run(_argv(git, repo, args), input=stdin, capture_output=True,
                           text=True, errors="replace", timeout=timeout, inherit=process.HOME)
    except subprocess.TimeoutExpired:
        raise CouldNotVerify(f"git {args[0]} on {repo} took longer than {timeout:g}s",
                             code=code, action=action) from None
    if proc.returncode != 0:
        if not check:
            return ""
        raise CouldNotVerify(f"git {args[0]} on {repo} failed: {last_line(proc.stderr)}",
                             code=code, action=action)
    return str(proc.stdout)
