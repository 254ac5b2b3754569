"""`breakglass drill.restore`, `breakglass drill.schedule` (docs/drill-restore.md) and
`breakglass drill.scenarios` (docs/drill-scenarios.md)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import FORMAT_HELP, STATE_HELP, App, handle_errors


def _log_to(path: str) -> None:
    """Send this process's stdout and stderr (and its children's) to the end of `path`, creating
    its folder (0700) first: the cron line's own `>> file` redirect fails on a fresh machine
    because the shell opens the file before breakglass ever runs."""
    import os
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    from breakglass.connectors.files import private_dir

    file = Path(path).expanduser()
    try:
        if not file.parent.exists():
            private_dir(file.parent)
        fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise Exit(f"breakglass: --log {file}: {exc.strerror}; point it at a writable file",
                   code=2) from None
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    print(f"--- {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} breakglass drill.restore", flush=True)


@task(iterable=["override"], help={
    "local_state": STATE_HELP["local_state"],
    "config": "path to breakglass.toml",
    "archive": "restore this archive (its key in the store, as backup.verify lists it) "
               "instead of the newest",
    "backup": "old spelling of --archive KEY (goes in the next release; then --backup NAME "
              "names a [backups.NAME] set, as in backup.take and backup.verify)",
    # The names come from the environments' registry, which --help does not import: the
    # runbook checks the name (with "did you mean"), `breakglass docs environments` lists them.
    "env": "the drill environment to restore into instead of [drills.restore] environment "
           "(`breakglass docs environments` lists them)",
    "jobs": "pg_restore --jobs (default: [drills.restore] jobs, else chosen by core count)",
    "dry_run": "observe and print the plan; create nothing",
    "yes": "apply without asking (cron, CI)",
    "override": "let this failing precondition (e.g. drill.production_guard) through; "
                "repeatable; needs --because",
    "because": "why the override is acceptable (journaled, in the report, sent to the owners)",
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
    "log": "append all output to this file, creating its folder (what the printed cron line "
           "uses)",
})
@handle_errors
def restore(c: Context, config: str | None = None, archive: str | None = None,
            env: str | None = None, jobs: int = 0, dry_run: bool = False, yes: bool = False,
            json_: bool = False,
            format_: str = "", override: list[str] | None = None, because: str = "",
            local_state: bool = False, log: str | None = None,
            backup: str | None = None) -> None:
    """Restore drill: restore the newest backup into a disposable environment and prove it.

    Validates structure, exact row counts, sequences and your [[drills.restore.expect]] checks,
    times every stage against rto, judges the backup's age against max_age, records the drill
    in state_dir/drills/history.jsonl and writes a trend report. Exit 0 passed, 1 a finding,
    2 usage/config error, 3 could not verify."""
    from breakglass.commands._common import renamed
    from breakglass.commands._runner import build_services, options, overrides, print_json
    from breakglass.drills.restore import RestoreDrill
    from breakglass.engine.executor import execute

    if log is not None:
        _log_to(log)
    key = renamed("--backup", "--archive", backup, archive,
                  then="--backup NAME will name a [backups.NAME] set, as in backup.take")
    if key is not None and not key.strip():
        raise Exit("breakglass: --archive needs an archive's key in the store", code=2)
    if jobs < 0 or jobs > 64:
        raise Exit("breakglass: --jobs must be between 1 and 64", code=2)
    app = App(config, json_, fmt=format_, local_state=local_state)
    # "backup": the runbook's parameter as journaled (runs.resume rebuilds it from the journal)
    runbook = RestoreDrill(app.config, {"backup": key, "env": env, "jobs": jobs or None})
    result = execute(runbook, options(app, dry_run=dry_run, yes=yes,
                                      overrides=overrides(override, because)),
                     build_services(app, app.json_output))
    if app.json_output:
        print_json(app, result)
    elif result.summary is not None and "report" in result.summary.steps:
        rep = result.summary.steps["report"].result
        if rep:
            from breakglass.text import human_duration

            app.console.print(
                f"RTO {human_duration(rep['rto_seconds'])} (target "
                f"{human_duration(rep['rto_target_seconds'])}) · RPO "
                f"{human_duration(rep['rpo_seconds'])} (max_age "
                f"{human_duration(rep['rpo_target_seconds'])}) · trend: {rep['trend']}",
                soft_wrap=True)
    if result.exit_code:
        raise Exit(code=result.exit_code)


@task(help={
    "config": "path to breakglass.toml",
    "print_": "what to print: cron (a crontab line), systemd (service + timer), github "
              "(an Actions workflow), kubernetes (a CronJob; needs [project] state on S3)",
    "install": "github/kubernetes: the pip requirement that installs breakglass there "
               "(default: this installation's version or VCS commit)",
})
@handle_errors
def schedule(c: Context, config: str | None = None, print_: str = "cron",
             install: str | None = None) -> None:
    """Print a ready schedule for the restore drill from [drills.restore] schedule (cron).

    Changes nothing: redirect the output where it belongs (crontab -e, /etc/systemd/system/,
    .github/workflows/, kubectl apply -f -)."""
    import sys

    from breakglass.drills.schedule import KINDS, render

    if print_ not in KINDS:
        raise Exit(f"breakglass: --print must be one of {', '.join(KINDS)}", code=2)
    if install is not None and (print_ not in ("github", "kubernetes") or not install.strip()
                                or "\n" in install):
        raise Exit("breakglass: --install takes one pip requirement (e.g. 'breakglass==0.1.0') "
                   "and applies to --print github or kubernetes", code=2)
    app = App(config)
    drill = app.config.drills.restore
    if drill is None:
        raise Exit("breakglass: no [drills.restore] section in the configuration", code=2)
    sys.stdout.write(render(print_, drill.schedule, app.config, install))
    sys.stdout.flush()


@task(help={
    "local_state": STATE_HELP["local_state"],
    "config": "path to breakglass.toml",
    "only": "run only these scenarios, comma-separated (brute_force, reset_expired, "
            "session_revoked, private_file, webhook_signature, tenant_isolation, admin_routes)",
    "allow_production": "drill a base_url that looks like production (journaled; owners told)",
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
})
@handle_errors
def scenarios(c: Context, config: str | None = None, only: str = "",
              allow_production: bool = False, json_: bool = False, format_: str = "",
              local_state: bool = False) -> None:
    """Failure-scenario drill: prove the seed's §14 scenarios against a staging app.

    Brute-force logins hit a rate limit, an expired reset link and a logged-out session are
    refused, a private file, another tenant's resource and admin routes are refused, an invalid
    webhook signature is rejected. Bounded by [drills.scenarios] max_requests and deadline; each
    verdict is recorded for `breakglass check`. Exit 0 all passed, 1 a finding, 2 usage/config
    error (a production base_url without --allow-production), 3 could not verify."""
    from breakglass.commands._runner import run_runbook
    from breakglass.drills.scenarios.runbook import ScenariosDrill

    # The runbook checks the names (a resumed run rebuilds it from the journal's params too).
    names = [n.strip() for n in only.split(",") if n.strip()]
    app = App(config, json_, fmt=format_, local_state=local_state)
    code = run_runbook(app, ScenariosDrill, {"only": names or None,
                                             "allow_production": allow_production})
    if code:
        raise Exit(code=code)
