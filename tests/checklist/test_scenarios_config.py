"""[drills.scenarios]: secrets only as references, paths that can be requested, one error per
problem naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakglass.errors import ConfigError
from tests.checklist.context import make_ctx

BASE = '[drills.scenarios]\nbase_url = "https://staging.acme.test"\n'


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        make_ctx(tmp_path, BASE + text)
    return "\n".join(err.value.problems)


def test_a_minimal_table_loads_with_bounded_defaults(tmp_path: Path) -> None:
    cfg = make_ctx(tmp_path, BASE).config.drills.scenarios
    assert cfg is not None
    assert (cfg.max_requests, cfg.max_total_requests, cfg.deadline.total_seconds()) == \
        (30, 150, 120)
    assert cfg.brute_force is None and cfg.user is None


def test_a_literal_password_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, '[drills.scenarios.user]\nusername = "a"\npassword = "hunter2"\n')
    assert "drills.scenarios.user.password" in text
    assert "hunter2" not in text


def test_a_reset_path_without_its_token_placeholder_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, '[drills.scenarios.reset_expired]\npath = "/reset/"\n'
                              'token = "env:T"\n')
    assert "drills.scenarios.reset_expired.path" in text and "{token}" in text


def test_a_path_must_start_with_a_slash(tmp_path: Path) -> None:
    text = problems(tmp_path, '[drills.scenarios.private_file]\npaths = ["media/x.pdf"]\n')
    assert "drills.scenarios.private_file.paths" in text


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, '[drills.scenarios.brute_force]\nattempt = 5\n')
    assert "drills.scenarios.brute_force.attempt" in text
