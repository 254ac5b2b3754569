"""Build a CheckContext from a breakglass.toml text, for tests that call a check function
directly (the CLI tests go through `breakglass check`)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from breakglass.checklist.model import CheckContext, CheckResult
from breakglass.config import validate
from breakglass.engine.redaction import Redactor
from breakglass.secrets import Secrets


def make_ctx(root: Path, toml_text: str, env: Mapping[str, str] | None = None) -> CheckContext:
    """`toml_text` is the config file's body below a [project] table this adds (name "t",
    environment "production", state_dir "state"). `env` is what env: references read."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "breakglass.toml"
    text = '[project]\nname = "t"\nenvironment = "production"\nstate_dir = "state"\n\n' + toml_text
    path.write_text(text)
    config = validate(tomllib.loads(text), path)
    redactor = Redactor()
    return CheckContext(config=config, secrets=Secrets(config, redactor, environ=dict(env or {})),
                        state_dir=root / "state", redactor=redactor)


def run(ctx: CheckContext, item_id: str) -> CheckResult:
    """Run one registered check (imports every check module first)."""
    from breakglass.checklist.checks import load

    return load()[item_id](ctx)


def codes(result: CheckResult) -> list[str]:
    return [f.code for f in result.findings]
