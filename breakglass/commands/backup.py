"""`breakglass backup.verify` (docs/backup-verify.md) and `breakglass backup.take`
(docs/backup-take.md)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import FORMAT_HELP, STATE_HELP, App, handle_errors
from breakglass.commands._runner import OVERRIDE_HELP


@task(help={
    "local_state": STATE_HELP["local_state"],
    "config": "path to breakglass.toml",
    "backup": "verify only [backups.NAME] (as in backup.take --backup NAME)",
    "only": "old spelling of --backup NAME (goes in the next release)",
    "all_": "read every backup to the end, not only the newest",
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
    "dry_run": "show what would be checked (a read-only runbook: the checks still run)",
})
@handle_errors
def verify(c: Context, config: str | None = None, backup: str | None = None,
           all_: bool = False, json_: bool = False, format_: str = "", dry_run: bool = False,
           local_state: bool = False, only: str | None = None) -> None:
    """Verify every [backups.*]: freshness (RPO), encryption, retention, checksums, archive.

    Never changes anything. Exit 0 passed, 1 a finding, 2 usage/config error, 3 could not
    verify (store unreachable, archive could not be read)."""
    from breakglass.commands._common import renamed
    from breakglass.commands._runner import run_runbook
    from breakglass.recovery.verify import BackupVerify

    name = renamed("--only", "--backup", only, backup)
    if name is not None and not name.strip():
        raise Exit("breakglass: --backup needs a backup name", code=2)
    app = App(config, json_, fmt=format_, local_state=local_state)
    # "only": the runbook's parameter as journaled (runs.resume rebuilds it from the journal)
    code = run_runbook(app, BackupVerify, {"only": name, "all": all_}, dry_run=dry_run)
    if code:
        raise Exit(code=code)


@task(iterable=["override"], help={
    "local_state": STATE_HELP["local_state"],
    "config": "path to breakglass.toml",
    "backup": "take only [backups.NAME] (default: every backup set with a database)",
    "prune": "also delete backups older than retention_days (never the newest)",
    "dry_run": "observe and print the plan; change nothing",
    "yes": "apply without asking",
    "override": OVERRIDE_HELP["override"],
    "because": OVERRIDE_HELP["because"],
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
})
@handle_errors
def take(c: Context, config: str | None = None, backup: str | None = None, prune: bool = False,
         dry_run: bool = False, yes: bool = False, json_: bool = False, format_: str = "",
         override: list[str] | None = None, because: str = "", local_state: bool = False) -> None:
    """Dump each [backups.*] database with pg_dump -Fc into its store, with a manifest.

    The manifest holds exact row counts and the schema fingerprint, read in the snapshot that
    was dumped. Exit 0 taken and read back, 1 a finding, 2 usage/config error, 3 could not
    verify (database or store unreachable, pg_dump missing)."""
    from breakglass.commands._runner import overrides, run_runbook
    from breakglass.recovery.take import BackupTake

    if backup is not None and not backup.strip():
        raise Exit("breakglass: --backup needs a backup name", code=2)
    app = App(config, json_, fmt=format_, local_state=local_state)
    code = run_runbook(app, BackupTake, {"backup": backup, "prune": prune}, dry_run=dry_run,
                       yes=yes, overrides=overrides(override, because))
    if code:
        raise Exit(code=code)
