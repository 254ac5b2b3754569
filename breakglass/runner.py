"""What a run needs besides its runbook, built from a loaded configuration: the engine's
Services with the owners' notifier and Sentry reporter (notify/) and the checklist's
preconditions (checklist/). The engine knows none of these packages; this module is where they
are put together, for the CLI (commands/_runner.py) and the demo alike.

Heavy modules (apprise, sentry_sdk, the checks) are imported inside the function:
`breakglass --help` imports the commands that import this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from breakglass.config import Config
    from breakglass.engine.executor import Services
    from breakglass.engine.redaction import Redactor
    from breakglass.secrets import SecretResolver


def services(config: Config, secrets: SecretResolver, redactor: Redactor, *,
             console: Console | None = None, progress_console: Console | None = None,
             confirm: Callable[[str], bool] | None = None) -> Services:
    """`console` None: nothing printed for people (--json, library use); progress then goes to
    `progress_console` when given. `confirm` asks the person at the terminal."""
    from breakglass.checklist.preconditions import checklist_preconditions
    from breakglass.engine.executor import Services
    from breakglass.notify import build_error_reporter, build_notifier

    return Services(redactor=redactor, secrets=secrets,
                    notifier=build_notifier(config, secrets, redactor),
                    reporter=build_error_reporter(config, secrets, redactor),
                    console=console, progress_console=progress_console, confirm=confirm,
                    checklist=checklist_preconditions)
