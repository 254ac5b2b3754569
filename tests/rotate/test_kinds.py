"""The secret-kind registry (breakglass/runbooks/rotate/kinds.py): every kind is documented and
tested, the docs' kind table is the registry's, `[secrets.NAME]` is checked against its kind's
own keys, and a kind from another package — the worked example of docs/extending.md — is found
through its entry point and rotates a real file through the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from breakglass.config.models import Config
from breakglass.config.problems import translate
from breakglass.runbooks.rotate import kinds

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "breakglass" / "docs"
EXAMPLE = re.compile(r"<!-- example: (\w+)\.py -->\n```python\n(.*?)```", re.S)


def problems(secret: dict[str, Any]) -> list[str]:
    try:
        Config.model_validate({"project": {"name": "acme", "environment": "test"},
                               "secrets": {"X": secret}})
    except ValidationError as exc:
        return translate(exc, Config)
    return []


# -- the registry against the docs and the tests -------------------------------------------------

def test_the_kind_table_of_rotate_md_is_generated_from_the_registry() -> None:
    text = (DOCS / "rotate.md").read_text()
    table = text.partition(kinds.TABLE_BEGIN + "\n")[2].partition(kinds.TABLE_END)[0]
    assert table == kinds.kinds_markdown(), (
        "docs/rotate.md's kind table is stale: run "
        "`python -m breakglass.runbooks.rotate.kinds docs/rotate.md`")


@pytest.mark.parametrize("spec", kinds.BUILTIN, ids=lambda s: s.name)
def test_every_built_in_kind_has_its_docs_section(spec: Any) -> None:
    page, _, anchor = spec.docs.partition("#")
    headings = re.findall(r"^#{2,4} `(\w+)`$", (DOCS / page).read_text(), re.M)
    assert anchor == spec.name and spec.name in headings, (
        f"{spec.name}: docs = {spec.docs!r}; add a section `### `{spec.name}`` to {page}")


@pytest.mark.parametrize("spec", kinds.BUILTIN, ids=lambda s: s.name)
def test_every_built_in_kind_has_its_test_module(spec: Any) -> None:
    module = Path(__file__).parent / f"test_{spec.name}.py"
    assert module.is_file() and f'kind = "{spec.name}"' in module.read_text()


@pytest.mark.parametrize("spec", kinds.BUILTIN, ids=lambda s: s.name)
def test_every_key_of_every_kind_says_what_it_is(spec: Any) -> None:
    assert spec.summary and all(f.description for k, f in spec.settings.model_fields.items()
                                if k != "kind")


# -- [secrets.NAME] against its kind ---------------------------------------------------------

def test_a_mistyped_kind_is_one_line_with_a_guess() -> None:
    assert problems({"kind": "env_fil"}) == [
        'secrets.X.kind: expected one of "aws_iam_key", "aws_secretsmanager", "ssm_parameter", '
        '"postgres_role", "env_file", "stripe_webhook", got "env_fil" (did you mean '
        '"env_file"?)']


def test_a_missing_kind_names_the_choices() -> None:
    assert problems({"path": "/srv/app/.env"}) == [
        'secrets.X.kind: required key is missing (one of "aws_iam_key", "aws_secretsmanager", '
        '"ssm_parameter", "postgres_role", "env_file", "stripe_webhook")']


def test_a_mistyped_key_is_guessed_among_the_keys_of_its_kind() -> None:
    assert problems({"kind": "aws_iam_key", "iam_usr": "ci"}) == [
        'secrets.X.iam_usr: unknown key (did you mean "iam_user"?)']


def test_every_key_of_another_kind_is_named_with_its_kind() -> None:
    assert problems({"kind": "ssm_parameter", "parameter": "/p", "secret_id": "s",
                     "endpoint_id": "we_1"}) == [
        'secrets.X: secret_id does not apply to kind = "ssm_parameter" (a key of '
        "aws_secretsmanager)",
        'secrets.X: endpoint_id does not apply to kind = "ssm_parameter" (a key of '
        "stripe_webhook)"]


def test_a_kind_declared_alone_loads_and_names_what_a_rotation_needs() -> None:
    config = Config.model_validate({"project": {"name": "acme", "environment": "test"},
                                    "secrets": {"X": {"kind": "aws_iam_key"}}})
    assert config.secrets["X"].rotation_problems() == [
        'iam_user is required for kind = "aws_iam_key" (the IAM user whose access key '
        'rotates, e.g. iam_user = "ci-deploy")',
        'store is required for kind = "aws_iam_key" (where consumers read the value: '
        '"aws-sm:NAME" or "ssm:NAME", e.g. store = "aws-sm:ci/aws-key")']


def test_a_dump_of_the_config_shows_the_keys_of_the_kind() -> None:
    config = Config.model_validate({"project": {"name": "acme", "environment": "test"},
                                    "secrets": {"X": {"kind": "ssm_parameter",
                                                      "parameter": "/prod/token"}}})
    assert config.model_dump(mode="json")["secrets"]["X"]["parameter"] == "/prod/token"


# -- a kind from another package: the example of docs/extending.md ------------------------------

def example_code() -> tuple[str, str]:
    found = EXAMPLE.search((DOCS / "extending.md").read_text())
    assert found, "docs/extending.md lost its example (<!-- example: NAME.py --> + python block)"
    return found.group(1), found.group(2)


def install_plugin(site: Path, module: str, code: str, entry: str) -> None:
    """An installed distribution as importlib.metadata sees one: a module and a dist-info
    declaring `entry` in the group breakglass.secret_kinds."""
    (site / f"{module}.py").write_text(code)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{kinds.ENTRY_POINTS}]\n{entry}\n")


@pytest.fixture
def plugin_site(tmp_path: Path) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    sys.path.insert(0, str(site))
    kinds.registry.cache_clear()
    yield site
    sys.path.remove(str(site))
    for name in [m for m in sys.modules if m in ("token_file", "broken_kind", "clash_kind")]:
        del sys.modules[name]
    kinds.registry.cache_clear()


def test_a_kind_from_an_entry_point_is_registered_with_its_own_keys(plugin_site: Path) -> None:
    module, code = example_code()
    install_plugin(plugin_site, module, code, f"token_file = {module}:SPEC")
    assert "token_file" in kinds.names()
    assert problems({"kind": "token_file", "fille": "/t"}) == [
        'secrets.X.fille: unknown key (did you mean "file"?)']
    assert problems({"kind": "aws_iam_key", "file": "/t"}) == [
        'secrets.X: file does not apply to kind = "aws_iam_key" (a key of token_file)']


def test_a_plugin_that_fails_to_import_is_named_in_one_line(plugin_site: Path) -> None:
    install_plugin(plugin_site, "broken_kind", "import no_such_sdk\n",
                   "vault = broken_kind:SPEC")
    from breakglass.errors import UsageError

    with pytest.raises(UsageError, match=r"^secret kind plugin vault \(broken_kind:SPEC\) "
                                         r"failed to load: ModuleNotFoundError"):
        kinds.registry()


def test_a_plugin_whose_spec_names_no_kind_is_named_in_one_line(plugin_site: Path) -> None:
    install_plugin(plugin_site, "broken_kind", "SPEC = object()\n", "vault = broken_kind:SPEC")
    from breakglass.errors import UsageError

    with pytest.raises(UsageError, match=r"failed to load: TypeError: not a KindSpec"):
        kinds.registry()


def test_a_plugin_may_not_take_the_name_of_a_built_in_kind(plugin_site: Path) -> None:
    code = textwrap.dedent("""
        from breakglass.runbooks.rotate.aws_iam import SPEC
    """)
    install_plugin(plugin_site, "clash_kind", code, "iam = clash_kind:SPEC")
    from breakglass.errors import UsageError

    with pytest.raises(UsageError, match="declares kind 'aws_iam_key', which is already taken"):
        kinds.registry()


def test_the_extending_example_rotates_a_token_through_the_cli(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    module, code = example_code()
    install_plugin(site, module, code, f"token_file = {module}:SPEC")
    old = "old-token-3Jq81fLw0pQe3x"
    token = tmp_path / "token"
    token.write_text(old + "\n")
    config = tmp_path / "breakglass.toml"
    config.write_text('[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
                      '[secrets.API_TOKEN]\nkind = "token_file"\nfile = "token"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    r = subprocess.run([sys.executable, "-m", "breakglass", "rotate", "API_TOKEN", "--yes",
                        "--config", str(config)], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    new = token.read_text()
    assert new != old and len(new) == 32 and oct(token.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "token.previous").exists()  # deleted: no grace
    written = [p.read_text(errors="replace") for p in (tmp_path / "state").rglob("*")
               if p.is_file()]
    assert not any(old in t or new in t for t in [r.stdout, r.stderr, *written])


@pytest.mark.parametrize("starter", ["incident.toml", "full.toml"])
def test_the_starter_configs_list_the_registered_kinds(starter: str) -> None:
    text = (REPO / "breakglass" / "config" / "starters" / starter).read_text()
    comment = re.search(r"^# Secrets .*?kind[ =:]+((?:\w+ \|\s*#?\s*)+\w+)", text, re.M | re.S)
    assert comment, f"{starter}: the comment above [secrets] lists the kinds"
    listed = [name.strip(" #\n") for name in comment.group(1).split("|")]
    assert listed == [spec.name for spec in kinds.BUILTIN]
