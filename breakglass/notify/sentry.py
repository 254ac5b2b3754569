"""Errors, breadcrumbs and cron check-ins to Sentry, scrubbed by the run's redactor.

The reporter owns a private sentry-sdk Client and Scope instead of calling `sentry_sdk.init()`:
nothing global is touched (no excepthook, no logging hook, no atexit), so breakglass reports
exactly what the engine hands it, and two reporters in one process (tests) do not share
breadcrumbs. The client is built on first use: importing sentry_sdk costs ~0.1 s, which a run
that never reports should not pay.

Every event passes `before_send` and every breadcrumb `before_breadcrumb`, both of which run the
whole payload through `Redactor.redact_obj` (message, exception values, breadcrumbs, extra,
tags, contexts). Frame locals are not collected at all (`include_local_variables=False`): they
are where secrets live, and redacting what we did not register is impossible. If scrubbing
fails the SDK drops the event (its callbacks fail closed), so an unscrubbed event is never sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, cast

from breakglass.engine.redaction import Redactor

if TYPE_CHECKING:
    import sentry_sdk
    from sentry_sdk._types import LogLevelStr, MonitorConfig

CheckinStatus = Literal["in_progress", "ok", "error"]

# Seconds flush() waits for queued events; a dead Sentry must not hold up the end of a run.
FLUSH_TIMEOUT = 2.0


class SentryReporter:
    """An ErrorReporter (breakglass.engine.hooks) backed by sentry-sdk."""

    def __init__(self, dsn: str, environment: str | None, redactor: Redactor,
                 release: str | None = None) -> None:
        self._dsn = dsn
        self._environment = environment
        self._release = release
        self._redactor = redactor
        self._scope: sentry_sdk.Scope | None = None
        # The DSN carries the project's public key; keep it out of every output.
        redactor.register(dsn)

    def _before_send(self, event: Any, hint: Any) -> Any:
        return self._redactor.redact_obj(event)

    def _before_breadcrumb(self, crumb: Any, hint: Any) -> Any:
        return self._redactor.redact_obj(crumb)

    @property
    def scope(self) -> sentry_sdk.Scope:
        if self._scope is None:
            import sentry_sdk
            from sentry_sdk.scope import ScopeType

            from breakglass import __version__

            client = sentry_sdk.Client(
                dsn=self._dsn,
                environment=self._environment,
                release=self._release or f"breakglass@{__version__}",
                # Only what we capture explicitly: no framework, logging or excepthook hooks.
                default_integrations=False,
                auto_enabling_integrations=False,
                traces_sample_rate=0.0,
                # PII stays off by leaving send_default_pii unset (newer SDKs deprecate the
                # option); unset, the SDK also keeps its EventScrubber, which blanks values
                # under keys such as "password" or "token": a second net behind the redactor.
                include_local_variables=False,
                max_request_body_size="never",
                before_send=self._before_send,
                before_breadcrumb=self._before_breadcrumb,
            )
            scope = sentry_sdk.Scope(ty=ScopeType.ISOLATION)
            scope.set_client(client)
            self._scope = scope
        return self._scope

    @contextmanager
    def _active(self) -> Iterator[sentry_sdk.Scope]:
        """Make our scope the current one for the duration of an SDK call: the SDK looks the
        client up through the context's scopes (`Scope.get_client` is a classmethod), not
        through the scope object a method is called on."""
        import sentry_sdk

        with sentry_sdk.scope.use_scope(self.scope) as scope:
            yield scope

    def breadcrumb(self, message: str, data: Mapping[str, Any] | None = None) -> None:
        with self._active() as scope:
            scope.add_breadcrumb(category="breakglass", message=message, data=dict(data or {}),
                                 level="info")

    def capture(self, exc: BaseException) -> None:
        with self._active() as scope:
            scope.capture_exception(exc)

    def capture_message(self, message: str, level: LogLevelStr = "error") -> None:
        with self._active() as scope:
            scope.capture_message(message, level=level)

    def anchor(self, run_id: str, runbook: str, status: str, journal_hash: str) -> str | None:
        """Send a finished run's final journal hash off the machine (breakglass/engine/journal.py:
        a hash kept elsewhere is what proves a journal). One info event per run, all grouped
        under one issue by a fixed fingerprint (not one alert per run) and tagged run_id,
        runbook and journal_hash, so an auditor finds it with the search `run_id:ID`. A cron
        check-in carries no data of ours, so monitored runs send this too. Returns the event
        id, None when the SDK dropped it."""
        with self._active() as scope:
            return scope.capture_message(
                f"breakglass {runbook} run {run_id} finished: {status}; journal hash "
                f"{journal_hash}", level="info", fingerprint=["breakglass-journal-anchor"],
                tags={"run_id": run_id, "runbook": runbook, "journal_hash": journal_hash})

    def checkin(self, monitor_slug: str, status: CheckinStatus,
                check_in_id: str | None = None, duration: float | None = None,
                monitor_config: Mapping[str, Any] | None = None) -> str | None:
        """Send a cron check-in (https://docs.sentry.io/product/crons/). Send `in_progress`
        when a scheduled drill starts, then `ok`/`error` with the returned id; a monitor that
        misses its check-ins alerts in Sentry. Returns the check-in id, None if not sent."""
        from sentry_sdk.crons import capture_checkin

        with self._active():
            # sentry_sdk types monitor_config as a TypedDict; ours is a plain mapping of the
            # same documented keys (schedule, checkin_margin, max_runtime).
            config = cast("MonitorConfig", dict(monitor_config)) if monitor_config else None
            return capture_checkin(monitor_slug=monitor_slug, check_in_id=check_in_id,
                                   status=status, duration=duration, monitor_config=config)

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> None:
        if self._scope is not None:
            self._scope.client.flush(timeout=timeout)
