"""`breakglass init`: write the commented starter file shipped as package data
(breakglass/starter.toml). tests/unit/test_config.py proves the starter loads with load_config."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from breakglass.errors import UsageError


def starter_text() -> str:
    return resources.files("breakglass").joinpath("starter.toml").read_text(encoding="utf-8")


def write_starter(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Write the starter to `path`; refuses to replace an existing file unless `force`."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"{target} is a directory; give a file path, e.g. "
                         f"--path {target / 'breakglass.toml'}")
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: folder {target.parent} does not exist")
    try:
        target.write_text(starter_text(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
