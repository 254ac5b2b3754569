"""breakglass.toml models, durations and loading (in-process; the CLI is tested in
tests/config/test_config_cli.py)."""

from __future__ import annotations

import copy
import textwrap
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakglass.config import Config, format_duration, load_config, parse_duration, validate
from breakglass.config.starter import PROFILES, starter_text, write_starter
from breakglass.errors import ConfigError, UsageError

MINIMAL = """
[project]
name = "acme"
environment = "production"
"""


def write(tmp_path: Path, text: str, name: str = "breakglass.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


# -- durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)),
    ("26h", timedelta(hours=26)), ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)),
    ("0s", timedelta(0)),
])
def test_duration_parses_number_and_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["26x", "26", "h", "1.5h", "1h30m", "-1d", " 7d", "7 d", "",
                                  "7D", "9999999999d"])
def test_duration_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_a_duration_too_long_for_a_date_is_a_value_error_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="is too long"):
        parse_duration("999999999w")


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from("smhdw"))
def test_duration_formats_back_to_an_equal_duration(number: int, unit: str) -> None:
    value = parse_duration(f"{number}{unit}")
    assert parse_duration(format_duration(value)) == value


# -- loading -----------------------------------------------------------------------------------

def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.project.name == "acme"
    assert config.owners == {} and config.backups == {} and config.sentry is None
    assert config.aws.endpoint_url is None


def test_config_records_the_absolute_path_it_was_loaded_from(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert load_config("breakglass.toml").path == tmp_path / "breakglass.toml"


def test_state_dir_is_resolved_against_the_config_folder(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, MINIMAL + 'state_dir = "state"\n')
    monkeypatch.chdir("/")
    assert load_config(path).project.state_dir == tmp_path / "state"


def test_default_state_dir_sits_next_to_the_config(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL)).project.state_dir == tmp_path / ".breakglass"


def test_explicit_path_wins_over_env_var(tmp_path: Path) -> None:
    explicit = write(tmp_path, MINIMAL)
    other = write(tmp_path, MINIMAL.replace("acme", "other"), "other.toml")
    config = load_config(explicit, environ={"BREAKGLASS_CONFIG": str(other)})
    assert config.project.name == "acme"


def test_env_var_is_used_without_an_explicit_path(tmp_path: Path) -> None:
    other = write(tmp_path, MINIMAL.replace("acme", "other"), "other.toml")
    assert load_config(None, environ={"BREAKGLASS_CONFIG": str(other)}).project.name == "other"


def test_current_directory_file_is_the_last_resort(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert load_config(None, environ={}).project.name == "acme"


def test_missing_file_says_where_it_looked_and_to_run_init(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={})
    assert str(tmp_path / "breakglass.toml") in str(info.value)
    assert "breakglass init" in str(info.value)


def test_invalid_toml_names_line_and_column(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[project]\nname = "acme"\nenvironment = \n')
    assert "line 3" in problems[0] and "column" in problems[0]


def test_models_are_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ValueError, match="frozen"):
        setattr(config.project, "name", "changed")  # noqa: B010 - the point is that it fails


def test_full_contract_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        [project]
        name = "acme"
        environment = "production"
        [owners]
        key_rotation = ["alice"]
        backup_restore = ["bob"]
        [people.alice]
        notify = ["env:ALICE_NOTIFY_URL", "mailto://ops@acme.example"]
        [people.bob]
        [sentry]
        dsn = "env:SENTRY_DSN"
        [aws]
        region = "eu-west-1"
        endpoint_url = "http://127.0.0.1:5000"
        [app]
        base_url = "https://acme.example"
        [hosts.web1]
        address = "203.0.113.5"
        user = "deploy"
        key = "file:~/.ssh/id_ed25519"
        known_hosts = "known_hosts"
        [databases.main]
        dsn = "env:DATABASE_URL"
        [backups.main]
        store = "s3://acme-backups/pg/"
        database = "main"
        max_age = "26h"
        retention_days = 35
        encryption = "age"
        identity = "aws-sm:arn:aws:secretsmanager:eu-west-1:1:secret:age-AbC#identity"
        [drills.restore]
        backup = "main"
        rto = "30m"
        [[drills.restore.expect]]
        sql = "select count(*) from users"
        min = 1
        [secrets.STRIPE_WEBHOOK_SECRET]
        kind = "stripe_webhook"
        grace = "1h"
    """))
    assert config.backups["main"].max_age == timedelta(hours=26)
    assert config.hosts["web1"].port == 22
    assert config.hosts["web1"].known_hosts == tmp_path / "known_hosts"
    assert config.app is not None and config.app.health_path == "/healthz"
    assert config.drills.restore is not None and config.drills.restore.expect[0].min == 1
    assert config.secrets["STRIPE_WEBHOOK_SECRET"].grace == timedelta(hours=1)
    assert config.owners_of("backup_restore") == ["bob"]


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + """
        [backups.main]
        store = "file:///b/"
        max_age = "26x"
        retention_days = "thirty"
        [owners]
        backup_restore = ["carol"]
    """)
    assert len(problems) == 3


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + """
        [backups.main]
        store = "file:///b/"
        retention_days = "thirty"
    """)
    assert problems == ['backups.main.retention_days: expected an integer, got "thirty"']


def test_unknown_key_suggests_the_closest_name(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[people.alice]\nnotfy = ["env:A"]\n')
    assert problems == ['people.alice.notfy: unknown key (did you mean "notify"?)']


def test_unknown_person_names_the_owner_key(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[owners]\nbackup_restore = ["carol"]\n')
    assert problems == ['owners.backup_restore: unknown person "carol" (add [people.carol])']


def test_bad_duration_message_gives_examples(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[backups.main]\nstore = "file:///b/"\n'
                           'max_age = "26x"\n')
    assert problems == ['backups.main.max_age: "26x" is not a duration (use e.g. 90s, 30m, 26h, '
                        '7d)']


def test_literal_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[databases.main]\n'
                           'dsn = "postgresql://app:hunter2pw@db/app"\n')
    assert len(problems) == 1
    assert problems[0].startswith("databases.main.dsn: a literal value is not allowed")
    assert "hunter2pw" not in problems[0] and "env:" in problems[0]


def test_age_encryption_needs_identity_or_recipients(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[backups.main]\nstore = "file:///b/"\n'
                           'encryption = "age"\n')
    assert problems[0].startswith('backups.main: encryption = "age" needs identity')


def test_age_encryption_with_recipients_only_is_fine(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + """
        [backups.main]
        store = "file:///b/"
        encryption = "age"
        recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
    """))
    assert config.backups["main"].encryption == "age"


def test_empty_environment_is_refused(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[project]\nname = "a"\nenvironment = " "\n')
    assert problems == ["project.environment: must not be empty"]


def test_key_path_quotes_keys_that_are_not_bare(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[people."alice smith"]\nnotfy = []\n')
    assert problems[0].startswith('people."alice smith".notfy: unknown key')


def test_path_is_not_a_key_of_the_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, 'path = "/etc"\n' + MINIMAL)
    assert problems[0].startswith("path: unknown key")


def test_validate_accepts_a_document_without_a_file() -> None:
    config = validate({"project": {"name": "a", "environment": "staging"}})
    assert isinstance(config, Config) and config.path is None


# -- the starter file --------------------------------------------------------------------------

def test_full_starter_file_loads(tmp_path: Path) -> None:
    config = load_config(write_starter(tmp_path / "breakglass.toml", profile="full"))
    # It shows every section of the contract.
    assert config.owners and config.people and config.hosts and config.databases
    assert config.backups and config.drills.restore and config.secrets and config.app


def test_backups_starter_holds_only_backups_and_the_drill(tmp_path: Path) -> None:
    config = load_config(write_starter(tmp_path / "breakglass.toml", profile="backups"))
    assert config.databases and config.backups and config.drills.restore
    assert not (config.hosts or config.secrets or config.app or config.owners)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_starter_file_holds_references_only(profile: str) -> None:
    settings = [ln.split("#")[0] for ln in starter_text(profile).splitlines()]
    assert not [ln for ln in settings if "postgresql://" in ln or "AGE-SECRET-KEY" in ln]


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = write(tmp_path, "# mine\n")
    with pytest.raises(UsageError, match="--force"):
        write_starter(target)
    assert target.read_text() == "# mine\n"


def test_init_overwrites_with_force(tmp_path: Path) -> None:
    target = write(tmp_path, "# mine\n")
    write_starter(target, force=True)
    assert target.read_text() == starter_text()


# -- property: whatever the document, only ConfigError -------------------------------------------

_keys = st.sampled_from(["project", "name", "environment", "state_dir", "owners", "people",
                         "notify", "backups", "main", "store", "max_age", "retention_days",
                         "encryption", "identity", "recipients", "databases", "dsn", "drills",
                         "restore", "expect", "sql", "min", "secrets", "kind", "aws", "hosts",
                         "port", "app", "base_url", "sentry", "backup_restore", "path", "x"])
_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
            | st.text(max_size=30) | st.sampled_from(["26h", "env:X", "file:/x", "s3://b/",
                                                        "file:///b/", "age", "alice", "main",
                                                        "a\nb", "env:A\nB"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_keys | st.text(max_size=8), inner, max_size=4),
                       max_leaves=20)
_documents = st.dictionaries(_keys, _values, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_any_document_validates_or_raises_config_error(doc: dict[str, object]) -> None:
    try:
        validate(doc)
    except ConfigError as exc:
        assert exc.problems and all("\n" not in p for p in exc.problems)
        # pydantic's own wording ("Input should be ...") is always translated.
        assert not any("Input should" in p or "Value error" in p for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_config_error(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "breakglass.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.problems


def _leaf_paths(obj: object, loc: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _leaf_paths(v, (*loc, k))] + [loc]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _leaf_paths(v, (*loc, i))] + [loc]
    return [loc]


_STARTER = tomllib.loads(starter_text("full"))
_STARTER_PATHS = [p for p in _leaf_paths(_STARTER) if p]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_STARTER_PATHS), _values)
def test_starter_with_any_value_replaced_loads_or_names_the_problem(
        where: tuple[object, ...], value: object) -> None:
    # Deep in a valid document every field's validator is reached, unlike a random document.
    doc = copy.deepcopy(_STARTER)
    parent: Any = doc
    for part in where[:-1]:
        parent = parent[part]
    parent[where[-1]] = value
    try:
        validate(doc)
    except ConfigError as exc:
        assert all("\n" not in p for p in exc.problems)
        assert not any("Input should" in p or "Value error" in p for p in exc.problems)


DRILL_BASE = """
[project]
name = "acme"
environment = "production"
[backups.main]
store = "file:///var/backups/pg/"
[drills.restore]
backup = "main"
"""


def test_drill_defaults_to_a_monthly_local_drill(tmp_path: Path) -> None:
    drill = load_config(str(write(tmp_path, DRILL_BASE))).drills.restore
    assert drill is not None
    assert (drill.environment, drill.schedule, drill.jobs) == ("local", "0 3 1 * *", None)


@pytest.mark.parametrize(("extra", "key", "words"), [
    ('schedule = "0 3 1 *"', "drills.restore.schedule", "5-field cron"),
    ("jobs = 0", "drills.restore.jobs", "between 1 and 64"),
    ('environment = "server"', "drills.restore", "server"),
    ('environment = "server"\nserver = "postgresql://u:p@h/db"', "drills.restore.server",
     "secret"),
    ('environment = "rds"', "drills.restore", "[drills.restore.rds]"),
    ('environment = "rds"\n[drills.restore.rds]\nsource_instance = "a"\nsnapshot = "b"',
     "drills.restore.rds", "exactly one"),
])
def test_drill_settings_are_checked(tmp_path: Path, extra: str, key: str, words: str) -> None:
    lines = problems_of(tmp_path, DRILL_BASE + extra + "\n")
    assert any(line.startswith(key) and words in line for line in lines), lines


def test_checklist_hosts_must_name_configured_hosts(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[hosts.web1]\naddress = "127.0.0.1"\n'
                           'user = "deploy"\n\n[checklist.hosts]\nhosts = ["web1", "web2"]\n')
    assert problems == ['checklist.hosts.hosts[1]: unknown host "web2" (did you mean "web1"?)']


def test_checklist_app_database_must_name_a_database(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[checklist.data]\napp_database = "app"\n')
    assert problems == ['checklist.data.app_database: unknown database "app" (add '
                        '[databases.app])']


def test_checklist_tables_reject_unknown_keys(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, MINIMAL + '[checklist.web]\nlogin_pth = "/signin"\n')
    assert problems == ['checklist.web.login_pth: unknown key (did you mean "login_path"?)']
