"""What every task shares: one App per invocation (config, redactor, console, secrets) and the
single place where exceptions become exit codes and one-line messages."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from invoke.exceptions import Exit

from breakglass.engine.redaction import RedactingStream, Redactor
from breakglass.errors import EXIT_UNVERIFIED, BreakglassError, ConfigError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from breakglass.config import Config
    from breakglass.secrets import SecretResolver

F = TypeVar("F", bound=Callable[..., Any])

# The invocation's App, so that an internal error caught by handle_errors can reach the Sentry of
# a configuration that was already loaded (never loaded just for that).
_APP: App | None = None

# One redactor per process: the CLI process is one invocation. It is installed over
# sys.stdout/sys.stderr on first use so that nothing printed can carry a registered secret.
_REDACTOR: Redactor | None = None


def process_redactor() -> Redactor:
    global _REDACTOR
    if _REDACTOR is None:
        _REDACTOR = Redactor()
        if not isinstance(sys.stdout, RedactingStream):
            sys.stdout = RedactingStream(sys.stdout, _REDACTOR)
        if not isinstance(sys.stderr, RedactingStream):
            sys.stderr = RedactingStream(sys.stderr, _REDACTOR)
    return _REDACTOR


#: --format: how a task prints (docs/runs.md, "Output")
FORMATS = ("table", "plain", "json")
FORMAT_HELP = ("table (rich tables), plain (one line per row: pipes, logs, narrow terminals) or "
               "json (schema breakglass.result/1); default: table on a terminal of 100 columns "
               "or more, else plain. --json is --format json")
#: below this many columns a rich table splits codes and ids: rows are printed one per line
TABLE_MIN_WIDTH = 100


#: the options about where a run's state goes (docs/state.md)
STATE_HELP = {
    "local_state": "S3 state unreachable in an emergency: journal here, marked 'not shared "
                   "yet'; `breakglass state.push` shares it later",
    "take_over": "take the run's lease now even though it has not lapsed (the machine holding "
                 "it is gone); journaled and told to the owners",
}


class App:
    """Per-invocation context for a task. Everything is built lazily."""

    def __init__(self, config_path: str | None = None, json_output: bool = False,
                 local_state: bool = False, fmt: str | None = None) -> None:
        self.config_path = config_path
        fmt = (fmt or "").strip().lower() or None
        if fmt is not None and fmt not in FORMATS:
            raise UsageError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
        if json_output and fmt not in (None, "json"):
            raise UsageError(f"--json and --format {fmt} disagree: give one of them")
        self.json_output = json_output or fmt == "json"
        #: the --format asked for; None: chosen by the terminal (see `tables`)
        self.format = fmt
        #: --local-state: this invocation keeps its state in state_dir whatever the config says
        self.local_state = local_state
        self.redactor = process_redactor()
        self._config: Config | None = None
        global _APP
        _APP = self
        self._secrets: SecretResolver | None = None
        self._console: Console | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from breakglass.config import load_config

            self._config = load_config(self.config_path)
            if self.local_state:
                from breakglass.state import open_state

                open_state(self._config, local_only=True)
        return self._config

    @property
    def secrets(self) -> SecretResolver:
        if self._secrets is None:
            from breakglass.secrets import Secrets

            self._secrets = Secrets(self.config, self.redactor)
        return self._secrets

    @property
    def console(self) -> Console:
        if self._console is None:
            # sys.stdout is the redacting stream; rich writes through it.
            self._console = make_console(sys.stdout)
        return self._console

    @property
    def tables(self) -> bool:
        """Rich tables, or one line per row? A table at 80 columns or in a pipe splits codes,
        ids and runbook names across lines (`runs.list | grep drill.restore` would miss them),
        so below TABLE_MIN_WIDTH columns and when stdout is not a terminal rows are printed
        whole, one per line, unless --format table asks otherwise."""
        if self.format is not None:
            return self.format == "table"
        return self.console.is_terminal and self.console.width >= TABLE_MIN_WIDTH

    @property
    def err_console(self) -> Console:
        return make_console(sys.stderr)


def make_console(file: IO[str]) -> Console:
    """A rich Console on `file`. With NO_COLOR set (no-color.org) it writes no escape code at
    all: rich by itself drops the colours but keeps bold and dim, and whoever sets NO_COLOR (a
    screen reader, a log viewer that shows escapes as text) wants plain characters. Progress
    and spinners then print log lines instead of redrawing (engine/progress.py `animated`).
    Off a terminal rich writes no escape code anyway."""
    from rich.console import Console

    plain = os.environ.get("NO_COLOR", "") != ""
    return Console(file=file, highlight=False, soft_wrap=False,
                   color_system=None if plain else "auto")


def renamed(old: str, new: str, old_value: str | None, value: str | None,
            then: str = "") -> str | None:
    """The value of option `new`, or of `old`, its spelling before the rename: kept working for
    one release, with a one-line note on stderr (`then`: what `old` will mean afterwards).
    Both at once is a usage error."""
    if old_value is None:
        return value
    if value is not None:
        raise UsageError(f"{old} is the old spelling of {new}: give {new} only")
    sys.stderr.write(f"breakglass: note: {old} is now {new}"
                     f"{'; ' + then if then else ''} ({old} goes in the next release)\n")
    return old_value


def write_json(app: App, doc: Any) -> None:
    """A breakglass.result/1 document (engine/results.py) on stdout, through the redactor like
    everything else printed."""
    sys.stdout.write(json.dumps(app.redactor.redact_obj(doc), indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int) -> Exit:
    """An invoke Exit whose message is redacted and prefixed once."""
    text = process_redactor().redact(message)
    return Exit(f"breakglass: {text}", code=code)


def _report_bug(exc: BaseException) -> None:
    """Send the bug to Sentry when the invocation had loaded a config with `[sentry]`. Best
    effort: reporting must never hide the error line."""
    app = _APP
    if app is None or app._config is None or app._config.sentry is None:
        return
    try:
        from breakglass.notify import build_error_reporter

        reporter = build_error_reporter(app._config, app.secrets, app.redactor)
        if reporter is not None:
            reporter.capture(exc)
            reporter.flush()
    except Exception:  # best effort: see the docstring
        return


def handle_errors(fn: F) -> F:
    """Map the exception tree to exit codes and one-line messages (never a traceback for
    anything we raise on purpose). Unexpected exceptions print one line plus, with
    BREAKGLASS_DEBUG=1, a redacted traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exit:
            raise
        except ConfigError as exc:
            where = f"{exc.source}: " if exc.source else ""
            if len(exc.problems) == 1:
                raise fail(f"{where}{exc.problems[0]}", exc.exit_code) from None
            lines = [f"  {where}{p}" for p in exc.problems]
            raise fail("\n".join([f"invalid configuration ({len(lines)} problems):", *lines,
                                   "Fix them and run `breakglass config.check`."]),
                       exc.exit_code) from None
        except BreakglassError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except BrokenPipeError:
            raise  # `… | head`: the reader left; cli.main says nothing more
        except KeyboardInterrupt:
            raise fail("interrupted; the run can be finished with `breakglass runs.resume ID`",
                       130) from None
        except Exception as exc:  # the last line of defence: one line, no secret, no traceback
            if os.environ.get("BREAKGLASS_DEBUG"):
                traceback.print_exc(file=sys.stderr)
            _report_bug(exc)
            # Exit 3, never 1: a bug means the command did not finish its job, so nothing was
            # verified — 1 would read as "ran and found a problem".
            raise fail(f"internal error (a bug in breakglass): {type(exc).__name__}: {exc}. "
                       "The command did not finish; please report it (BREAKGLASS_DEBUG=1 "
                       "prints a traceback)", EXIT_UNVERIFIED) from None

    return cast(F, wrapper)
