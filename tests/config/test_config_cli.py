"""`breakglass config.check` and `breakglass init` through the real CLI (a subprocess each): a bad
file is exit 2 with one line naming the key and never a traceback; secret values never appear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.result_schema import check_output

VALID = """
[project]
name = "acme"
environment = "production"
"""


def run(*args: str, env: Mapping[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "BREAKGLASS_CONFIG"}
    r = subprocess.run([sys.executable, "-m", "breakglass", *args], capture_output=True,
                       text=True, env={**base, **(env or {})}, cwd=cwd, timeout=60, check=False)
    check_output(args, r.returncode, r.stdout)
    return r


def check(path: Path, *extra: str, env: Mapping[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return run("config.check", "--config", str(path), *extra, env=env)


# (name, file contents, a line of stderr must contain this). VALID is prepended unless the
# contents start with "!" (the file is then exactly the rest).
BROKEN: list[tuple[str, str, str]] = [
    ("int_as_string", '[backups.main]\nstore = "file:///b/"\nretention_days = "thirty"',
     'backups.main.retention_days: expected an integer, got "thirty"'),
    ("string_as_int", '!\n[project]\nname = 5\nenvironment = "p"',
     "project.name: expected a string, got 5"),
    ("string_instead_of_array", '[people.bob]\n[owners]\nbackup_restore = "bob"',
     "owners.backup_restore: expected an array"),
    ("string_instead_of_table", '!people = "alice"\n[project]\nname = "a"\nenvironment = "p"',
     "people: expected a table"),
    ("unknown_section", '[backup.main]\nstore = "file:///b/"',
     'backup: unknown key (did you mean "backups"?)'),
    ("unknown_key_depth_2", '!\n[project]\nnmae = "a"\nname = "a"\nenvironment = "p"',
     'project.nmae: unknown key (did you mean "name"?)'),
    ("unknown_key_depth_3", '[people.alice]\nnotfy = ["env:A"]',
     'people.alice.notfy: unknown key (did you mean "notify"?)'),
    ("unknown_key_in_array_of_tables",
     '[backups.main]\nstore = "file:///b/"\n[drills.restore]\nbackup = "main"\n'
     '[[drills.restore.expect]]\nsqll = "select 1"\nmin = 1',
     'drills.restore.expect[0].sqll: unknown key (did you mean "sql"?)'),
    ("bad_duration", '[backups.main]\nstore = "file:///b/"\nmax_age = "26x"',
     'backups.main.max_age: "26x" is not a duration (use e.g. 90s, 30m, 26h, 7d)'),
    ("duration_as_number", '[backups.main]\nstore = "file:///b/"\n[drills.restore]\n'
     'backup = "main"\nrto = 30', "drills.restore.rto: expected a duration string"),
    ("missing_env_ref", '[databases.main]\ndsn = "env:BG_TEST_SURELY_UNSET"',
     "databases.main.dsn: env var BG_TEST_SURELY_UNSET is not set"),
    ("missing_file_ref", '[hosts.web1]\naddress = "127.0.0.1"\nuser = "deploy"\n'
     'key = "file:/nonexistent/bg/key"', "hosts.web1.key: file /nonexistent/bg/key"),
    ("malformed_env_ref", '[sentry]\ndsn = "env:1X"',
     'sentry.dsn: "env:1X" is not an environment variable name'),
    ("unknown_ref_scheme", '[sentry]\ndsn = "vault:kv/sentry"',
     'sentry.dsn: unknown secret reference scheme "vault:"'),
    ("unknown_person", '[owners]\nbackup_restore = ["carol"]',
     'owners.backup_restore: unknown person "carol" (add [people.carol])'),
    ("unknown_responsibility", '[people.bob]\n[owners]\nbackup_restorer = ["bob"]',
     'owners.backup_restorer: unknown responsibility (did you mean "backup_restore"?)'),
    ("unknown_database", '[databases.main]\ndsn = "env:X"\n[backups.main]\n'
     'store = "file:///b/"\ndatabase = "mian"',
     'backups.main.database: unknown database "mian" (did you mean "main"?)'),
    ("unknown_backup_in_drill", '[drills.restore]\nbackup = "nightly"',
     'drills.restore.backup: unknown backup "nightly" (add [backups.nightly])'),
    ("store_bad_scheme", '[backups.main]\nstore = "ftp://host/pg/"',
     "backups.main.store: expected file:///absolute/path/ or s3://bucket/prefix/"),
    ("store_relative_file", '[backups.main]\nstore = "file://backups/pg/"',
     "backups.main.store: a file:// store needs an absolute path"),
    ("store_s3_without_bucket", '[backups.main]\nstore = "s3:///pg/"',
     "backups.main.store: an s3:// store needs a bucket"),
    ("literal_secret_in_dsn", '[databases.main]\ndsn = "postgresql://app:Lit3ralPw@db/app"',
     "databases.main.dsn: a literal value is not allowed here"),
    ("age_without_keys", '[backups.main]\nstore = "file:///b/"\nencryption = "age"',
     'backups.main: encryption = "age" needs identity'),
    ("unknown_encryption", '[backups.main]\nstore = "file:///b/"\nencryption = "gpg"',
     'backups.main.encryption: expected one of "age", "sse-s3", "sse-kms" or "none", got "gpg"'),
    ("empty_environment", '!\n[project]\nname = "acme"\nenvironment = ""',
     "project.environment: must not be empty"),
    ("port_out_of_range", '[hosts.web1]\naddress = "127.0.0.1"\nuser = "d"\nport = 70000',
     "hosts.web1.port: must be between 1 and 65535, got 70000"),
    ("app_url_not_http", '[app]\nbase_url = "acme.example"',
     "app.base_url: expected an http:// or https:// URL"),
    ("unknown_secret_kind", '[secrets.X]\nkind = "gpg_key"',
     'secrets.X.kind: expected one of "aws_iam_key"'),
    ("expect_min_above_max", '[backups.main]\nstore = "file:///b/"\n[drills.restore]\n'
     'backup = "main"\n[[drills.restore.expect]]\nsql = "select 1"\nmin = 5\nmax = 1',
     "drills.restore.expect[0]: min is greater than max"),
    ("huge_duration", '[backups.main]\nstore = "file:///b/"\nmax_age = "999999999w"',
     'backups.main.max_age: must be between 0s and 3650d, got "999999999w"'),
    ("huge_rto", '[backups.main]\nstore = "file:///b/"\n[drills.restore]\nbackup = "main"\n'
     'rto = "99999999d"', 'drills.restore.rto: must be between 0s and 3650d, got "99999999d"'),
    ("huge_retention", '[backups.main]\nstore = "file:///b/"\nretention_days = 99999999999',
     "backups.main.retention_days: must be between 1 and 3650, got 99999999999"),
    ("zero_timeout", '[checklist.web]\ntimeout = "0s"',
     'checklist.web.timeout: must be between 1s and 1d, got "0s"'),
    ("missing_ca_bundle", '[checklist.web]\nca_bundle = "/nonexistent/bg/ca.pem"',
     "checklist.web.ca_bundle: /nonexistent/bg/ca.pem is not a file"),
    ("empty_file", "!", "project: required key is missing"),
    ("invalid_toml", '!\n[project]\nname = "acme\nenvironment = "p"',
     "invalid TOML: "),
    ("not_utf8", "!BINARY", "not UTF-8 text"),
]


def materialise(tmp_path: Path, contents: str) -> Path:
    path = tmp_path / "breakglass.toml"
    if contents == "!BINARY":
        path.write_bytes(b'[project]\nname = "\xff\xfe"\n')
    elif contents.startswith("!"):
        path.write_text(contents[1:].lstrip("\n") + "\n")
    else:
        path.write_text(textwrap.dedent(VALID) + contents + "\n")
    return path


def assert_usage_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert any(expected in line for line in result.stderr.splitlines()), result.stderr


@pytest.mark.parametrize(("contents", "expected"), [(c, e) for _, c, e in BROKEN],
                         ids=[name for name, _, _ in BROKEN])
def test_broken_config_is_exit_2_with_a_line_naming_the_key(tmp_path: Path, contents: str,
                                                            expected: str) -> None:
    assert_usage_error(check(materialise(tmp_path, contents)), expected)


def test_literal_secret_is_not_echoed(tmp_path: Path) -> None:
    result = check(materialise(tmp_path, '[databases.main]\ndsn = "postgresql://a:Lit3ralPw@d/b"'))
    assert "Lit3ralPw" not in result.stdout + result.stderr


# -- the process boundary: files that are not files, values that are not references --------------

def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(("make", "expected"), [
    (fifo, "is not a regular file (a FIFO, socket or device)"),
    (lambda p: Path("/dev/zero"), "is not a regular file (a FIFO, socket or device)"),
    (lambda p: (p.mkdir(), p)[1], "is a directory, not a file"),
    (lambda p: (p.write_text(VALID + "#" * (2 << 20)), p)[1], "is larger than 1024 KiB"),
])
def test_a_config_that_is_not_a_regular_file_is_exit_2_at_once(
        tmp_path: Path, make: Any, expected: str) -> None:
    # run()'s timeout guards against the hang (a FIFO nobody writes) this test is about.
    assert_usage_error(check(make(tmp_path / "breakglass.toml")), expected)


@pytest.mark.parametrize(("make", "expected"), [
    (fifo, "is not a regular file"),
    (lambda p: Path("/dev/zero"), "is not a regular file"),
    (lambda p: (p.write_bytes(b"k" * (2 << 20)), p)[1], "is larger than 1024 KiB"),
])
def test_a_secret_file_that_is_not_a_regular_file_is_exit_2_at_once(
        tmp_path: Path, make: Any, expected: str) -> None:
    secret = make(tmp_path / "dsn")
    path = materialise(tmp_path, f'[databases.main]\ndsn = "file:{secret}"')
    result = check(path)
    assert_usage_error(result, f"databases.main.dsn: file {secret} (from file:{secret}) "
                               f"{expected}")


@pytest.mark.parametrize("state_dir", ["a-file", "a-file/below"])
def test_a_state_dir_that_is_not_a_folder_is_exit_2(tmp_path: Path, state_dir: str) -> None:
    (tmp_path / "a-file").write_text("x")
    path = tmp_path / "breakglass.toml"
    path.write_text(f'[project]\nname = "a"\nenvironment = "p"\nstate_dir = "{state_dir}"\n')
    assert_usage_error(check(path), f"project.state_dir: {tmp_path / 'a-file'} exists and is "
                                    "not a folder")


def test_prune_with_a_huge_retention_is_exit_2_naming_the_key(tmp_path: Path) -> None:
    path = materialise(tmp_path, '[databases.main]\ndsn = "env:BG_UNSET"\n[backups.main]\n'
                                 'store = "file:///b/"\ndatabase = "main"\n'
                                 "retention_days = 1000000000")
    result = run("backup.take", "--prune", "--dry-run", "--config", str(path))
    assert_usage_error(result, "backups.main.retention_days: must be between 1 and 3650")


CANARY = "Cx7canaryPw9"
GLUED = [f"env:postgresql://app:{CANARY}@db/prod", f"file:postgresql://app:{CANARY}@db/prod",
         f"aws-sm:postgresql://app:{CANARY}@db/prod", f"ssm:postgresql://app:{CANARY}@db/prod",
         f"file:host=db password={CANARY}", f"env:{CANARY}!x"]


@pytest.mark.parametrize("value", GLUED)
@pytest.mark.parametrize("command", [["config.check"], ["backup.take", "--yes"],
                                     ["drill.restore", "--yes"]])
def test_a_secret_glued_to_a_reference_prefix_is_refused_without_echo(
        tmp_path: Path, value: str, command: list[str]) -> None:
    path = materialise(tmp_path, f'state_dir = "state"\n[databases.main]\ndsn = "{value}"\n'
                                 '[backups.main]\nstore = "file:///nonexistent/b/"\n'
                                 'database = "main"\n[drills.restore]\nbackup = "main"')
    result = run(*command, "--config", str(path))
    assert_usage_error(result, "databases.main.dsn: this looks like a secret value, not a "
                               "reference")
    assert CANARY not in result.stdout + result.stderr
    state = tmp_path / "state"
    for file in state.rglob("*") if state.exists() else []:
        assert not file.is_file() or CANARY.encode() not in file.read_bytes(), file


@pytest.mark.parametrize("value", [f"env:json://u:{CANARY}@hooks.example/x",
                                   f"file:json://u:{CANARY}@hooks.example/x"])
def test_a_notify_url_glued_to_a_reference_prefix_is_refused_without_echo(
        tmp_path: Path, value: str) -> None:
    result = check(materialise(tmp_path, f'[people.bob]\nnotify = ["{value}"]'))
    assert_usage_error(result, "people.bob.notify[0]: this looks like a secret value")
    assert CANARY not in result.stdout + result.stderr


def test_invalid_toml_names_line_and_column(tmp_path: Path) -> None:
    result = check(materialise(tmp_path, '!\n[project]\nname = "acme\nenvironment = "p"'))
    assert "line 2" in result.stderr and "column" in result.stderr


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    result = check(materialise(tmp_path, '[backups.main]\nstore = "file:///b/"\n'
                               'max_age = "26x"\nretention_days = "thirty"\n'
                               '[owners]\nbackup_restore = ["carol"]'))
    assert "backups.main.max_age:" in result.stderr
    assert "backups.main.retention_days:" in result.stderr
    assert "owners.backup_restore:" in result.stderr


def test_unreadable_config_is_exit_2(tmp_path: Path) -> None:
    # A directory cannot be read as a file even by root (chmod 000 does not stop root).
    (tmp_path / "dir.toml").mkdir()
    assert_usage_error(check(tmp_path / "dir.toml"), "it is a directory")


def test_missing_config_says_where_it_looked_and_to_run_init(tmp_path: Path) -> None:
    result = run("config.check", cwd=tmp_path)
    assert_usage_error(result, "no configuration file")
    assert str(tmp_path / "breakglass.toml") in result.stderr
    assert "breakglass init" in result.stderr


def test_env_var_naming_a_missing_file_is_reported_as_such(tmp_path: Path) -> None:
    result = run("config.check", cwd=tmp_path,
                 env={"BREAKGLASS_CONFIG": str(tmp_path / "elsewhere.toml")})
    assert_usage_error(result, "$BREAKGLASS_CONFIG")


def test_env_var_locates_the_config(tmp_path: Path) -> None:
    path = materialise(tmp_path, "")
    result = run("config.check", cwd=Path("/"), env={"BREAKGLASS_CONFIG": str(path)})
    assert result.returncode == 0, result.stderr


# -- a good config ----------------------------------------------------------------------------

CANARY_DSN = "postgresql://app:canary-Pw-7f3a9c@127.0.0.1:5432/app"
CANARY_FILE = "canary-file-secret-b41e"
CANARY_SM = "canary-sm-secret-91dd"

GOOD = """
[project]
name = "acme"
environment = "production"
[owners]
backup_restore = ["bob"]
[people.bob]
notify = ["json://127.0.0.1:9/hook", "env:BOB_URL"]
[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
[databases.main]
dsn = "env:BG_CANARY_DSN"
[hosts.web1]
address = "127.0.0.1"
user = "deploy"
key = "file:key"
[backups.main]
store = "file:///var/backups/pg/"
database = "main"
encryption = "age"
identity = "aws-sm:bg/age#identity"
"""


@pytest.fixture
def good_config(tmp_path: Path, aws: Any) -> tuple[Path, dict[str, str]]:
    aws.client("secretsmanager").create_secret(
        Name="bg/age", SecretString=json.dumps({"identity": CANARY_SM}))
    (tmp_path / "key").write_text(CANARY_FILE + "\n")
    path = tmp_path / "breakglass.toml"
    path.write_text(GOOD.format(endpoint=aws.endpoint_url))
    env = {**aws.env(), "BG_CANARY_DSN": CANARY_DSN, "BOB_URL": "json://127.0.0.1:9/bob"}
    return path, env


def test_good_config_is_exit_0_with_secrets_masked(good_config: tuple[Path, dict[str, str]]
                                                   ) -> None:
    path, env = good_config
    result = check(path, env=env)
    assert result.returncode == 0, result.stderr
    assert f"env:BG_CANARY_DSN (set, {len(CANARY_DSN)} chars)" in result.stdout
    assert "aws-sm:bg/age#identity (set" in result.stdout


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_resolved_values_never_reach_the_output(good_config: tuple[Path, dict[str, str]],
                                                fmt: str) -> None:
    path, env = good_config
    result = check(path, *(["--json"] if fmt == "json" else []), env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for canary in (CANARY_DSN, "canary-Pw-7f3a9c", CANARY_FILE, CANARY_SM, "/hook", "/bob"):
        assert canary not in out


def test_json_output_carries_the_same_facts(good_config: tuple[Path, dict[str, str]]) -> None:
    path, env = good_config
    doc = json.loads(check(path, "--json", env=env).stdout)
    assert doc["valid"] is True and doc["config"] == str(path)
    assert doc["settings"]["backups.main.max_age"] == "26h"
    assert {s["key"] for s in doc["secrets"]} == {
        "people.bob.notify[1]", "databases.main.dsn", "hosts.web1.key", "backups.main.identity"}
    assert all(s["status"] == "set" for s in doc["secrets"])


def test_missing_aws_secret_is_exit_2_naming_the_key(good_config: tuple[Path, dict[str, str]],
                                                     aws: Any) -> None:
    path, env = good_config
    aws.reset()
    assert_usage_error(check(path, env=env), "backups.main.identity: aws-sm:bg/age")


def test_unreachable_aws_is_exit_3(good_config: tuple[Path, dict[str, str]],
                                   http_sink: Any) -> None:
    path, env = good_config
    path.write_text(path.read_text().replace(env["AWS_ENDPOINT_URL"],
                                             http_sink.down_url.rstrip("/")))
    result = check(path, env=env)
    assert result.returncode == 3, result.stderr
    assert "backups.main.identity:" in result.stderr and "Traceback" not in result.stderr


# -- init ---------------------------------------------------------------------------------------

def test_the_default_backups_starter_passes_config_check_once_its_two_references_are_set(
        tmp_path: Path) -> None:
    import pyrage

    assert run("init", cwd=tmp_path).returncode == 0
    assert "profile backups" in (tmp_path / "breakglass.toml").read_text().splitlines()[0]
    unset = run("config.check", cwd=tmp_path, env={"DATABASE_URL": "", "BACKUP_AGE_IDENTITY": ""})
    assert unset.returncode == 2
    env = {"DATABASE_URL": "postgresql://app:pw@127.0.0.1:5432/app",
           "BACKUP_AGE_IDENTITY": str(pyrage.x25519.Identity.generate())}
    result = run("config.check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("profile", ["incident", "full"])
def test_each_starter_passes_config_check_once_its_references_are_set(
        tmp_path: Path, profile: str) -> None:
    assert run("init", "--profile", profile, cwd=tmp_path).returncode == 0
    (tmp_path / "key").write_text("ssh-key-material\n")
    text = (tmp_path / "breakglass.toml").read_text().replace("file:~/.ssh/id_ed25519", "file:key")
    (tmp_path / "breakglass.toml").write_text(text)
    env = {name: f"value-of-{name}" for name in
           ("ALICE_NOTIFY_URL", "BOB_NOTIFY_URL", "DATABASE_URL", "BACKUP_AGE_IDENTITY")}
    result = run("config.check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


def test_init_names_the_profiles_when_given_an_unknown_one(tmp_path: Path) -> None:
    assert_usage_error(run("init", "--profile", "backup", cwd=tmp_path),
                       "expected one of backups, incident, full")
    assert not (tmp_path / "breakglass.toml").exists()


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "breakglass.toml").write_text("# mine\n")
    assert_usage_error(run("init", cwd=tmp_path), "already exists; use --force")
    assert (tmp_path / "breakglass.toml").read_text() == "# mine\n"


def test_init_force_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "custom.toml"
    target.write_text("# mine\n")
    assert run("init", "--path", str(target), "--force").returncode == 0
    assert "[project]" in target.read_text()


# -- property: no traceback, whatever the file ---------------------------------------------------

_fragments = st.sampled_from([
    "[project]", 'name = "acme"', 'environment = "p"', "environment = 3", "[backups.main]",
    'store = "file:///b/"', 'store = "s3://"', 'max_age = "26x"', "max_age = 1",
    "retention_days = -1", "[owners]", 'backup_restore = ["x"]', "[people.x]", "notify = [1]",
    "[[drills.restore.expect]]", "min = 1.5", "[databases.main]", 'dsn = "env:"', "x = {a = 1}",
    "[aws]", 'endpoint_url = "ftp://x"', "[secrets.S]", 'grace = "1w"', "= 1", "[[project]]",
    'path = "/"', "key = 1979-05-27T07:32:00Z", "[app]", 'base_url = "http://"',
])
_lines = st.lists(_fragments | st.text(max_size=20), max_size=12)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_lines)
def test_cli_never_prints_a_traceback(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "breakglass.toml"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    result = check(path)
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_config_check_reports_a_secret_that_cannot_be_rotated_yet(tmp_path: Path) -> None:
    """A secret declared by its kind alone loads (the contract's example does that), but
    config.check names what `rotate` will need, so it is found before an incident."""
    path = tmp_path / "breakglass.toml"
    path.write_text('[project]\nname = "acme"\nenvironment = "production"\n\n'
                    '[secrets.STRIPE_WEBHOOK_SECRET]\nkind = "stripe_webhook"\n')
    r = subprocess.run([sys.executable, "-m", "breakglass", "config.check", "--config",
                        str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "secrets.STRIPE_WEBHOOK_SECRET: endpoint_id is required" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("argv", [["lockout", "--help"], ["rotate", "NAME", "-h"],
                                  ["attest", "--help"], ["--help", "unlock"]])
def test_help_after_a_task_with_a_positional_argument_shows_help(tmp_path: Path,
                                                                  argv: list[str]) -> None:
    # invoke would hand "--help" to the task's USER/NAME/ITEM argument and run the task.
    r = run(*argv, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    task = next(a for a in argv if not a.startswith("-"))
    assert r.stdout.startswith(f"Usage: breakglass [--core-opts] {task} ")
    assert "no configuration file" not in r.stderr
