"""Types shared by the config models (models.py, checklist.py, scenarios.py): the strict frozen
Section, secret references, non-empty strings, paths relative to the config file, http URLs."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo
from pydantic_core import PydanticCustomError

from breakglass.secrets import ref_problem


def _secret_ref(value: str) -> str:
    problem = ref_problem(value)
    if problem:
        raise PydanticCustomError("secret_ref", problem)
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty", "must not be empty")
    return value


def _to_path(value: Any, info: ValidationInfo) -> Any:
    """A path in the file: `~` expanded, relative paths resolved against the config file's
    folder (given by the loader as context["base_dir"]) so that the same file works from any
    working directory."""
    if not isinstance(value, str | Path):
        # The loader appends ", got <value>" to *_type errors.
        raise PydanticCustomError("path_type", "expected a path string")
    path = Path(value).expanduser()
    if not path.is_absolute():
        base = (info.context or {}).get("base_dir") or Path.cwd()
        path = Path(base) / path
    return path


def _a_file(value: Path) -> Path:
    # Checked at load (config.check), not when the first user of the file runs: a missing CA
    # bundle would otherwise turn every web check into an error that does not name the path.
    if not value.is_file():
        raise PydanticCustomError("file", f"{value} is not a file (missing or not readable)")
    return value


#: a string that must be a secret reference (env:, file:, aws-sm:, ssm:), never a value
SecretRef = Annotated[str, AfterValidator(_secret_ref)]
NonEmpty = Annotated[str, AfterValidator(_non_empty)]
ConfigPath = Annotated[Path, BeforeValidator(_to_path)]
#: a ConfigPath that must name an existing file
ExistingFile = Annotated[Path, BeforeValidator(_to_path), AfterValidator(_a_file)]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def http_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise PydanticCustomError("url", "expected an http:// or https:// URL")
    return value
