"""`breakglass init --profile NAME`: write one of the commented starter files shipped as package
data (breakglass/config/starters/NAME.toml). tests/config/test_config.py proves each loads with
load_config; tests/config/test_config_cli.py proves each passes config.check once its references are
set."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from breakglass.errors import UsageError

#: profile -> what it is for (shown by `breakglass --help init`)
PROFILES = {
    "backups": "backups of one PostgreSQL database, verified and restore-drilled (two references)",
    "incident": "lockout, rollback and notices: owners, the app, an SSH host",
    "full": "every section, commented: backups, drills, hosts, app, secrets, checklist",
}
DEFAULT_PROFILE = "backups"


def starter_text(profile: str = DEFAULT_PROFILE) -> str:
    if profile not in PROFILES:
        raise UsageError(f"--profile {profile!r}: expected one of {', '.join(PROFILES)}")
    return (resources.files("breakglass.config").joinpath("starters", f"{profile}.toml")
            .read_text(encoding="utf-8"))


def write_starter(path: str | os.PathLike[str], force: bool = False,
                  profile: str = DEFAULT_PROFILE) -> Path:
    """Write the starter to `path`; refuses to replace an existing file unless `force`."""
    text = starter_text(profile)
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"{target} is a directory; give a file path, e.g. "
                         f"--path {target / 'breakglass.toml'}")
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: folder {target.parent} does not exist")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
