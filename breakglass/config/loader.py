"""Finding, reading and validating breakglass.toml.

The file is found at: the explicit path (--config) -> $BREAKGLASS_CONFIG -> ./breakglass.toml.
Anything wrong with it is a ConfigError holding one line per problem (exit 2); nothing else
escapes load_config, whatever the file contains (a hypothesis test holds it to that).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from breakglass.config.crosscheck import cross_check
from breakglass.config.models import Config
from breakglass.config.problems import dedupe, translate
from breakglass.connectors.files import NotAFile, read_regular
from breakglass.errors import ConfigError

ENV_VAR = "BREAKGLASS_CONFIG"
DEFAULT_NAME = "breakglass.toml"


def find_config(path: str | os.PathLike[str] | None,
                environ: Mapping[str, str] | None = None) -> Path:
    """The config file to load; ConfigError naming every place looked when there is none."""
    env = os.environ if environ is None else environ
    if path:
        candidate, how = Path(path), "--config"
    elif env.get(ENV_VAR):
        candidate, how = Path(env[ENV_VAR]), f"${ENV_VAR}"
    else:
        candidate, how = Path(DEFAULT_NAME), "the current directory"
    candidate = candidate.expanduser()
    if not candidate.exists():
        looked = f"{candidate} (from {how})"
        if how == "the current directory":
            looked = (f"{candidate.absolute()} (no --config given and ${ENV_VAR} is not set)")
        raise ConfigError(f"no configuration file: looked for {looked}; "
                          "run `breakglass init` to write a starter file")
    return candidate


def read_document(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        raw = read_regular(path)
    except NotAFile as exc:
        raise ConfigError(f"cannot read the configuration: it {exc}", source) from None
    except PermissionError:
        raise ConfigError("cannot read the configuration: permission denied", source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration: {exc.strerror or exc}", source
                          ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8",
                          source) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError(f"invalid TOML: {exc}", source) from None
    except RecursionError:
        raise ConfigError("invalid TOML: nested too deeply", source) from None


def validate(doc: Mapping[str, Any], path: Path | None = None) -> Config:
    """The document as a Config, or a ConfigError listing every problem."""
    source = str(path) if path else None
    problems: list[str] = []
    data = dict(doc)
    if "path" in data:
        # `path` is set by the loader, never by the file.
        problems.append("path: unknown key (the loader sets the config's path)")
        data.pop("path")
    base_dir = path.absolute().parent if path else Path.cwd()
    config: Config | None = None
    try:
        config = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems.extend(translate(exc, Config))
    except RecursionError:
        problems.append("(top level): nested too deeply")
    problems.extend(cross_check(data))
    if problems or config is None:
        raise ConfigError(dedupe(problems) or ["(top level): invalid"], source)
    return config.model_copy(update={"path": path.absolute() if path else None})


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Find, read and validate the configuration (see the module docstring)."""
    found = find_config(path, environ)
    return validate(read_document(found), found)
