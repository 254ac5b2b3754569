"""`breakglass check` and `breakglass attest ITEM` (docs/check.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import FORMAT_HELP, STATE_HELP, App, handle_errors
from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.engine.executor import RunResult
    from breakglass.engine.runbook import Runbook


def _split(value: str | None) -> list[str] | None:
    """"a,b, c" -> ["a", "b", "c"]; None or "" -> None."""
    if value is None:
        return None
    ids = [v.strip() for v in value.split(",") if v.strip()]
    return ids or None


@task(help={
    "local_state": STATE_HELP["local_state"],
    "gate": "launch | release | monthly (default: every item)",
    "only": "only these items, comma-separated (e.g. tls.hsts,cookies.secure)",
    "allow_unverified": "items, comma-separated, whose 'could not verify' is accepted (noted, "
                        "exit 0); their failures still fail",
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
    "junit": "also write JUnit XML to PATH (one testcase per item) for CI",
    "config": "path to breakglass.toml",
})
@handle_errors
def check(c: Context, gate: str | None = None, only: str | None = None,
          allow_unverified: str | None = None, json_: bool = False,
          format_: str = "", junit: str | None = None,
          config: str | None = None, local_state: bool = False) -> None:
    """Check the security checklist: verify each item of a gate, or read its attestation.

    Read-only. Runs the command behind every automated item and reads the attestation of every
    manual one (`breakglass attest`), then prints one row per item and the findings with what
    to do. Run --gate release in CI before each release (with --junit), --gate monthly from cron.
    Exit 0 every item passed, 1 an item failed, 2 usage/config error (unknown gate or item),
    3 an item could not be verified (not allowed by --allow-unverified)."""
    from breakglass.checklist.runbook import Check, known_ids, parse_gate, select

    if only is not None and not _split(only):
        raise Exit("breakglass: --only needs item ids, e.g. --only tls.hsts,cookies.secure",
                   code=2)
    if junit is not None and not junit.strip():
        raise Exit("breakglass: --junit needs a file path", code=2)
    if junit is not None and not Path(junit).parent.is_dir():
        raise Exit(f"breakglass: --junit {junit}: no folder {Path(junit).parent}", code=2)
    chosen = parse_gate(gate)
    params = {"gate": chosen.value if chosen else None, "only": _split(only),
              "allow_unverified": _split(allow_unverified) or []}
    # a typo is reported before the config is even read
    select(chosen, params["only"])
    known_ids("--allow-unverified", params["allow_unverified"])
    app = App(config, json_, fmt=format_, local_state=local_state)
    result = _run(app, Check(app.config, params))
    _show(app, result, junit)
    if result.exit_code:
        raise Exit(code=result.exit_code)


def _run(app: App, runbook: Runbook) -> RunResult:
    from breakglass.commands._runner import build_services, options
    from breakglass.engine.executor import execute
    from breakglass.engine.progress import animated

    # The engine prints nothing here (console=None): the item table replaces its per-step lines,
    # and the findings are printed once, below it.
    services = build_services(app, json_output=True)
    opts = options(app, dry_run=False, yes=False)
    if app.json_output or not animated(app.console):
        return execute(runbook, opts, services)
    with app.console.status(f"checking {len(runbook.steps())} item(s)…"):
        return execute(runbook, opts, services)


def _show(app: App, result: RunResult, junit: str | None) -> None:
    from breakglass.checklist import report
    from breakglass.commands._runner import print_json
    from breakglass.engine import render

    summary = result.summary
    assert summary is not None
    rows = report.rows(summary)
    if app.json_output:
        print_json(app, result, gate=summary.params.get("gate"),
                   items=report.items_json(rows), preconditions=report.preconditions_json(rows))
    else:
        from rich.text import Text

        console = app.console
        report.table(console, rows, app.tables)
        render.findings(console, summary.findings)
        render.deliveries(console, [d for d in summary.deliveries if not d.get("ok")])
        console.print(Text(report.counts(rows), style="dim"))
        render.summary_line(console, summary, [str(p) for p in result.reports.values()])
    if junit is not None:
        # Built from the (redacted) journal; redacted once more as a whole, like stdout.
        xml = app.redactor.redact(report.junit_xml(summary, rows).decode("utf-8"))
        try:
            Path(junit).write_text(xml, "utf-8")
        except OSError as exc:
            raise UsageError(f"--junit {junit}: cannot write it: {exc.strerror or exc}") from None


@task(help={
    "local_state": STATE_HELP["local_state"],
    "item": "the checklist item, e.g. auth.csrf (manual items only; see docs/check.md)",
    "by": "who checked it: a [people] name who owns the item's responsibility",
    "note": "what was checked and how (required; journaled and shown in reports)",
    "expires": "how long it holds, e.g. 30d (default and limit: the item's attestation period)",
    "dry_run": "show the plan; record nothing",
    "yes": "record without asking",
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
    "config": "path to breakglass.toml",
})
@handle_errors
def attest(c: Context, item: str, by: str = "", note: str = "", expires: str | None = None,
           dry_run: bool = False, yes: bool = False, json_: bool = False, format_: str = "",
           config: str | None = None, local_state: bool = False) -> None:
    """Attest a checklist item only a person can verify (auth.csrf, admin.restricted…).

    Records that NAME checked ITEM, with a note, until it expires; `breakglass check` counts it
    until then. Journaled (and tamper-evident), confirmed with --yes or a prompt, told to the
    owners of the item's responsibility. Exit 0 recorded, 2 refused (unknown or automated item,
    NAME not an owner, no note, bad --expires) or not confirmed."""
    from breakglass.checklist.attest import Attest, params_for
    from breakglass.commands._runner import run_runbook

    params = params_for(item, by, note, expires)  # item and --expires: before the config loads
    app = App(config, json_, fmt=format_, local_state=local_state)
    code = run_runbook(app, Attest, params, dry_run=dry_run, yes=yes)
    if code:
        raise Exit(code=code)
