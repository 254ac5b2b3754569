"""Every `--json` / `--format json` a test reads is checked against breakglass.result/1, the JSON
Schema shipped in the package (breakglass/schema/result-v1.json): the run helpers of the test
projects call `check_output` on what each command printed, so every task's JSON the suite sees is
validated, in the setups that already run it (backup.take, drill.restore, rotate, lockout…)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator

from breakglass.engine.results import SCHEMA, json_schema

Draft202012Validator.check_schema(json_schema())
_VALIDATOR = Draft202012Validator(json_schema())


def wants_json(args: Sequence[str]) -> bool:
    args = list(args)
    if "--json" in args or "--format=json" in args:
        return True
    return any(a == "--format" and args[i + 1:i + 2] == ["json"] for i, a in enumerate(args))


def validate(stdout: str) -> dict[str, Any]:
    """The document, once it is a valid breakglass.result/1 (else an AssertionError naming every
    violation and where it is)."""
    doc = json.loads(stdout)
    errors = sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "not breakglass.result/1:\n" + "\n".join(
        f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:20])
    assert doc["schema"] == SCHEMA
    return dict(doc)


def check_output(args: Sequence[str], returncode: int, stdout: str) -> None:
    """Validate a command's stdout when it asked for JSON and had a result to print (exit 2 is
    a usage error on stderr, with nothing on stdout)."""
    if wants_json(args) and returncode in (0, 1, 3) and stdout.strip():
        validate(stdout)
