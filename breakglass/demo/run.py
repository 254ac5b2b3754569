"""What `breakglass demo` does, act by act. The task in commands/setup.py only calls `run`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from breakglass import runner
from breakglass.config import load_config
from breakglass.connectors import pgbin
from breakglass.connectors.pgcluster import EmbeddedCluster
from breakglass.demo import sandbox
from breakglass.drills.restore import RestoreDrill
from breakglass.engine import render
from breakglass.engine.executor import RunOptions, RunResult, execute
from breakglass.engine.redaction import Redactor
from breakglass.engine.runbook import Runbook
from breakglass.recovery.take import BackupTake
from breakglass.recovery.verify import BackupVerify
from breakglass.secrets import Secrets
from breakglass.text import human_duration


class _Runs:
    """Runs runbooks through the engine as the CLI runs them with --yes, on the sandbox's
    config, printing to the demo's console."""

    def __init__(self, config: Path, console: Console, redactor: Redactor) -> None:
        self.config = load_config(str(config))
        self.services = runner.services(self.config, Secrets(self.config, redactor), redactor,
                                        console=console)

    def __call__(self, runbook_cls: type[Runbook], params: Mapping[str, Any]) -> RunResult:
        return execute(runbook_cls(self.config, params), RunOptions(yes=True), self.services)


def _drill_line(result: RunResult) -> str:
    rep = result.summary.steps["report"].result if result.summary else None
    if not rep:
        return ""
    return (f"RTO {human_duration(rep['rto_seconds'])} (target "
            f"{human_duration(rep['rto_target_seconds'])}) · RPO "
            f"{human_duration(rep['rpo_seconds'])} (max_age "
            f"{human_duration(rep['rpo_target_seconds'])}) · trend: {rep['trend']}")


def run(root: Path, console: Console, redactor: Redactor) -> int:
    """Returns 0 when breakglass behaved as it must: the backup is taken and verified, the
    restore drill proves its rows, and a truncated backup fails the drill. Anything else is
    that run's exit code (1, or 3 for could not verify). `redactor` is the one over the
    process's output."""
    console.rule("breakglass demo")
    console.print(f"sandbox: {root} (rebuilt by every demo run)")
    sandbox.fresh_sandbox(root)
    initdb = pgbin.find("initdb")
    major = next(i.major for i in pgbin.installations() if i.bin_dir == initdb.parent)
    chat = sandbox.ChatReceiver()
    try:
        with EmbeddedCluster(initdb.parent, label="demo-prod") as prod:
            console.print(f"[green]✓[/] started an embedded PostgreSQL {major} as \"production\" "
                          "(unix socket only, no TCP port)")
            rows = sandbox.seed(prod.dsn())
            console.print(f"[green]✓[/] seeded database {sandbox.DATABASE!r}: " + ", ".join(
                f"{n:,} {t}" for t, n in rows.items()) + f" ({sum(rows.values()):,} rows)")
            config = sandbox.write_config(root, chat.start(), prod.dsn(sandbox.DATABASE))
            _run = _Runs(config, console, redactor)
            console.print(f"[green]✓[/] wrote {root.name}/breakglass.toml; owner 'dana' "
                          "(backup_restore) gets notices on a local receiver\n")

            console.rule("Act 1: take a backup (breakglass backup.take --yes)")
            took = _run(BackupTake, {"backup": None, "prune": False})
        console.print("[green]✓[/] stopped the production PostgreSQL: the drill never needs "
                      "it\n")
        if took.exit_code:
            return took.exit_code

        console.rule("Act 2: restore drill (breakglass drill.restore --yes)")
        drill = _run(RestoreDrill, {"backup": None, "env": None, "jobs": None})
        console.print(_drill_line(drill), soft_wrap=True)

        console.print()
        console.rule("Act 3: a newer backup that ends early (a killed upload, a full disk)")
        bad = sandbox.truncate_copy(root / "store")
        console.print(f"wrote store/{bad.name}: the first two thirds of the newest dump\n")
        verify = _run(BackupVerify, {"only": None, "all": False})
        drill_bad = _run(RestoreDrill, {"backup": None, "env": None, "jobs": None})
    finally:
        chat.stop()

    console.print()
    console.rule("What happened")
    caught = {f.code for f in verify.findings} | {f.code for f in drill_bad.findings}
    console.print(f"act 1: backup.take {took.status} (exit {took.exit_code})", soft_wrap=True)
    console.print(f"act 2: drill.restore {drill.status} (exit {drill.exit_code}) — restored "
                  "into a throw-away PostgreSQL, structure, exact row counts, sequences and "
                  "2 expect checks proven, then torn down", soft_wrap=True)
    truncated = "ARCHIVE_TRUNCATED" in caught
    console.print(f"act 3: backup.verify {verify.status}, drill.restore "
                  f"{render.status_words(drill_bad.status)} — "
                  + ("ARCHIVE_TRUNCATED caught before anything trusted the backup"
                     if truncated else "the truncated backup was NOT caught"), soft_wrap=True)
    console.print(f"owners' notices received by the local chat: {len(chat.titles)}")
    for title in chat.titles:
        console.print(f"  • {title}")
    if "html" in drill.reports:
        console.print(f"report of the drill: {drill.reports['html']}", soft_wrap=True)
    console.print(f"journals: breakglass runs.list --config {root.name}/breakglass.toml")
    if drill.exit_code:
        return drill.exit_code
    return 0 if truncated and verify.exit_code and drill_bad.exit_code else 1
