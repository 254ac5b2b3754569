"""`breakglass doctor`: connect to everything the configuration names, one line per thing
(breakglass/doctor.py). Exit 0 all ok, 1 something is wrong, 2 configuration error, 3 something
could not be reached."""

from __future__ import annotations

import json

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import App, handle_errors

_MARKS = {"ok": "ok  ", "note": "note", "failed": "FAIL", "unverified": "??  "}


@task(help={"config": "path to breakglass.toml", "json_": "machine-readable output"})
@handle_errors
def doctor(c: Context, config: str | None = None, json_: bool = False) -> None:
    """Connect to every database, store, host, secret, the shared state and every notice channel.

    One line per thing: ok, FAIL (wrong: exit 1) or ?? (could not be reached or verified: exit
    3). Sends a test notice to every owner, as `breakglass notify.test` does."""
    from breakglass import doctor as dr
    from breakglass.commands.notify import send_test_notices

    app = App(config, json_)
    cfg = app.config
    lines = dr.run(cfg, app.secrets, lambda: send_test_notices(app))
    code = dr.exit_code(lines)
    if json_:
        print(json.dumps({"config": str(cfg.path), "exit_code": code,
                          "checks": [line.to_dict() for line in lines]}, indent=2))
    else:
        # Plain lines, never a table: each stays whole at 80 columns, in a pipe and in a log.
        for line in lines:
            print(f"{_MARKS[line.status]} {line.kind} {line.name}: {line.detail}")
            if line.action and line.status != "ok":
                print(f"     next: {line.action}")
        counts = {s: sum(1 for x in lines if x.status == s) for s in _MARKS}
        print(f"doctor: {counts['ok']} ok, {counts['failed']} failed, {counts['unverified']} "
              f"could not be verified, {counts['note']} note(s) (exit {code})")
    if code:
        raise Exit(code=code)
