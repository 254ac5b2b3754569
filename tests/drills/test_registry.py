"""The registries of drill environments and backup stores (breakglass/plugins.py): each plugin is
one module that describes itself; the config's keys, `--env`, "did you mean" and the docs tables
come from the registry; a shipped environment without a docs section or tests fails here; an
environment of another package (the worked example of docs/extending.md, installed through an
entry point) runs a real drill."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import breakglass
from breakglass.config import validate
from breakglass.errors import ConfigError
from breakglass.plugins import Registry
from breakglass.recovery import docs
from breakglass.recovery.environments import ENVIRONMENTS, GROUP, Environment
from breakglass.recovery.stores import STORES, open_store
from breakglass.recovery.stores.file import FileStore
from tests.drills.project import DrillProject, seed

DOCS = Path(breakglass.__file__).parent / "docs"
TESTS = Path(__file__).resolve().parents[1]


# -- every shipped plugin describes itself, with docs and tests --------------------------------
def test_docs_tables_match_the_registries() -> None:
    for page in docs.TABLES:
        text = (DOCS / page).read_text("utf-8")
        assert docs.with_tables(page, text) == text, (
            f"docs/{page} is stale: run `python -m breakglass.recovery.docs breakglass/docs`")


def test_every_environment_has_a_docs_section() -> None:
    text = (DOCS / "environments.md").read_text("utf-8")
    missing = [e.kind for e in ENVIRONMENTS.builtin() if f"\n## `{e.kind}`\n" not in text]
    assert not missing, f"docs/environments.md needs a section ## `NAME` for {missing}"


def _tested_environments() -> set[str]:
    """Names in `ENVIRONMENTS_TESTED = (...)` of test modules that hold at least one test."""
    tested: set[str] = set()
    for path in TESTS.rglob("test_*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        has_tests = any(isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
                        for n in tree.body)
        for node in tree.body:
            if (has_tests and isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "ENVIRONMENTS_TESTED"
                            for t in node.targets)):
                tested.update(ast.literal_eval(node.value))
    return tested


def test_every_environment_has_tests() -> None:
    missing = [e.kind for e in ENVIRONMENTS.builtin() if e.kind not in _tested_environments()]
    assert not missing, (f"no test module declares ENVIRONMENTS_TESTED with {missing} "
                         "(docs/extending.md, Adding a drill environment)")


@pytest.mark.parametrize("env", ENVIRONMENTS.builtin(), ids=lambda e: e.kind)
def test_every_environment_declares_what_the_docs_and_config_need(
        env: type[Environment]) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]*", env.kind)
    assert env.summary and env.needs and "\n" not in env.summary + env.needs
    assert (env.settings_key is None) == (env.settings_model is None)
    if env.settings_key is not None:
        assert env.settings_hint and f'environment = "{env.kind}"' in env.settings_hint


def test_every_store_declares_its_scheme_and_example() -> None:
    for store in STORES.builtin():
        assert store.example.startswith(f"{store.scheme}://") and store.summary
        assert store.url_problem(urlsplit(store.example)) is None


# -- names and keys come from the registry, with "did you mean" -------------------------------
def _problems(tmp_path: Path, drill: dict[str, Any]) -> list[str]:
    doc = {"project": {"name": "acme", "environment": "production"},
           "databases": {"main": {"dsn": "env:DB"}},
           "backups": {"main": {"store": f"file://{tmp_path}/", "database": "main"}},
           "drills": {"restore": {"backup": "main", **drill}}}
    with pytest.raises(ConfigError) as err:
        validate(doc, tmp_path / "breakglass.toml")
    return list(err.value.problems)


def test_an_unknown_environment_names_the_closest(tmp_path: Path) -> None:
    assert _problems(tmp_path, {"environment": "rdss"}) == [
        'drills.restore.environment: unknown drill environment "rdss" (did you mean "rds"?)']


def test_a_misspelt_environment_key_names_the_closest(tmp_path: Path) -> None:
    assert _problems(tmp_path, {"servr": "env:DRILL"}) == [
        'drills.restore.servr: unknown key (did you mean "server"?)']
    assert _problems(tmp_path, {"environment": "rds",
                                "rds": {"snapshot": "s", "timout": "1h"}}) == [
        'drills.restore.rds.timout: unknown key (did you mean "timeout"?)']


def test_settings_written_today_still_load(tmp_path: Path) -> None:
    doc = {"project": {"name": "acme", "environment": "production"},
           "databases": {"main": {"dsn": "env:DB"}},
           "backups": {"main": {"store": f"file://{tmp_path}/", "database": "main"}},
           "drills": {"restore": {"backup": "main", "environment": "local",
                                  "server": "env:DRILL", "rds": {"snapshot": "s"}}}}
    config = validate(doc, tmp_path / "breakglass.toml")
    server, rds = (ENVIRONMENTS.get(k).settings_in(config) for k in ("server", "rds"))
    assert getattr(server, "dsn", None) == "env:DRILL"
    assert getattr(rds, "snapshot", None) == "s"


def test_env_flag_names_the_closest_environment(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "breakglass.toml").write_text(
        '[project]\nname = "acme"\nenvironment = "test"\n\n[databases.main]\ndsn = "env:DB"\n\n'
        f'[backups.main]\nstore = "file://{tmp_path}/store/"\ndatabase = "main"\n\n'
        '[drills.restore]\nbackup = "main"\n')
    proc = subprocess.run([sys.executable, "-m", "breakglass", "drill.restore", "--env", "rdss",
                           "--dry-run", "--config", str(tmp_path / "breakglass.toml")],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc
    assert 'unknown drill environment "rdss" (did you mean "rds"?)' in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_store_is_chosen_by_its_scheme(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/", key_path="backups.main.store")
    assert isinstance(store, FileStore) and store.root == tmp_path
    with pytest.raises(ConfigError) as err:
        open_store("s4://bucket/", key_path="backups.main.store")
    assert str(err.value) == ("backups.main.store: expected file:///absolute/path/ or "
                              "s3://bucket/prefix/")


# -- an environment of another package: docs/extending.md's example, through an entry point ----
def example_module() -> str:
    """The Python block of extending.md's worked example."""
    text = (DOCS / "extending.md").read_text("utf-8")
    section = text[text.index("### A worked example"):]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def install(site: Path, entry: str = "pinned") -> Path:
    """A distribution on `site` (a folder for sys.path) whose entry point registers it."""
    site.mkdir(exist_ok=True)
    (site / "pinned_env.py").write_text(example_module())
    info = site / "pinned_env-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pinned-env\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\n{entry} = pinned_env:PinnedEnvironment\n")
    return site


@pytest.fixture
def fresh_import() -> Iterator[None]:
    yield
    sys.modules.pop("pinned_env", None)


def _registry() -> Registry[Environment]:
    return Registry("drill environment", GROUP, ENVIRONMENTS.builtin, lambda c: c.kind,
                    Environment)


def test_an_entry_point_registers_an_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 fresh_import: None) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path / "site")))
    found = _registry().plugins
    assert list(found) == ["local", "server", "rds", "pinned"]
    assert found["pinned"].settings_key == "pinned"


def test_an_entry_point_under_another_name_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_import: None) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path / "site", entry="pinnd")))
    with pytest.raises(ConfigError) as err:
        _registry().plugins  # noqa: B018 - reading it loads the entry points
    assert "make them the same" in str(err.value)


@pytest.fixture(scope="module")
def source_dsn(pg_server: Any) -> str:
    dsn: str = pg_server.create_database("plugin_shop")
    seed(dsn)
    return dsn


def test_a_drill_runs_in_an_environment_of_another_package(tmp_path: Path,
                                                            source_dsn: str) -> None:
    site = install(tmp_path / "site")
    project = DrillProject(tmp_path / "project", source_dsn)
    project.root.mkdir()
    project.write_config(drill='environment = "pinned"\n\n[drills.restore.pinned]\nmajor = 18\n')
    project.environ.update(BOB_NOTIFY_URL="json://127.0.0.1:9/", PYTHONPATH=os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    project.take()
    res = project.drill()
    assert res.rc == 0, res
    target = res.step_result("environment")["target"]
    assert (target["kind"], target["major"]) == ("pinned", 18)
    assert "ROW_COUNTS_OK" in res.codes
    # torn down: the cluster's folder and the intent record are gone
    assert not Path(target["handle"]["root"]).exists()
    assert not list((project.state / "drills").glob("*/env.json"))

    project.config.write_text(project.config.read_text().replace("major = 18", "majr = 18"))
    check = project.run("config.check")
    assert check.rc == 2
    assert 'drills.restore.pinned.majr: unknown key (did you mean "major"?)' in check.stderr
