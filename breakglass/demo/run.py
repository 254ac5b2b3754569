"""What `breakglass demo` does, act by act. The task in commands/setup.py only calls `run`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from breakglass.commands._common import App
from breakglass.commands._runner import build_services, options
from breakglass.connectors import pgbin
from breakglass.connectors.pgcluster import EmbeddedCluster
from breakglass.demo import sandbox
from breakglass.engine.executor import RunResult, execute
from breakglass.recovery.verify import BackupVerify


def _verify(config_path: Path) -> RunResult:
    app = App(str(config_path))
    runbook = BackupVerify(app.config, {"only": None, "all": False})
    return execute(runbook, options(app, dry_run=False, yes=False), build_services(app, False))


def run(root: Path, console: Console) -> int:
    """Returns 0 when breakglass behaved as it must: the good backup passes and the truncated
    one is caught. Anything else is 1 (or the could-not-verify code 3)."""
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
            backup = sandbox.dump(prod, root / "store", rows, major)
            console.print(f"[green]✓[/] took a backup with pg_dump -Fc: store/{backup.name} "
                          f"({backup.stat().st_size / 1e6:.1f} MB) and its manifest")
        console.print("[green]✓[/] stopped the production PostgreSQL")
        config = sandbox.write_config(root, chat.start())
        console.print(f"[green]✓[/] wrote {config.relative_to(root.parent)}; owner 'dana' "
                      "(backup_restore) gets notices on a local receiver\n")

        console.rule("Act 1: verify the backup we just took")
        first = _verify(config)

        console.print()
        console.rule("Act 2: a newer backup that ends early (a killed upload, a full disk)")
        bad = sandbox.truncate_copy(backup)
        console.print(f"wrote store/{bad.name}: the first two thirds of the dump, no manifest\n")
        second = _verify(config)
    finally:
        chat.stop()

    console.print()
    console.rule("What happened")
    caught = any(f.code == "ARCHIVE_TRUNCATED" for f in second.findings)
    console.print(f"act 1: {first.status} (exit {first.exit_code}) — the fresh backup reads to "
                  "the end and matches its manifest")
    console.print(f"act 2: {second.status} (exit {second.exit_code}) — "
                  + ("ARCHIVE_TRUNCATED caught: pg_restore --list alone would have passed it"
                     if caught else "the truncated backup was NOT caught"))
    console.print(f"owners' notices received by the local chat: {len(chat.titles)}")
    for title in chat.titles:
        console.print(f"  • {title}")
    for result in (first, second):
        if "html" in result.reports:
            console.print(f"report of {result.runbook} run {result.run_id}: "
                          f"{result.reports['html']}")
    shown = config.relative_to(Path.cwd()) if config.is_relative_to(Path.cwd()) else config
    console.print(f"journals: breakglass runs.list --config {shown}")
    if first.exit_code != 0:
        return first.exit_code
    return 0 if caught else 1
