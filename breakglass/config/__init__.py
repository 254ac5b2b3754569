"""breakglass.toml: frozen pydantic models, the loader and its one-line-per-problem errors.

    models.py       the sections of the file (DESIGN.md "Configuration contract")
    durations.py    "90s" / "30m" / "26h" / "7d" -> timedelta
    loader.py       find (--config, $BREAKGLASS_CONFIG, ./breakglass.toml), read, validate
    problems.py     pydantic errors -> "backups.main.max_age: ..." lines
    crosscheck.py   checks across sections (owners -> people, backups -> databases, ...)

Secret references are resolved elsewhere (breakglass/secrets.py), lazily, by the code that
needs the value.
"""

from breakglass.config.durations import format_duration, parse_duration
from breakglass.config.loader import find_config, load_config, validate
from breakglass.config.models import (
    RESPONSIBILITIES,
    AppConfig,
    AwsConfig,
    BackupConfig,
    Config,
    DatabaseConfig,
    DrillsConfig,
    ExpectConfig,
    HostConfig,
    PersonConfig,
    ProjectConfig,
    RestoreDrillConfig,
    SecretConfig,
    SecretSettings,
    SentryConfig,
)

__all__ = [
    "RESPONSIBILITIES", "AppConfig", "AwsConfig", "BackupConfig", "Config",
    "DatabaseConfig", "DrillsConfig", "ExpectConfig", "HostConfig", "PersonConfig",
    "ProjectConfig", "RestoreDrillConfig", "SecretConfig", "SecretSettings", "SentryConfig",
    "find_config", "format_duration", "load_config", "parse_duration", "validate",
]
