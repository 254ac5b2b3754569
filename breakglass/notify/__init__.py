"""Owners' notices (apprise) and error reporting (Sentry), built from the configuration.

The engine only knows the protocols in breakglass.engine.hooks; these builders are where the
configuration meets them. Neither imports its SDK until a notice or an event is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from breakglass.engine.redaction import Redactor
from breakglass.notify.owners import AppriseNotifier
from breakglass.notify.sentry import SentryReporter

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.secrets import SecretResolver

__all__ = ["AppriseNotifier", "SentryReporter", "build_error_reporter", "build_notifier"]


def build_notifier(config: Config, secrets: SecretResolver, redactor: Redactor) -> AppriseNotifier:
    channels = {name: list(person.notify) for name, person in config.people.items()}
    chosen = {name: person.notify_on for name, person in config.people.items()
              if person.notify_on is not None}
    return AppriseNotifier(config.owners, channels, secrets, redactor, chosen=chosen)


def build_error_reporter(config: Config, secrets: SecretResolver,
                         redactor: Redactor) -> SentryReporter | None:
    """None when `[sentry]` is absent. The DSN reference is resolved here, so a missing
    reference is a configuration error (exit 2) at the start of a run, not a lost event."""
    if config.sentry is None:
        return None
    dsn = secrets.resolve(config.sentry.dsn)
    environment = config.sentry.environment or config.project.environment
    return SentryReporter(dsn, environment, redactor)
