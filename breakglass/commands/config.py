"""`breakglass config.check`."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from breakglass.commands._common import FORMAT_HELP, App, handle_errors, write_json


@task(help={"config": "path to breakglass.toml (default: $BREAKGLASS_CONFIG, ./breakglass.toml)",
            "json_": "the same as --format json", "format_": FORMAT_HELP})
@handle_errors
def check(c: Context, config: str | None = None, json_: bool = False, format_: str = "") -> None:
    """Validate breakglass.toml, resolve every secret reference, print the config masked."""
    from breakglass.config.show import display, resolve_all, settings
    from breakglass.errors import ConfigError, CouldNotVerify

    app = App(config_path=config, json_output=json_, fmt=format_)
    cfg = app.config
    statuses = resolve_all(cfg, app.secrets)
    failed = [s for s in statuses if s.problem is not None]
    incomplete = [f"secrets.{name}: {problem}" for name, secret in cfg.secrets.items()
                  for problem in secret.rotation_problems()]
    if failed or incomplete:
        lines = [f"{s.key}: {s.problem}" for s in failed] + incomplete
        source = str(cfg.path) if cfg.path else None
        # A reference that names nothing is the user's to fix (2); AWS being unreachable or
        # refusing the credentials means the check could not run (3), never a pass.
        if incomplete or any(not s.unverified for s in failed):
            raise ConfigError(lines, source)
        raise CouldNotVerify("could not resolve every secret reference:\n  " + "\n  ".join(lines))

    rows = settings(cfg, statuses)
    if app.json_output:
        from breakglass.engine.results import document

        write_json(app, document("config", {"config": str(cfg.path), "valid": True,
                                            "settings": dict(rows),
                                            "secrets": [s.to_dict() for s in statuses]}))
        return

    from rich.text import Text

    from breakglass.engine import render

    app.console.print(Text(str(cfg.path), style="bold"), soft_wrap=True)
    render.rows(app.console, ("key", "value"), ([Text(k), Text(display(v))] for k, v in rows),
                app.tables)
    app.console.print(f"✓ configuration valid; {len(statuses)} secret reference(s) resolved "
                      "(values masked)")
