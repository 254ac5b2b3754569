"""Real `Config` objects for tests that call a runbook or a helper directly (no CLI, no file):
built from the same dict a breakglass.toml parses to and validated by the loader, so a test
can never hand production code a shape the file could not produce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breakglass.config import AppConfig, Config, validate


def make_config(base_dir: Path | None = None, **sections: Any) -> Config:
    """A Config of `sections` (TOML-shaped values: strings for durations, lists, tables) under
    a minimal [project]; relative paths resolve against `base_dir` (default: the cwd)."""
    doc = {"project": {"name": "acme", "environment": "test"}, **sections}
    return validate(doc, base_dir / "breakglass.toml" if base_dir else None)


def make_app(base_url: str, health_path: str = "/healthz") -> AppConfig:
    """[app] alone, for helpers that take only it."""
    app = make_config(app={"base_url": base_url, "health_path": health_path}).app
    assert app is not None
    return app
