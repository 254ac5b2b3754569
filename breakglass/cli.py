"""The `breakglass` console script: an invoke Program over one explicit Collection.

Only invoke is imported at start-up (plus the small command modules); pydantic, boto3, psycopg,
paramiko, apprise and sentry_sdk are imported inside the tasks that use them, so that
`breakglass --help` stays as fast as `inv --list` (bench/cli_start.py measures it).
"""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from breakglass import __version__
from breakglass.commands import backup, config, notify, runs, setup
from breakglass.errors import EXIT_USAGE


def build_namespace() -> Collection:
    ns = Collection()
    ns.add_task(setup.init)
    ns.add_task(setup.demo)
    ns.add_collection(Collection("config", config.check))
    ns.add_collection(Collection("backup", backup.verify))
    ns.add_collection(Collection("notify", notify.test))
    runs_ns = Collection("runs")
    runs_ns.add_task(runs.list_, name="list")
    runs_ns.add_task(runs.show)
    runs_ns.add_task(runs.resume)
    runs_ns.add_task(runs.verify)
    ns.add_collection(runs_ns)
    return ns


namespace = build_namespace()


class BreakglassProgram(Program):
    """Maps a usage (parse) error to exit 2 — invoke's default is 1, which we reserve for
    findings. invoke prints an Exit's message and exits with its code."""

    def parse_core(self, argv: Any) -> None:
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise Exit(f"breakglass: {exc}", code=EXIT_USAGE) from None

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(f"breakglass: {exc}; see `breakglass --list`", code=EXIT_USAGE) from None


program = BreakglassProgram(name="breakglass", binary="breakglass", version=__version__,
                            namespace=namespace)


def main() -> None:
    program.run()


if __name__ == "__main__":
    main()
