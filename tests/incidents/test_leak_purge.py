"""`breakglass leak.purge`: a leaked value removed from every ref of a fresh mirror clone of a
real repository (branches, tags, messages), proven with plain git; the user's clone and the
remote untouched unless `--push REMOTE --yes`; the value never in output, journal or report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.incidents.project import IncidentProject
from tests.rotate.aws_project import RotateProject, rotate_project
from tests.servers.moto import MotoServer
from tests.servers.sinks import HttpSink

__all__ = ["rotate_project"]  # the fixture, imported for pytest

LEAKED = "sk_live_51Hpurge0123456789abcdefXYZ"
OTHER = "sk_live_51Hnever9876543210zyxwvuTSR"
GIT = shutil.which("git") or "git"
SECRET = """
[secrets.STRIPE_KEY]
kind = "aws_secretsmanager"
secret_id = "stripe/key"
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run([GIT, "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def commit(repo: Path, files: dict[str, str | None], message: str) -> None:
    for name, text in files.items():
        if text is None:
            git(repo, "rm", "-q", name)
            continue
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)


def holds_value(repo: Path) -> bool:
    """Independent proof: `git log -p --all` (every diff and message reachable from any ref)."""
    return LEAKED in git(repo, "log", "-p", "--all", "--format=%H %B")


def snapshot(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(objectname) %(refname)")


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    """A bare "remote" and a clone: the value committed early in config/.env (then removed) and
    in app/settings.py next to other lines, in a commit message, on a branch and a tag."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo = tmp_path / "app"
    git(tmp_path, "clone", "-q", str(remote), str(repo))
    commit(repo, {"README": "hello\n"}, "start")
    commit(repo, {"config/.env": f"STRIPE_KEY={LEAKED}\n",
                  "app/settings.py": f'DEBUG = True\nKEY = "{LEAKED}"\n'}, "add config")
    git(repo, "tag", "v1")
    commit(repo, {"config/.env": None}, f"remove env (was {LEAKED})")
    commit(repo, {"app/settings.py": 'DEBUG = True\nKEY = os.environ["KEY"]\n'}, "env key")
    git(repo, "checkout", "-q", "-b", "feature", "v1")
    commit(repo, {"app/feature.py": "x = 1\n"}, "feature")
    git(repo, "checkout", "-q", "main")
    git(repo, "push", "-q", "origin", "main", "feature", "v1")
    return repo, remote


@pytest.fixture
def project(tmp_path: Path, http_sink: HttpSink) -> IncidentProject:
    return IncidentProject(tmp_path / "p", sink=http_sink).write(SECRET)


def purge(project: IncidentProject, repo: Path, *more: str, value: str = LEAKED
          ) -> subprocess.CompletedProcess[str]:
    tmp = project.root / "tmp"  # this test's own: the private folder must be gone after
    tmp.mkdir(exist_ok=True)
    return project.run("leak.purge", "--repo", str(repo), "--secret", "STRIPE_KEY",
                       "--value", "env:LEAKED_VALUE", *more,
                       env=project.env(LEAKED_VALUE=value, TMPDIR=str(tmp)))


def mirror(project: IncidentProject) -> Path:
    return project.state / "purge" / "STRIPE_KEY.git"


def test_every_ref_of_the_mirror_is_clean(project: IncidentProject,
                                          repos: tuple[Path, Path]) -> None:
    repo, _ = repos
    r = purge(project, repo, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    m = mirror(project)
    refs = snapshot(m).split("\n")
    assert any("refs/heads/feature" in x for x in refs) and any("refs/tags/v1" in x
                                                                for x in refs)
    assert not holds_value(m)
    for ref in ("refs/heads/main", "refs/heads/feature", "refs/tags/v1"):
        assert f"{ref}: clean" in r.stdout


def test_a_file_that_only_ever_held_the_secret_is_removed_others_keep_their_lines(
        project: IncidentProject, repos: tuple[Path, Path]) -> None:
    repo, _ = repos
    assert purge(project, repo, "--yes").returncode == 0
    m = mirror(project)
    assert git(m, "log", "--all", "--format=", "--name-only", "--", "config/.env").strip() == ""
    assert git(m, "show", "v1:app/settings.py") == 'DEBUG = True\nKEY = "***REMOVED***"\n'


def test_without_push_the_users_clone_and_the_remote_are_untouched(
        project: IncidentProject, repos: tuple[Path, Path]) -> None:
    repo, remote = repos
    before = (snapshot(repo), snapshot(remote))
    r = purge(project, repo, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (snapshot(repo), snapshot(remote)) == before
    assert holds_value(repo) and holds_value(remote)
    # the commands to paste: the force-push, then the re-clone, each on its own line
    lines = r.stdout.splitlines()
    assert f"git -C {mirror(project)} push --force {remote} 'refs/heads/*:refs/heads/*' " \
           "'refs/tags/*:refs/tags/*'" in lines
    assert any(line.startswith(f"mv {repo} {repo}.leaked && git clone {remote} {repo}")
               for line in lines)


def test_push_yes_rewrites_every_ref_of_the_remote(project: IncidentProject,
                                                   repos: tuple[Path, Path]) -> None:
    repo, remote = repos
    r = purge(project, repo, "--push", "origin", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not holds_value(remote)
    assert snapshot(remote) != "" and "refs/tags/v1" in snapshot(remote)
    assert "remote origin refs/heads/feature: clean" in r.stdout
    assert holds_value(repo)  # the user's own clone is never rewritten: they re-clone


def test_the_value_is_never_in_output_journal_or_report(project: IncidentProject,
                                                        repos: tuple[Path, Path]) -> None:
    repo, _ = repos
    assert purge(project, repo, "--push", "origin", "--yes").returncode == 0
    r = purge(project, repo, "--yes", "--json")  # the machine's output: the same facts
    assert r.returncode == 0, r.stdout + r.stderr
    found = {f["code"]: f for f in json.loads(r.stdout)["findings"]}
    assert any(c.startswith("git -C ") for c in found["PURGE_COPIES_REMAIN"]["evidence"]
               ["commands"])
    assert all(LEAKED not in out for out in project.outputs.values())
    written = [p for p in project.state.rglob("*") if p.is_file() and "purge" not in p.parts]
    assert written and all(LEAKED.encode() not in p.read_bytes() for p in written)
    assert list((project.root / "tmp").iterdir()) == []  # the 0600 replacements file, gone


BAD = [
    ("never in the repo", ["--yes"], OTHER, "is in no commit", 2),
    ("push without yes", ["--push", "origin"], LEAKED, "add --yes", 2),
    ("unknown remote", ["--push", "upstream", "--yes"], LEAKED, "not a remote", 2),
]


@pytest.mark.parametrize(("case", "more", "value", "says", "code"), BAD,
                         ids=[c[0] for c in BAD])
def test_bad_input_rewrites_nothing(project: IncidentProject, repos: tuple[Path, Path],
                                    case: str, more: list[str], value: str, says: str,
                                    code: int) -> None:
    repo, remote = repos
    before = (snapshot(repo), snapshot(remote))
    r = purge(project, repo, *more, value=value)
    assert r.returncode == code and says in r.stdout + r.stderr, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert not mirror(project).exists() and (snapshot(repo), snapshot(remote)) == before


def test_the_value_is_read_from_the_secrets_store_as_rotate_leaked_reads_it(
        aws: MotoServer, rotate_project: Any, http_sink: HttpSink,
        repos: tuple[Path, Path]) -> None:
    """No --value: the value [secrets.NAME] holds now (here AWSCURRENT in Secrets Manager)."""
    repo, _ = repos
    aws.client("secretsmanager").create_secret(Name="stripe/purge", SecretString=LEAKED)
    proj: RotateProject = rotate_project(aws, notify_url=http_sink.apprise_url)
    proj.write('[secrets.STRIPE_KEY]\nkind = "aws_secretsmanager"\n'
               'secret_id = "stripe/purge"\n')
    r = proj.run("leak.purge", "--repo", str(repo), "--secret", "STRIPE_KEY", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not holds_value(proj.state / "purge" / "STRIPE_KEY.git")
    assert LEAKED not in r.stdout + r.stderr


def test_uncommitted_changes_are_refused(project: IncidentProject,
                                         repos: tuple[Path, Path]) -> None:
    repo, _ = repos
    (repo / "README").write_text("edited\n")
    r = purge(project, repo, "--yes")
    assert r.returncode == 2 and "uncommitted changes" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not mirror(project).exists()


def test_an_unknown_secret_is_refused(project: IncidentProject,
                                      repos: tuple[Path, Path]) -> None:
    repo, _ = repos
    r = project.run("leak.purge", "--repo", str(repo), "--secret", "NOPE", "--yes")
    assert r.returncode == 2 and "no [secrets.NOPE]" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_without_git_filter_repo_nothing_runs(monkeypatch: pytest.MonkeyPatch,
                                              repos: tuple[Path, Path]) -> None:
    """Checked before any run starts: exit 3 (a tool missing), with the install line."""
    import importlib.util

    from breakglass.errors import CouldNotVerify
    from breakglass.runbooks.rotate import purge

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "git_filter_repo" else real(name, *a))
    with pytest.raises(CouldNotVerify) as exc:
        purge.check_inputs(repos[0], "", False)
    assert exc.value.exit_code == 3 and exc.value.code == "FILTER_REPO_MISSING"
    assert "pip install 'git-filter-repo" in exc.value.action


def test_dry_run_shows_the_plan_and_clones_nothing(project: IncidentProject,
                                                   repos: tuple[Path, Path]) -> None:
    repo, remote = repos
    before = (snapshot(repo), snapshot(remote))
    r = purge(project, repo, "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "remove config/.env from every commit" in r.stdout
    assert "--replace-text" in r.stdout and "app/settings.py" in r.stdout
    assert not mirror(project).exists() and (snapshot(repo), snapshot(remote)) == before
