"""runbooks/rotate/leaked.py: search a real git repository's whole history for a leaked value,
without the value on any command line."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from breakglass.engine.findings import Severity
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rotate import leaked
from breakglass.runbooks.rotate.leaked import findings, search_history

LEAKED = "sk_live_51Hleaked0123456789abcdefXYZ"
GIT = shutil.which("git") or "git"
T = TypeVar("T")


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run([GIT, "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, input=stdin, env=env).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        if text is None:
            git(repo, "rm", "-q", name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: the value committed in config/.env, then removed (only in history); branch
    `feature`: the value in settings.py, still present there."""
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    commit(r, {"README": "hello\n"}, "start")
    commit(r, {"config/.env": f"DEBUG=1\nSTRIPE_KEY={LEAKED}\n"}, "add env")
    commit(r, {"config/.env": None}, "oops, remove env")
    git(r, "checkout", "-q", "-b", "feature", "HEAD~2")
    commit(r, {"app/settings.py": f'# settings\n\n\nKEY = "{LEAKED}"\n'}, "hardcode key")
    git(r, "checkout", "-q", "main")
    return r


def test_the_value_is_found_only_in_history_on_main(repo: Path) -> None:
    report = search_history(repo, LEAKED)
    env = next(o for o in report.occurrences if o.path == "config/.env")
    add = git(repo, "rev-parse", "main~1")
    remove = git(repo, "rev-parse", "main")
    assert (env.added_in, env.removed_in, env.line) == ((add,), (remove,), 2)
    assert "main" in env.refs
    assert not (repo / "config" / ".env").exists()  # not in the work tree: history only


def test_the_value_on_a_second_branch_is_found_with_its_branch(repo: Path) -> None:
    report = search_history(repo, LEAKED)
    py = next(o for o in report.occurrences if o.path == "app/settings.py")
    assert py.added_in == (git(repo, "rev-parse", "feature"),)
    assert py.removed_in == () and py.refs == ("feature",) and py.line == 4


def test_the_report_never_holds_the_value(repo: Path) -> None:
    report = search_history(repo, LEAKED)
    (note,) = findings(report.to_dict(), subject="secrets.STRIPE")
    assert LEAKED not in repr(report.to_dict()) and LEAKED not in repr(note)
    assert note.code == "LEAK_IN_GIT_HISTORY" and note.severity is Severity.INFO
    assert "config/.env:2" in note.message and "app/settings.py:4" in note.message
    assert "filter-repo --replace-text" in note.action and "force-push" in note.action


def test_a_value_in_a_commit_message_is_found(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", f"debug: key is {LEAKED}")
    report = search_history(repo, LEAKED)
    assert report.in_messages == (git(repo, "rev-parse", "HEAD"),)


def test_a_base64_encoded_value_is_found(repo: Path) -> None:
    encoded = base64.b64encode(LEAKED.encode()).decode()
    commit(repo, {"k8s/secret.yaml": f"data:\n  key: {encoded}\n"}, "k8s secret")
    report = search_history(repo, LEAKED)
    k8s = next(o for o in report.occurrences if o.path == "k8s/secret.yaml")
    assert k8s.form == "base64"


def test_a_value_nowhere_in_history_is_a_note_that_says_so(repo: Path) -> None:
    report = search_history(repo, "never-committed-value-0123456789")
    assert not report.found and report.commits == 4
    (note,) = findings(report.to_dict())
    assert note.code == "LEAK_NOT_IN_HISTORY" and not note.counts


def test_the_value_never_appears_in_any_git_command_line(repo: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    shim = tmp_path / "bin"
    shim.mkdir()
    log = tmp_path / "argv.log"
    (shim / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {GIT} "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    report = search_history(repo, LEAKED)
    assert report.found
    argv = log.read_text()
    assert "cat-file" in argv and "find-object" in argv  # the shim saw the search
    assert LEAKED not in argv


def test_a_match_across_a_chunk_boundary_is_found(repo: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from breakglass.runbooks.rotate import leaked

    monkeypatch.setattr(leaked, "CHUNK", 16)
    report = search_history(repo, LEAKED)
    assert {o.path for o in report.occurrences} == {"config/.env", "app/settings.py"}
    assert {o.line for o in report.occurrences} == {2, 4}


def test_thousands_of_commits_are_searched_by_a_handful_of_git_processes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = tmp_path / "big"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    n = 3000
    stream = []
    for i in range(n):  # later commits on a branch chain onto its tip: no `from` needed
        body = f"STRIPE_KEY={LEAKED}\n" if i == 10 else f"version {i}\n"
        stream.append(f"commit refs/heads/main\ncommitter t <t@example.com> {1700000000 + i} "
                      f"+0000\ndata 3\nc{i % 10}\n"
                      + f"M 644 inline src/file{i % 50}.txt\ndata {len(body)}\n{body}\n")
    git(r, "fast-import", "--quiet", stdin="".join(stream))
    # What keeps a big history fast is the number of git processes (one `cat-file --batch`
    # for every blob, not one process per commit or file): counted, not timed.
    started: list[str] = []
    for name in ("run", "popen"):
        real = getattr(leaked.process, name)
        monkeypatch.setattr(leaked.process, name, _counting(real, started))
    report = search_history(r, LEAKED)
    (occ,) = report.occurrences
    assert report.commits == n and occ.path == "src/file10.txt" and len(occ.removed_in) == 1
    assert 0 < len(started) <= 8, started


def _counting(real: Callable[..., T], started: list[str]) -> Callable[..., T]:
    def wrapper(args: Sequence[str], **kw: object) -> T:
        started.append(" ".join(a for a in args[3:6] if not a.startswith("-")))
        return real(args, **kw)
    return wrapper


def test_a_path_that_is_not_a_repository_could_not_verify(tmp_path: Path) -> None:
    with pytest.raises(CouldNotVerify) as info:
        search_history(tmp_path, LEAKED)
    assert info.value.code == "LEAK_SEARCH_FAILED"


def test_a_missing_repository_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        search_history(tmp_path / "nope", LEAKED)
