"""runbooks/rotate/dotenv_format.py: the KEY=value rewrite (pure, exhaustively, with hypothesis
and against real loaders: python-dotenv and sh), Django's SECRET_KEY_FALLBACKS, and the store
layer's SSH apply (stores/dotenv_hosts.py) on a real host whose service reads the file."""

from __future__ import annotations

import io
import stat
import subprocess
from collections.abc import Iterator

import dotenv
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rotate.consumers import Consumer, HealthPolicy, restart_and_check
from breakglass.runbooks.rotate.dotenv_format import (
    format_value,
    parse_line,
    read_value,
    rotate_django_secret_key,
    set_value,
    split_lines,
)
from breakglass.runbooks.rotate.stores import value_digest
from breakglass.runbooks.rotate.stores.dotenv_hosts import apply, restore_commands
from tests.rotate.hosts import ssh_host
from tests.rotate.service import Service, digest, install_service
from tests.servers.sshd import SshdServer

# -- the pure rewrite -----------------------------------------------------------------------


@pytest.mark.parametrize(("line", "key", "value"), [
    ("KEY=abc\n", "KEY", "abc"),
    ("export KEY=abc\n", "KEY", "abc"),
    ("  KEY = abc  \n", "KEY", "abc"),
    ("KEY='a b # c'\n", "KEY", "a b # c"),
    ('KEY="a \\"b\\" \\\\c"\n', "KEY", 'a "b" \\c'),
    ("KEY=abc # a note\n", "KEY", "abc"),
    ("KEY=abc#not-a-note\n", "KEY", "abc#not-a-note"),
    ("KEY=\n", "KEY", ""),
    ("KEY=abc\r\n", "KEY", "abc"),
])
def test_parse_line_reads_each_style(line: str, key: str, value: str) -> None:
    a = parse_line(line)
    assert a is not None and (a.key, a.value) == (key, value)


@pytest.mark.parametrize("line", ["# KEY=abc\n", "\n", "not an assignment\n", "KEY='open\n",
                                  '=value\n'])
def test_comments_blanks_and_unparseable_lines_are_not_assignments(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(("before", "after"), [
    ("KEY=old\n", "KEY=new-value\n"),
    ("export KEY=old\n", "export KEY=new-value\n"),
    ("KEY = 'old'\n", "KEY = 'new-value'\n"),
    ('KEY="old"  # rotated monthly\n', 'KEY="new-value"  # rotated monthly\n'),
    ("KEY=old # note\r\n", "KEY=new-value # note\r\n"),
    ("KEY=old", "KEY=new-value"),
])
def test_set_value_keeps_the_line_style(before: str, after: str) -> None:
    assert set_value(before, "KEY", "new-value") == after


def test_set_value_keeps_every_other_line_and_their_order() -> None:
    text = "# header\n\nA=1\nKEY=old\n  # indented comment\nB='two words'\n"
    assert set_value(text, "KEY", "new") == text.replace("KEY=old", "KEY=new")


def test_set_value_appends_a_missing_key() -> None:
    assert set_value("A=1\n", "KEY", "v") == "A=1\nKEY=v\n"
    assert set_value("A=1", "KEY", "v") == "A=1\nKEY=v\n"
    assert set_value("A=1\r\n", "KEY", "v") == "A=1\r\nKEY=v\r\n"
    assert set_value("", "KEY", "v") == "KEY=v\n"


def test_set_value_rewrites_every_assignment_of_the_key() -> None:
    assert set_value("KEY=a\nB=1\nKEY=b\n", "KEY", "c") == "KEY=c\nB=1\nKEY=c\n"


def test_a_key_that_is_a_prefix_of_another_is_not_confused() -> None:
    assert set_value("KEY_OLD=1\nKEY=2\n", "KEY", "3") == "KEY_OLD=1\nKEY=3\n"


@pytest.mark.parametrize(("value", "written"), [
    ("plain-Value_1.2:3/4+5=6@7%8,9", "plain-Value_1.2:3/4+5=6@7%8,9"),
    ("has space", "'has space'"),
    ("has#hash", "'has#hash'"),
    ("dollar$HOME", "'dollar$HOME'"),
    ("it's", '"it\'s"'),
    ("back\\slash", '"back\\\\slash"'),
    ("", ""),
])
def test_format_value_quotes_only_what_needs_it(value: str, written: str) -> None:
    assert format_value(value) == written


@pytest.mark.parametrize("value", ["two\nlines", "cr\r", "${HOME}", "it's $5", "a\\b`c`"])
def test_a_value_no_quoting_can_carry_is_refused(value: str) -> None:
    with pytest.raises(UsageError):
        format_value(value)


def test_an_unwritable_value_is_refused_before_any_line_changes() -> None:
    with pytest.raises(UsageError):
        set_value("KEY=old\n", "KEY", "bad\nvalue")


# Values from everything printable (Django's key alphabet included); lines of every kind.
VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"),
                 max_size=40).filter(lambda v: "${" not in v)
KEYS = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)
OTHER_LINES = st.one_of(
    st.just("\n"), st.just("# a comment KEY=x\n"), st.just("   \n"),
    st.builds(lambda k, v: f"{k}={v}\n", KEYS, st.from_regex(r"[a-z0-9]{0,6}", fullmatch=True)),
    st.builds(lambda k, v: f"export {k}='{v}'\r\n", KEYS,
              st.from_regex(r"[a-z ]{0,6}", fullmatch=True)),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(
        lambda t: t + "\n"),
)


def _writable(value: str) -> bool:
    try:
        format_value(value)
    except UsageError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.lists(OTHER_LINES, max_size=12), KEYS, VALUES)
def test_a_rewrite_never_changes_any_other_line(lines: list[str], key: str, value: str) -> None:
    if not _writable(value):
        return
    text = "".join(lines)
    out = set_value(text, key, value)

    def others(t: str) -> list[str]:
        return [line for line in split_lines(t)
                if (a := parse_line(line)) is None or a.key != key]

    assert others(out) == others(text)
    assert read_value(out, key) == value


@settings(max_examples=300, deadline=None)
@given(KEYS, VALUES, st.sampled_from(["KEY=old\n", "KEY='old'\n", 'KEY="old"\n', "",
                                      "export KEY=old # note\n"]))
@example("K", "$(rm -rf /)", "K='x'\n")
@example("K", "a'b\\c", 'K="x"\n')
def test_python_dotenv_reads_back_exactly_the_value_written(key: str, value: str,
                                                            before: str) -> None:
    if not _writable(value):
        return
    text = set_value(before.replace("KEY", key), key, value)
    assert dotenv.dotenv_values(stream=io.StringIO(text), interpolate=True)[key] == value


@pytest.mark.parametrize("value", [
    "plain", "two words", "django-insecure-!@#$%^&*(-_=+)abc", "it's", "a\\b", "x # y",
    '"quoted"', "$(touch /tmp/pwned)", "`id`", "semi;colon|pipe&amp",
])
@pytest.mark.parametrize("before", ["KEY=old\n", "KEY='old'\n", 'KEY="old"\n'])
def test_a_posix_shell_sourcing_the_file_reads_back_exactly_the_value(
        value: str, before: str, tmp_path: pytest.TempPathFactory) -> None:
    env = tmp_path / "env"  # type: ignore[operator]
    env.write_text(set_value(before, "KEY", value))
    out = subprocess.run(["sh", "-c", '. "$1"; printf %s "$KEY"', "sh", str(env)],
                         capture_output=True, text=True, check=True)
    assert out.stdout == value


# -- Django SECRET_KEY ----------------------------------------------------------------------


def test_django_rotation_moves_the_old_key_to_the_fallbacks() -> None:
    text = "DEBUG=0\nSECRET_KEY='old-key'\n"
    out = rotate_django_secret_key(text, "new-key", leaked=False)
    assert read_value(out, "SECRET_KEY") == "new-key"
    assert read_value(out, "SECRET_KEY_FALLBACKS") == "old-key"
    assert out.startswith("DEBUG=0\nSECRET_KEY='new-key'\n")


def test_django_rotation_keeps_only_the_previous_key() -> None:
    text = "SECRET_KEY=k2\nSECRET_KEY_FALLBACKS=k1\n"
    out = rotate_django_secret_key(text, "k3", leaked=False)
    assert read_value(out, "SECRET_KEY_FALLBACKS") == "k2"


def test_leaked_django_rotation_clears_the_fallbacks() -> None:
    text = "SECRET_KEY=k2\nSECRET_KEY_FALLBACKS=k1\n"
    out = rotate_django_secret_key(text, "k3", leaked=True)
    assert read_value(out, "SECRET_KEY_FALLBACKS") == ""
    assert "k2" not in out and "k1" not in out


def test_django_rotation_applied_twice_keeps_the_key_before_as_fallback() -> None:
    once = rotate_django_secret_key("SECRET_KEY=k1\n", "k2", leaked=False)
    assert rotate_django_secret_key(once, "k2", leaked=False) == once


def test_django_fallbacks_written_as_a_json_list_stay_a_json_list() -> None:
    text = "SECRET_KEY=k1\nSECRET_KEY_FALLBACKS='[\"k0\"]'\n"
    out = rotate_django_secret_key(text, "k2", leaked=False)
    assert read_value(out, "SECRET_KEY_FALLBACKS") == '["k1"]'


def test_a_django_key_with_its_full_alphabet_round_trips_through_dotenv() -> None:
    old = "django-insecure-a!@#$%^&*(-_=+)z"
    out = rotate_django_secret_key(f"SECRET_KEY='{old}'\n", "n!@#$%^&*(-_=+)ew-key-0123",
                                   leaked=False)
    values = dotenv.dotenv_values(stream=io.StringIO(out))
    assert values["SECRET_KEY_FALLBACKS"] is not None
    assert values["SECRET_KEY_FALLBACKS"].split(",") == [old]


def test_a_comma_in_a_key_cannot_go_in_a_comma_separated_fallback_list() -> None:
    with pytest.raises(UsageError, match="JSON list"):
        rotate_django_secret_key("SECRET_KEY='a,b'\n", "new", leaked=False)


# -- over SSH, with the service that reads the file -----------------------------------------

ENV = "# app\nDEBUG=false\nSECRET_KEY='old-secret-0123456789'\nOTHER=kept # note\n"
QUICK = HealthPolicy(attempts=6, deadline=6.0, request_timeout=2.0, max_wait=0.5)


@pytest.fixture
def service(sshd_server: SshdServer) -> Iterator[Service]:
    svc = install_service(sshd_server, ENV)
    yield svc
    svc.stop()


def test_apply_rewrites_the_line_keeps_the_mode_and_leaves_a_0600_backup(
        service: Service) -> None:
    with ssh_host(service.server).connect() as conn:
        change = apply(conn, str(service.env_file), "SECRET_KEY", "new secret 0123456789",
                       run_id="run7")
    assert change.changed and change.digest == value_digest("new secret 0123456789")
    assert service.env_file.read_text() == ENV.replace("old-secret-0123456789",
                                                       "new secret 0123456789")
    assert stat.S_IMODE(service.env_file.stat().st_mode) == 0o640
    assert change.backup_path is not None
    backup = service.home / ".env.breakglass-run7.bak"
    assert backup.read_text() == ENV and stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert "new secret" not in str(change.to_dict())


def test_apply_of_a_value_already_in_place_changes_nothing(service: Service) -> None:
    with ssh_host(service.server).connect() as conn:
        change = apply(conn, str(service.env_file), "SECRET_KEY", "old-secret-0123456789",
                       run_id="run8")
    assert not change.changed and change.backup_path is None
    assert not (service.home / ".env.breakglass-run8.bak").exists()


def test_apply_to_a_missing_env_file_could_not_verify(service: Service) -> None:
    with ssh_host(service.server).connect() as conn, pytest.raises(CouldNotVerify) as info:
        apply(conn, str(service.home / "nope.env"), "SECRET_KEY", "v-0123456789", run_id="r")
    assert info.value.code == "ENV_FILE_MISSING"


def test_the_restarted_service_runs_with_the_new_value(service: Service) -> None:
    host = ssh_host(service.server, restart=service.restart_template,
                    health_url=service.health_url)
    with host.connect() as conn:
        apply(conn, str(service.env_file), "SECRET_KEY", "rotated-0123456789", run_id="r9",
              django=True)
    (result,) = restart_and_check([Consumer("web1", "app")], {"web1": host}, policy=QUICK)
    assert result.ok, result
    assert service.loaded_key_digest() == digest("rotated-0123456789")
    assert read_value(service.env_file.read_text(), "SECRET_KEY_FALLBACKS") == \
        "old-secret-0123456789"


def test_restore_commands_put_the_backup_back_with_the_live_files_mode(
        service: Service) -> None:
    with ssh_host(service.server).connect() as conn:
        change = apply(conn, str(service.env_file), "SECRET_KEY", "broken-0123456789",
                       run_id="r10")
        for line in restore_commands(change.path, change.backup_path):
            assert conn.run(line).ok
    assert service.env_file.read_text() == ENV
    assert stat.S_IMODE(service.env_file.stat().st_mode) == 0o640
