"""`breakglass init`, `breakglass keygen`, `breakglass docs` and `breakglass demo`: the first
hour."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from breakglass.commands._common import handle_errors

_NEXT = {
    "backups": "set DATABASE_URL, make the backup key with `breakglass keygen` (or set "
               "BACKUP_AGE_IDENTITY), point [backups.main] store at a folder or bucket",
    "incident": "set ALICE_NOTIFY_URL, put your host and SSH key in [hosts.web1]",
    "full": "set the references it names (or delete the sections you do not need)",
}


@task(help={"path": "where to write the starter file (default ./breakglass.toml)",
            "force": "overwrite an existing file",
            "profile": "backups (default: one database, backups and the restore drill), "
                       "incident (lockout, rollback, notices) or full (every section)"})
@handle_errors
def init(c: Context, path: str = "breakglass.toml", force: bool = False,
         profile: str = "backups") -> None:
    """Write a commented starter breakglass.toml (secret references only, never values)."""
    from breakglass.config.starter import write_starter

    written = write_starter(path, force=force, profile=profile)
    print(f"wrote {written} (profile {profile})\n"
          f"next: {_NEXT[profile]};\n"
          "then `breakglass config.check` (the file) and `breakglass doctor` (connects to "
          "everything it names)")


@task(help={"path": "where to write the identity (default ~/.config/breakglass/"
                    "age-identity.txt); never overwritten"})
@handle_errors
def keygen(c: Context, path: str = "~/.config/breakglass/age-identity.txt") -> None:
    """Make an age identity (decrypts backups) and its recipient (encrypts them).

    The identity is written 0600 to --path and never printed; the recipient (public) and the
    line to put in [backups.NAME] are."""
    from breakglass.recovery.keygen import write_identity

    key = write_identity(path)
    print(f"wrote the age identity to {key.path} (mode 0600). Keep a copy offline: without it "
          "no backup encrypted to it can be restored.\n"
          f"recipient (public key): {key.recipient}\n"
          "add this line to [backups.NAME] in breakglass.toml (replacing identity = …):\n\n"
          f'identity = "file:{key.path}"\n\n'
          "A machine that only takes backups needs no identity: "
          f'recipients = ["{key.recipient}"]')


@task(positional=["topic"], help={
    "topic": "a page, e.g. backup-verify, drill.restore or checks/web (none: list them)"})
@handle_errors
def docs(c: Context, topic: str) -> None:
    """Print a page of the user docs (shipped with breakglass); no topic lists them."""
    from breakglass.userdocs import page, title, topics

    if topic:
        print(page(topic), end="")
        return
    known = topics()
    width = max(len(t) for t in known)
    print("breakglass docs TOPIC prints one of:")
    for name, doc in known.items():
        print(f"  {name:<{width}}  {title(doc)}")


@task(help={"dir": "sandbox directory (default ./demo-sandbox; rebuilt by every run)"})
@handle_errors
def demo(c: Context, dir: str = "demo-sandbox") -> None:
    """Try breakglass with nothing set up: an embedded PostgreSQL, backup.take, drill.restore.

    Starts a throw-away PostgreSQL as "production", seeds a small SaaS schema (~100k rows),
    takes a backup into a local store (backup.take), restores it into a disposable PostgreSQL
    and proves its rows (drill.restore), then shows a truncated backup being caught. Stops every
    server it started; the sandbox keeps the config, journals and reports."""
    from pathlib import Path

    from invoke.exceptions import Exit

    from breakglass.commands._common import App
    from breakglass.demo.run import run

    app = App()
    code = run(Path(dir).resolve(), app.console, app.redactor)
    if code:
        raise Exit(code=code)
