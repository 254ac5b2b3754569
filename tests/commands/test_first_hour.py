"""The first hour, through the real CLI: `keygen`, `docs`, one meaning per short flag, "did you
mean" for a mistyped task or option, and the same exit codes under `inv` (tasks.py)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def run(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        module: str = "breakglass") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "BREAKGLASS_CONFIG"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=cwd, env={**base, **(env or {})}, timeout=60, check=False)


# -- keygen -------------------------------------------------------------------------------------

def test_keygen_writes_a_0600_identity_that_decrypts_for_the_printed_recipient(
        tmp_path: Path) -> None:
    import pyrage

    path = tmp_path / "keys" / "age.txt"
    result = run("keygen", "--path", str(path))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret = next(ln for ln in path.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-"))
    assert "AGE-SECRET-KEY" not in result.stdout + result.stderr
    recipient = re.search(r"recipient \(public key\): (age1\w+)", result.stdout)
    assert recipient is not None
    sealed = pyrage.encrypt(b"probe", [pyrage.x25519.Recipient.from_str(recipient[1])])
    assert pyrage.decrypt(sealed, [pyrage.x25519.Identity.from_str(secret)]) == b"probe"
    assert f'\nidentity = "file:{path}"\n' in result.stdout


def test_keygen_never_overwrites_an_identity(tmp_path: Path) -> None:
    path = tmp_path / "age.txt"
    path.write_text("AGE-SECRET-KEY-1EXISTING\n")
    result = run("keygen", "--path", str(path))
    assert result.returncode == 2
    assert "already exists" in result.stderr and "Traceback" not in result.stderr
    assert path.read_text() == "AGE-SECRET-KEY-1EXISTING\n"


def test_init_keygen_and_the_printed_line_make_a_config_that_checks(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    key = run("keygen", "--path", str(tmp_path / "age.txt"))
    line = next(ln for ln in key.stdout.splitlines() if ln.startswith("identity = "))
    config = tmp_path / "breakglass.toml"
    config.write_text(config.read_text().replace('identity = "env:BACKUP_AGE_IDENTITY"', line))
    result = run("config.check", cwd=tmp_path,
                 env={"DATABASE_URL": "postgresql://app:pw@127.0.0.1:5432/app"})
    assert result.returncode == 0, result.stderr
    assert "backups.main.identity" in result.stdout


# -- docs ---------------------------------------------------------------------------------------

def test_docs_lists_every_page(tmp_path: Path) -> None:
    result = run("docs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = {ln.split()[0] for ln in result.stdout.splitlines()[1:]}
    pages = {p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md")}
    assert listed == pages


@pytest.mark.parametrize(("topic", "page"), [("backup.take", "backup-take.md"),
                                             ("drill-restore", "drill-restore.md"),
                                             ("checks/web", "checks/web.md"),
                                             ("README", "README.md")])
def test_docs_prints_the_page(tmp_path: Path, topic: str, page: str) -> None:
    result = run("docs", topic, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (DOCS / page).read_text()


def test_an_unknown_docs_topic_is_exit_2_with_suggestions(tmp_path: Path) -> None:
    result = run("docs", "drill.restre", cwd=tmp_path)
    assert result.returncode == 2
    assert "did you mean drill-restore" in result.stderr


def test_help_points_at_the_docs_command_not_a_checkout_path(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert "`breakglass docs TOPIC`" in result.stdout
    assert "docs/README.md" not in result.stdout


def test_the_docs_are_package_data(tmp_path: Path) -> None:
    """What `pip install` copies: setuptools' build_py of a copy of the tree."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(DOCS, src / "docs")
    shutil.copytree(ROOT / "breakglass", src / "breakglass", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    build = tmp_path / "build"
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
                    "build_py", "--build-lib", str(build)], cwd=src, check=True,
                   capture_output=True)
    shipped = {p.relative_to(build / "breakglass" / "docs").as_posix()
               for p in (build / "breakglass" / "docs").rglob("*.md")}
    assert shipped == {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert not (build / "breakglass" / "docs").is_symlink()
    assert (build / "breakglass" / "config" / "starters" / "backups.toml").is_file()


# -- flags --------------------------------------------------------------------------------------

def task_help(name: str, module: str = "breakglass") -> str:
    result = run("--help", name, cwd=ROOT, module=module)
    assert result.returncode == 0, result.stderr
    return result.stdout


def short_flags(help_text: str) -> dict[str, str]:
    """short -> long, from a task's help ("-n, --dry-run", "-c STRING, --config=STRING")."""
    return dict(re.findall(r"^\s+(-\w)(?: \w+)?, (--[\w-]+)", help_text, re.M))


def all_tasks() -> list[str]:
    result = run("--list", cwd=ROOT)
    return [ln.split()[0] for ln in result.stdout.splitlines()
            if ln.startswith("  ") and not ln.startswith("   ")]


def test_no_two_tasks_give_one_short_flag_different_meanings() -> None:
    meanings: dict[str, set[str]] = {}
    tasks = all_tasks()
    assert "drill.restore" in tasks and "lockout" in tasks
    for name in tasks:
        for short, long in short_flags(task_help(name)).items():
            meanings.setdefault(short, set()).add(long)
    assert meanings, "no short flag at all: the help format changed"
    assert {s: m for s, m in meanings.items() if len(m) > 1} == {}
    # The ones the issue found: -e and -a were --because, -o was --probe-token and --override.
    assert set(meanings) == {"-c", "-j", "-n", "-y"}


def test_a_short_flag_works(tmp_path: Path) -> None:
    config = tmp_path / "breakglass.toml"
    config.write_text('[project]\nname = "acme"\nenvironment = "production"\n')
    result = run("runs.list", "-j", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith(("[", "{"))


# -- "did you mean" and exit codes, under breakglass and under inv ------------------------------

@pytest.mark.parametrize("module", ["breakglass", "invoke"])
def test_a_mistyped_task_is_exit_2_with_a_suggestion(module: str) -> None:
    result = run("backup.tkae", cwd=ROOT, module=module)
    assert result.returncode == 2, result.stderr
    assert "no task 'backup.tkae'; did you mean backup.take" in result.stderr


@pytest.mark.parametrize("module", ["breakglass", "invoke"])
def test_a_mistyped_option_is_exit_2_with_a_suggestion(module: str) -> None:
    result = run("backup.take", "--bakup", "main", cwd=ROOT, module=module)
    assert result.returncode == 2, result.stderr
    assert "backup.take has no option --bakup; did you mean --backup" in result.stderr


def test_help_for_a_mistyped_task_is_exit_2_with_a_suggestion() -> None:
    result = run("--help", "drill.restre", cwd=ROOT)
    assert result.returncode == 2
    assert "did you mean drill.restore" in result.stderr


def test_inv_gives_the_same_short_flags() -> None:
    assert short_flags(task_help("drill.restore", module="invoke")) == short_flags(
        task_help("drill.restore"))
