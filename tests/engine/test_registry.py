"""The runbook registry (breakglass/engine/registry.py): `runs.resume` rebuilds a run's runbook
from the name in its journal, so every built-in name must load the runbook of that name."""

from __future__ import annotations

import pytest

from breakglass.engine import registry
from breakglass.errors import UsageError


@pytest.mark.parametrize("name", sorted(registry.builtin()))
def test_every_built_in_name_loads_the_runbook_of_that_name(name: str) -> None:
    assert registry.get(name).name == name


def test_an_unknown_runbook_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown runbook 'rotat'; known: .*rotate"):
        registry.get("rotat")
