"""breakglass's usage rules for an invoke Program: shared by the `breakglass` console script
(cli.BreakglassProgram) and `inv` (tasks.py adopts inv's running program), so that both give the
same exit codes and the same flags.

- A usage error exits 2, never invoke's 1 (1 means "ran and found a problem").
- A mistyped task or flag gets "did you mean …" (difflib, as `git` and `pip` do).
- Short flags: invoke derives one from each option's first free letter, per task, so `-e` was
  `--because` in backup.take and `--env` in drill.restore. Here the task's own short flags are
  dropped and only SHORT_FLAGS are given, each with one meaning in every task.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.parser.parser import Parser
from invoke.program import Program

from breakglass.errors import EXIT_USAGE

#: long option -> its one short form, the same in every task that has the option
SHORT_FLAGS = {"config": "c", "dry-run": "n", "json": "j", "yes": "y"}

_UNKNOWN = re.compile(r"^No idea what '(?P<token>.*)' is!$")


def with_short_flags(ctx: ParserContext) -> ParserContext:
    """`ctx` with its arguments' names reduced to the long one plus SHORT_FLAGS' letter."""
    args: list[Argument] = []
    for arg in ctx.args.values():
        long = arg.names[0]
        arg.names = (long, SHORT_FLAGS[long]) if long in SHORT_FLAGS else (long,)
        args.append(arg)
    return ParserContext(name=ctx.name, aliases=ctx.aliases, args=args)


def suggest(token: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(token, choices, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


class UsageRules(Program):
    """The rules above, as overrides of invoke's Program (2.x) parsing steps."""

    def _make_parser(self) -> Parser:
        contexts = self.collection.to_contexts(
            ignore_unknown_help=self.config.tasks.ignore_unknown_help)
        return Parser(initial=self.initial_context,
                      contexts=[with_short_flags(c) for c in contexts])

    def _usage_error(self, exc: ParseError) -> Exit:
        message = str(exc)
        m = _UNKNOWN.match(message)
        if m is not None:
            token = m["token"]
            ctx: Any = getattr(exc, "context", None)
            if token.startswith("-") and ctx is not None and ctx.name:
                flags = [f for f in ctx.flags if f.startswith("--")]
                message = (f"{ctx.name} has no option {token}{suggest(token, flags)} "
                           f"(`{self.binary} --help {ctx.name}` lists them)")
            else:
                tasks = sorted(self.collection.task_names)
                message = (f"no task {token!r}{suggest(token, tasks)} "
                           f"(`{self.binary} --list` lists them)")
        return Exit(f"{self.binary}: {message}", code=EXIT_USAGE)

    def parse_core(self, argv: Any) -> None:
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise self._usage_error(exc) from None

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise self._usage_error(exc) from None

    def parse_cleanup(self) -> None:
        # `--help TASK` with an unknown TASK is raised here
        try:
            super().parse_cleanup()
        except ParseError as exc:
            raise self._usage_error(exc) from None


def adopt(program: Program) -> None:
    """Give a Program that is already running (inv's, which loads tasks.py after parsing its
    own core flags) these rules: its class becomes a subclass with UsageRules mixed in. This is
    the only hook: inv builds its Program before any project code runs."""
    if not isinstance(program, UsageRules):
        program.__class__ = type(f"Breakglass{type(program).__name__}",
                                 (UsageRules, type(program)), {})
