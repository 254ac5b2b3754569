"""`breakglass notify.test`: send a test notice to every owner and say which arrived.

Exit codes (docs/notifications.md):
    0  every channel of every owner accepted the notice
    1  at least one channel failed (refused, unreachable, unparseable, unresolvable reference)
       or an owner has no channel: someone would not be told during an incident
    2  configuration error
    3  nothing to test: no one is named in [owners]
"""

from __future__ import annotations

import json
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import App, handle_errors
from breakglass.errors import EXIT_FINDING, EXIT_OK, EXIT_UNVERIFIED


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def test(c: Context, config: str | None = None, json_: bool = False) -> None:
    """Send a test notice to every owner and say which arrived."""
    app = App(config, json_)
    rows, unowned = send_test_notices(app)
    code = _exit_code(rows)
    if json_:
        print(json.dumps({"deliveries": rows, "unowned": unowned, "exit_code": code}, indent=2))
    else:
        _print_table(app, rows, unowned)
    if code == EXIT_UNVERIFIED:
        raise Exit("breakglass: nothing to test: no one is named in [owners]", code=code)
    if code != EXIT_OK:
        raise Exit(code=code)


def send_test_notices(app: App) -> tuple[list[dict[str, Any]], list[str]]:
    """Send the test notice to every channel of every owner and journal the deliveries (also
    `breakglass doctor`'s notice check): (one row per delivery, responsibilities nobody owns)."""
    from breakglass.config import RESPONSIBILITIES
    from breakglass.notify import build_notifier
    from breakglass.notify.compose import test_notice

    cfg = app.config
    notifier = build_notifier(cfg, app.secrets, app.redactor)
    rows: list[dict[str, Any]] = []
    # Every person's notice leaves before any is waited on: channels that hang cost one
    # deadline in all, not one each.
    sent = []
    for person in notifier.people():
        held = notifier.responsibilities_of(person)
        notice = test_notice(cfg.project.name, cfg.project.environment, held)
        sent.append((held, notifier.send([person], notice)))
    for held, pending in sent:
        for d in pending.wait():
            rows.append({"person": d.person, "responsibilities": held, "channel": d.channel,
                         "arrived": d.ok, "error": d.error})
    unowned = [r for r in RESPONSIBILITIES if not notifier.owners_of(r)]
    if rows:
        _journal(app, rows, _exit_code(rows))
    return rows, unowned


def _journal(app: App, rows: list[dict[str, Any]], code: int) -> None:
    """Record the deliveries as a finished run: `breakglass check` proves "every owner has a
    working notice channel" (ops.owners) from the newest journaled delivery to each person, and
    `runs.list` shows when the channels were last tested."""
    from pathlib import Path

    from breakglass.engine import journal as jr
    from breakglass.engine.executor import new_run_id

    journal = jr.Journal.create(Path(app.config.project.state_dir), new_run_id(), app.redactor)
    journal.append("run_started", {"runbook": "notify.test", "title": "test notice to every "
                                   "owner", "target": "owners", "params": {}, "mutating": False,
                                   "dry_run": False, "responsibility": "release_signoff"})
    for r in rows:
        journal.append("delivery", {"event": "test", "person": r["person"],
                                    "channel": r["channel"], "ok": r["arrived"],
                                    "error": r["error"]})
    journal.append("run_finished", {"status": "passed" if code == EXIT_OK else "failed",
                                    "exit_code": code})


def _exit_code(rows: list[dict[str, Any]]) -> int:
    if not rows:
        return EXIT_UNVERIFIED
    return EXIT_OK if all(r["arrived"] for r in rows) else EXIT_FINDING


def _print_table(app: App, rows: list[dict[str, Any]], unowned: list[str]) -> None:
    from rich.table import Table

    table = Table(title="notify.test", title_justify="left")
    table.add_column("person", no_wrap=True)
    table.add_column("responsibilities")
    table.add_column("channel", no_wrap=True)
    table.add_column("arrived", no_wrap=True)
    table.add_column("error")
    for r in rows:
        table.add_row(r["person"], ", ".join(r["responsibilities"]), r["channel"],
                      "yes" if r["arrived"] else "no", r["error"])
    app.console.print(table)
    if unowned:
        app.console.print(f"no owner (nobody is told): {', '.join(unowned)}")
    failed = sum(1 for r in rows if not r["arrived"])
    if rows:
        app.console.print(f"{len(rows) - failed} of {len(rows)} channels arrived")
