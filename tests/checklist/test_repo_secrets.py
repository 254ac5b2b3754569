"""secrets.not_committed against real git repositories made by the tests.

The secret values are generated at run time, so this file holds no key-shaped literal (and a
scan of breakglass's own repository does not report its tests)."""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
from pathlib import Path

import pytest

from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.engine.findings import Outcome, exit_code
from breakglass.errors import EXIT_UNVERIFIED, CouldNotVerify
from tests.checklist.context import codes, make_ctx, run

ITEM = "secrets.not_committed"
ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def aws_key() -> str:
    return "AKIA" + _rand(string.ascii_uppercase + string.digits, 16)


def stripe_key() -> str:
    # as long as a real one: StripeDetector reports its first 32 characters, the keyword and
    # seed detectors the whole literal; the finding must still be one secret, not three
    return "sk_" + "live_" + _rand(string.ascii_letters + string.digits, 99)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **ENV}).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or delete, for None) files, commit them, return the short sha."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "--short", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {"README.md": "# app\n", "app.py": "print('hello')\n"}, "init")
    return path


def ctx_for(root: Path, repo: Path, extra: str = ""):  # type: ignore[no-untyped-def]
    return make_ctx(root, f'[checklist.repo]\npath = "{repo}"\n{extra}')


def everything(result: object) -> str:
    """Every way the result can be shown: repr, findings as JSON, evidence as JSON."""
    findings = getattr(result, "findings", [])
    return (repr(result) + json.dumps([f.to_dict() for f in findings])
            + json.dumps(getattr(result, "evidence", {})))


def test_clean_repository_passes_and_says_what_it_scanned(tmp_path: Path, repo: Path) -> None:
    commit(repo, {"lib/util.py": "def add(a, b):\n    return a + b\n"}, "util")
    result = run(ctx_for(tmp_path / "cfg", repo), ITEM)
    assert result.findings == []
    assert result.evidence["tree"]["files"] == 3
    assert result.evidence["history"]["commits_scanned"] == 2
    assert result.evidence["history"]["complete"] is True
    assert result.evidence["head"] == git(repo, "rev-parse", "--short", "HEAD")


def test_keys_removed_from_the_tree_still_fail_with_the_history_code(
        tmp_path: Path, repo: Path) -> None:
    aws, stripe = aws_key(), stripe_key()
    added = commit(repo, {"config.py": f'AWS_ACCESS_KEY_ID = "{aws}"\n'
                                       f'STRIPE_SECRET_KEY = "{stripe}"\n'}, "config")
    commit(repo, {"config.py": 'import os\nSTRIPE_SECRET_KEY = os.environ["STRIPE_SECRET_KEY"]\n'},
           "read keys from the environment")
    ctx = ctx_for(tmp_path / "cfg", repo)
    result = run(ctx, ITEM)

    assert codes(result) == ["SECRET_IN_HISTORY", "SECRET_IN_HISTORY"]
    kinds = {f.evidence["kind"] for f in result.findings}
    assert kinds == {"AWS Access Key", "Stripe Access Key"}
    for f in result.findings:
        assert f.outcome is Outcome.FAILED and f.severity is BY_ID[ITEM].severity
        assert f.evidence["history"][0] == {"path": "config.py", "line": f.evidence["history"][0]
                                            ["line"], "commit": added}
        assert added in f.message and "config.py:" in f.message
        assert f.evidence["tree"] == []
    hints = {f.evidence["kind"]: f.evidence["hint"] for f in result.findings}
    assert hints == {"AWS Access Key": "AKIA…", "Stripe Access Key": "sk_live_…"}
    shown = everything(result)
    assert aws not in shown and stripe not in shown
    assert aws[4:] not in shown and stripe[8:32] not in shown  # not even the secret part
    # and should any output of the run ever carry them, the run's redactor masks them
    assert ctx.redactor.redact(f"{aws} {stripe}").count("«redacted»") == 2


def test_a_secret_still_in_the_tree_fails_naming_file_line_and_first_commit(
        tmp_path: Path, repo: Path) -> None:
    password = _rand(string.ascii_letters + string.digits, 14)
    first = commit(repo, {"settings.py": f'DATABASE_URL = "postgres://app:{password}@db/app"\n'},
                   "db")
    result = run(ctx_for(tmp_path / "cfg", repo), ITEM)
    assert codes(result) == ["SECRET_IN_TREE"]
    f = result.findings[0]
    assert f.evidence["tree"] == [{"path": "settings.py", "line": 1}]
    assert f.evidence["history"][0]["commit"] == first
    assert "settings.py:1" in f.message and first in f.message
    assert password not in everything(result)


def test_the_seed_pattern_finds_a_literal_that_no_provider_format_matches(
        tmp_path: Path, repo: Path) -> None:
    token = _rand(string.ascii_lowercase + string.digits, 32)
    commit(repo, {".env.production": f"GITHUB_WEBHOOK_TOKEN={token}\nDEBUG=0\n"}, "env")
    result = run(ctx_for(tmp_path / "cfg", repo), ITEM)
    assert codes(result) == ["SECRET_IN_TREE"]
    assert result.findings[0].evidence["kind"] == "TOKEN literal"
    assert token not in everything(result)


def test_environment_lookups_and_placeholders_are_not_secrets(tmp_path: Path,
                                                              repo: Path) -> None:
    commit(repo, {
        "settings.py": 'import os\nSECRET_KEY = os.environ["SECRET_KEY"]\n'
                       'API_KEY = os.getenv("API_KEY")\nTOKEN = settings.TOKEN\n'
                       'DATABASE_URL = ""\n',
        "server.js": "const STRIPE_SECRET = process.env.STRIPE_SECRET;\n",
        # the seed's own example .env shape, with its placeholders
        ".env.example": "DATABASE_URL=postgres://localhost:5432/app\nSTRIPE_SECRET_KEY="
                        "sk_live_xxx\nDJANGO_SECRET_KEY=replace-me\nAPI_KEY=changeme\n"
                        "AWS_SECRET=${AWS_SECRET}\n",
        "breakglass.toml": '[secrets.STRIPE]\napi_key = "env:STRIPE_SECRET_KEY"\n',
    }, "config from the environment")
    result = run(ctx_for(tmp_path / "cfg", repo), ITEM)
    assert result.findings == [], [f.message for f in result.findings]
    assert result.evidence["tree"]["files"] == 6


def test_excluded_paths_are_not_reported(tmp_path: Path, repo: Path) -> None:
    commit(repo, {"tests/fixtures/keys.py": f'FAKE = "{aws_key()}"\n'}, "fixture")
    assert codes(run(ctx_for(tmp_path / "a", repo), ITEM)) == ["SECRET_IN_TREE"]
    result = run(ctx_for(tmp_path / "b", repo, 'exclude = ["tests/fixtures/*"]'), ITEM)
    assert result.findings == []
    assert result.evidence["tree"]["excluded"] == 1


def test_an_untracked_file_git_does_not_ignore_is_reported_and_an_ignored_one_is_not(
        tmp_path: Path, repo: Path) -> None:
    commit(repo, {".gitignore": "secret.env\n"}, "ignore")
    (repo / "secret.env").write_text(f"STRIPE_SECRET_KEY={stripe_key()}\n")
    (repo / "local.env").write_text(f"AWS_ACCESS_KEY_ID={aws_key()}\n")
    result = run(ctx_for(tmp_path / "cfg", repo), ITEM)
    assert codes(result) == ["SECRET_NOT_IGNORED"]
    assert result.findings[0].evidence["tree"] == [{"path": "local.env", "line": 1,
                                                    "tracked": False}]


def test_history_false_searches_only_the_tree(tmp_path: Path, repo: Path) -> None:
    commit(repo, {"k.py": f'KEY = "{aws_key()}"\n'}, "key")
    commit(repo, {"k.py": None}, "drop key")
    result = run(ctx_for(tmp_path / "cfg", repo, "history = false"), ITEM)
    assert result.findings == []
    assert result.evidence["history"] == "not searched (history = false)"


def test_a_history_longer_than_max_commits_is_unverified_not_passed(tmp_path: Path,
                                                                    repo: Path) -> None:
    commit(repo, {"a.py": "a = 1\n"}, "a")
    commit(repo, {"b.py": "b = 1\n"}, "b")
    result = run(ctx_for(tmp_path / "cfg", repo, "max_commits = 2"), ITEM)
    assert codes(result) == ["HISTORY_INCOMPLETE"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED
    assert exit_code(result.findings) == EXIT_UNVERIFIED
    assert result.findings[0].evidence["commits_scanned"] == 2
    assert result.findings[0].evidence["commits_total"] == 3


def test_a_folder_that_is_not_a_repository_is_unverified(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    ctx = ctx_for(tmp_path / "cfg", plain)
    with pytest.raises(CouldNotVerify) as err:
        run(ctx, ITEM)
    assert err.value.code == "NOT_A_REPO"
    result = evaluate(ctx, BY_ID[ITEM])
    assert codes(result) == ["NOT_A_REPO"] and exit_code(result.findings) == EXIT_UNVERIFIED


def test_git_missing_is_unverified(tmp_path: Path, repo: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ctx_for(tmp_path / "cfg", repo)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = evaluate(ctx, BY_ID[ITEM])
    assert codes(result) == ["GIT_MISSING"] and exit_code(result.findings) == EXIT_UNVERIFIED


def test_default_is_the_work_tree_holding_the_config_else_not_configured(
        tmp_path: Path, repo: Path) -> None:
    commit(repo, {"deploy/keep": ""}, "deploy folder")
    inside = run(make_ctx(repo / "deploy", ""), ITEM)
    assert inside.evidence["repository"] == str(repo)
    outside = run(make_ctx(tmp_path / "elsewhere", ""), ITEM)
    assert codes(outside) == ["NOT_CONFIGURED"]
    assert outside.findings[0].outcome is Outcome.UNVERIFIED


def test_one_finding_per_distinct_secret_however_many_places_hold_it(tmp_path: Path,
                                                                     repo: Path) -> None:
    one, two = (("ghp" + "_" + _rand(string.ascii_letters + string.digits, 36))
                for _ in range(2))
    commit(repo, {"a.js": f'const GH_TOKEN = "{one}";\n',
                  "b.yml": f"token: '{one}'\nother: '{two}'\n"}, "tokens")
    result = run(ctx_for(tmp_path / "cfg", repo), ITEM)
    assert codes(result) == ["SECRET_IN_TREE", "SECRET_IN_TREE"]
    by_count = sorted((f.evidence["tree_count"], f.evidence["kind"]) for f in result.findings)
    assert by_count == [(1, "GitHub Token"), (2, "GitHub Token")]
    assert one not in everything(result) and two not in everything(result)


def test_documentation_urls_with_placeholder_passwords_are_not_secrets(tmp_path: Path,
                                                                      repo: Path) -> None:
    # README examples trip detect-secrets' basic-auth detector on the word "password"; a real
    # password in the same shape is still reported.
    real = _rand(string.ascii_letters + string.digits, 20)
    commit(repo, {
        "README.md": "Set `DATABASE_URL=postgresql://user:password@host:5432/db`.\n"
                     "Or `redis://:<password>@cache:6379/0`, `amqp://app:${MQ_PASS}@mq//`.\n"
                     "The seed: `postgres://app_user:strongpassword@db.internal:5432/app`.\n",
        "deploy.md": f"psql postgresql://app:{real}@db.internal:5432/app\n",
    }, "docs")
    result = run(ctx_for(tmp_path / "cfg", repo), ITEM)
    assert [f.code for f in result.findings] == ["SECRET_IN_TREE"]
    assert "deploy.md:1" in result.findings[0].message
    assert real not in everything(result)
