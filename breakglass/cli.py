"""The `breakglass` console script: an invoke Program over one explicit Collection.

Only invoke is imported at start-up (plus the small command modules); pydantic, boto3, psycopg,
paramiko, apprise and sentry_sdk are imported inside the tasks that use them, so that
`breakglass --help` stays as fast as `inv --list` (bench/cli_start.py measures it).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from invoke.collection import Collection

from breakglass import __version__
from breakglass.commands import (
    backup,
    checklist,
    config,
    doctor,
    drill,
    incident,
    leak,
    lockout,
    notify,
    rollback,
    rotate,
    runs,
    setup,
    state,
)
from breakglass.program import UsageRules


def build_namespace() -> Collection:
    ns = Collection()
    ns.add_task(setup.init)
    ns.add_task(setup.keygen)
    ns.add_task(doctor.doctor)
    ns.add_task(setup.docs)
    ns.add_task(setup.demo)
    ns.add_collection(Collection("config", config.check))
    ns.add_task(rotate.rotate)
    ns.add_task(lockout.lockout)
    ns.add_task(lockout.unlock)
    ns.add_task(rollback.rollback)
    ns.add_task(checklist.check)
    ns.add_task(checklist.attest)
    ns.add_collection(Collection("backup", backup.verify, backup.take))
    ns.add_collection(Collection("notify", notify.test))
    ns.add_collection(Collection("drill", drill.restore, drill.schedule, drill.scenarios))
    runs_ns = Collection("runs")
    runs_ns.add_task(runs.list_, name="list")
    runs_ns.add_task(runs.show)
    runs_ns.add_task(runs.resume)
    runs_ns.add_task(runs.undo)
    runs_ns.add_task(runs.verify)
    ns.add_collection(runs_ns)
    ns.add_collection(Collection("state", state.push))
    incident_ns = Collection("incident")
    incident_ns.add_task(incident.open_, name="open")
    incident_ns.add_task(incident.note)
    incident_ns.add_task(incident.timeline)
    incident_ns.add_task(incident.close)
    ns.add_collection(incident_ns)
    ns.add_collection(Collection("leak", leak.purge))
    return ns


namespace = build_namespace()


def help_first(argv: Any) -> Any:
    """`breakglass lockout --help` -> `breakglass --help lockout`. invoke gives the token after a
    task with a positional argument (USER, NAME, ITEM) to that argument, even "--help", so the
    task would run with user "--help"; people type the help flag after the task name."""
    if isinstance(argv, str):
        return argv
    args = list(argv)
    rest = args[1:]
    if not any(a in ("--help", "-h") for a in rest):
        return args
    tasks = [a for a in rest if not a.startswith("-")]
    if not tasks or rest.index(tasks[0]) > min(rest.index(a) for a in rest
                                               if a in ("--help", "-h")):
        return args  # `breakglass --help [TASK]`: invoke's own form
    return [args[0], "--help", tasks[0]]


def docs_topic_optional(argv: Any) -> Any:
    """`breakglass docs` alone lists the topics. invoke has no optional positional argument
    (TOPIC), so the empty topic is given for it."""
    if isinstance(argv, str):
        return argv
    args = list(argv)
    asks_help = any(a in ("--help", "-h") for a in args)
    return [*args, ""] if args[1:] and args[-1] == "docs" and not asks_help else args


class BreakglassProgram(UsageRules):
    """breakglass's usage rules (breakglass/program.py: exit 2, "did you mean", one short flag
    per option), the help flag after a task, and a help page that shows what matters."""

    def run(self, argv: Any = None, exit: bool = True) -> None:
        super().run(docs_topic_optional(help_first(sys.argv if argv is None else argv)),
                    exit)

    # invoke's own core flags (--pty, --hide, --echo, --prompt-for-sudo-password, -f …) shape
    # `c.run()`, which breakglass does not use: the help shows only the ones that mean something.
    SHOWN_CORE = ("--help", "--list", "--version", "--print-completion-script", "--complete")

    def print_help(self) -> None:
        print(f"Usage: {self.binary} TASK [--task-options] ...   "
              f"(`{self.binary} --help TASK` explains one task)")
        print("")
        print("Options:")
        print("")
        self.print_columns([t for t in self.initial_context.help_tuples()
                            if set(re.findall(r"--[a-z-]+", t[0])) & set(self.SHOWN_CORE)])
        self.list_tasks()
        print("Exit codes: 0 passed, 1 a finding, 2 usage or configuration error, "
              "3 could not verify.")
        print(f"Docs: `{self.binary} docs` lists the topics, `{self.binary} docs TOPIC` prints "
              "one; every task reads ./breakglass.toml unless --config is given.")


program = BreakglassProgram(name="breakglass", binary="breakglass", version=__version__,
                            namespace=namespace)


def main() -> None:
    try:
        program.run()
        sys.stdout.flush()
    except BrokenPipeError:
        # `breakglass runs.list | head`: the reader left; say nothing more (Python docs,
        # "Note on SIGPIPE"), and keep the interpreter from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
