"""`breakglass leak.purge` (docs/leak-purge.md)."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import FORMAT_HELP, App, handle_errors


@task(help={
    "repo": "the local clone whose history is purged (only read: the rewrite happens in a "
            "fresh mirror clone under state_dir/purge/); default: [secrets.NAME] repository",
    "secret": "the [secrets.NAME] whose value leaked",
    "value": "a reference to the leaked value (env:NAME, file:PATH) when the store no longer "
             "holds it (after `rotate --leaked`); default: the value the store holds now",
    "push": "force-push the rewritten branches and tags to this remote of --repo (needs --yes)",
    "dry_run": "observe and print the plan; rewrite nothing",
    "yes": "apply the plan without asking (and allow --push)",
    "json_": "the same as --format json",
    "format_": FORMAT_HELP,
    "config": "path to breakglass.toml",
})
@handle_errors
def purge(c: Context, secret: str = "", repo: str = "", value: str = "", push: str = "",
          dry_run: bool = False, yes: bool = False, json_: bool = False, format_: str = "",
          config: str | None = None) -> None:
    """Remove a leaked secret's value from a repository's history (git-filter-repo, in a fresh
    mirror clone), prove every ref clean, print the force-push and re-clone commands.

    Never pushes unless --push REMOTE --yes. Exit 0 every ref clean, 1 a ref still holds the
    value, 2 usage/config error, 3 could not verify (git-filter-repo missing)."""
    from pathlib import Path

    from breakglass.commands._runner import run_runbook
    from breakglass.errors import UsageError
    from breakglass.runbooks.rotate import purge as p
    from breakglass.runbooks.rotate.runbook import kind_for

    if not secret.strip():
        raise UsageError("leak.purge needs --secret NAME (a [secrets.NAME]), e.g. "
                         "`breakglass leak.purge --repo . --secret STRIPE_KEY --dry-run`")
    app = App(config, json_, fmt=format_)
    cfg = kind_for(app.config, secret).cfg
    if not repo and cfg.repository is None:
        raise UsageError(f"leak.purge needs --repo PATH (secrets.{secret} has no repository)")
    where = (Path(repo) if repo else Path(str(cfg.repository))).resolve()
    remotes = p.remotes_of(where) if where.is_dir() else {}
    app.redactor.register_many(p.url_secret(u) for u in remotes.values())
    url = p.check_inputs(where, push, yes)
    code = run_runbook(app, p.LeakPurge, {"secret": secret, "repo": str(where),
                                          "value_ref": value, "push": push,
                                          "push_url": url or ""},
                       dry_run=dry_run, yes=yes)
    if code == 0 and not dry_run and not app.json_output:
        mirror = p.mirror_path(app.config.project.state_dir, secret)
        print("\nnext, paste (each line is one command):")
        for line in p.paste_commands(mirror, where, remotes, pushed=bool(push)):
            print(line)
    if code:
        raise Exit(code=code)
