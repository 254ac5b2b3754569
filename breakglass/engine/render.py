"""Output for people (rich): the plan, step progress, findings, deliveries, the run summary.

Only the executor and the tasks call these. Text from steps and journals is passed as rich `Text`
(never as markup), so a bracket in a key name cannot restyle or hide output. The console writes
through the process's redacting stream.

Nothing a person copies is ever split: on a terminal long lines are wrapped at spaces only
(`say`: never inside a word, a code, an id, a path or a `command`), in a pipe or a log never;
findings are stacked blocks, and rows are a table only when the task asks for one and it fits
(`rows`), else one line per row (pipes: `grep` counts them) or a block per row (a narrow
terminal). docs/runs.md, "Output".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from breakglass.engine.findings import Finding, Outcome, Severity

if TYPE_CHECKING:
    from rich.console import Console

    from breakglass.engine.runbook import Plan
    from breakglass.engine.runs import RunSummary


# A word, or a `command in backquotes` with what sticks to it ("`breakglass runs.resume ID`,"):
# the units a line may break between. A command is never broken inside.
_TOKEN = re.compile(r"(?:`[^`]*`|\S)+\s*")


def say(console: Console, text: Text, indent: int = 0) -> None:
    """Print `text`; on a terminal, wrapped at spaces with continuation lines indented by
    `indent` more than the first, never inside a word, a code, a path or a `command` (a token
    longer than the line is left to the terminal). In a pipe or a log one fact stays one line,
    as grep and log search want it."""
    width = console.width
    if not console.is_terminal or text.cell_len <= width:
        console.print(text, soft_wrap=True)
        return
    plain = text.plain
    lead = len(plain) - len(plain.lstrip(" "))
    breaks, col = [], lead
    for m in _TOKEN.finditer(plain, lead):
        word = len(m.group().rstrip())
        if m.start() > lead and col + word > width:
            breaks.append(m.start())
            col = lead + indent
        col += len(m.group())
    parts = text.divide(breaks)
    for i, part in enumerate(parts):
        part.rstrip()
        console.print(part if i == 0 else Text(" " * (lead + indent)) + part, soft_wrap=True)


def plan(console: Console, runbook: str, target: str, run_id: str,
         planned: Sequence[tuple[str, str, Plan]], dry_run: bool) -> None:
    head = "Plan (dry run: nothing will change)" if dry_run else "Plan"
    say(console, Text(f"{head} — {runbook} on {target}, run {run_id}", style="bold"), indent=2)
    for i, (name, title, p) in enumerate(planned, start=1):
        console.print(Text(f"{i}. {title or name} [{name}]"), soft_wrap=True)
        if p.is_noop:
            say(console, Text(f"   no change: {p.noop_reason or 'nothing to do'}", style="dim"),
                indent=2)
        for a in p.actions:
            line = Text("   ")
            if a.destructive:
                line.append("DESTRUCTIVE ", style="bold red")
            line.append(a.description)
            if a.target:
                line.append(f" -> {a.target}", style="cyan")
            say(console, line, indent=2)


def undo_plan(console: Console, run_id: str, todo: Sequence[tuple[str, str]],
              manual: Sequence[tuple[str, str]]) -> None:
    """What `runs.undo` will reverse, newest first, and what it cannot."""
    if not todo and not manual:
        console.print(Text(f"Undo of run {run_id}: no applied step to undo"), soft_wrap=True)
        return
    console.print(Text(f"Undo of run {run_id}, newest first", style="bold"), soft_wrap=True)
    for i, (name, title) in enumerate(todo, start=1):
        console.print(Text(f"{i}. undo {title or name} [{name}]"), soft_wrap=True)
    for name, title in manual:
        console.print(Text(f"   NO UNDO: {title or name} [{name}] stays applied; reverse it by "
                           "hand", style="bold yellow"), soft_wrap=True)


def precondition(console: Console, item: str, title: str, ok: bool, detail: str,
                 not_configured: bool = False) -> None:
    if not_configured:  # never a ✓: nothing was checked
        mark, text = "[dim]–[/]", f"{title}: not configured ({detail})"
    else:
        mark = "[green]✓[/]" if ok else "[yellow]✗[/]"
        text = title if ok else f"{title}: {detail}"
    say(console, Text.from_markup(f"  {mark} precondition {escape(item)}: {escape(text)}"),
        indent=4)


def step_status(console: Console, name: str, status: str, detail: str = "") -> None:
    style = {"done": "green", "noop": "dim", "failed": "bold red", "undone": "yellow",
             "undo failed": "bold red", "passed": "green"}.get(status, "")
    line = Text(f"  {status:<12}", style=style)  # "undo failed" + a space
    line.append(name)
    if detail:
        line.append(f"  {detail}", style="dim")
    say(console, line, indent=12)


_MARK = {Outcome.OK: "✓", Outcome.NOTE: "·", Outcome.FAILED: "✗", Outcome.UNVERIFIED: "?"}


def _finding_style(f: Finding) -> str:
    if f.outcome is Outcome.OK:
        return "green"
    if f.outcome is Outcome.UNVERIFIED:
        return "yellow"
    return {Severity.INFO: "dim", Severity.WARNING: "yellow"}.get(f.severity, "red")


def findings(console: Console, items: Iterable[Finding]) -> None:
    """One block per finding, not a table: a code, a host name or a command to paste is never
    split across lines by a narrow column (at 80 columns or in a pipe); long lines are wrapped
    at spaces on a terminal only (`say`).

        ✗ CODE  severity  subject        (✓ ok, · note, ✗ failed, ? could not verify)
          what was seen
          next: what to do
    """
    for f in items:
        head = Text(f"{_MARK[f.outcome]} ")
        head.append(f.code, style=_finding_style(f))
        head.append(f"  {f.label}")
        if f.subject:
            head.append(f"  {f.subject}", style="cyan")
        console.print(head, soft_wrap=True)
        say(console, Text(f"  {f.message}"))
        if f.action and f.outcome is not Outcome.OK:  # an ok's action is "nothing to do"
            say(console, Text(f"  next: {f.action}", style="dim"), indent=6)
        # Commands to paste (a rotation's recovery plan) are printed one per line, whole.
        plan = f.evidence.get("recovery_plan")
        if isinstance(plan, list) and plan:
            console.print(Text(f"Recovery plan ({f.code}, {f.subject}):", style="bold"))
            for i, line in enumerate(plan, start=1):
                console.print(Text(f"  {i}. {line}"), soft_wrap=True)


def deliveries(console: Console, items: Iterable[dict[str, Any]]) -> None:
    """Failed notices are shown (never fatal); delivered ones are summarised in one line."""
    items = list(items)
    ok = [d for d in items if d.get("ok")]
    if ok:
        console.print(Text(f"notified: {len(ok)} notice(s) delivered", style="dim"), soft_wrap=True)
    for d in items:
        if not d.get("ok"):
            say(console, Text(f"notice not delivered: {d.get('event')} -> {d.get('person')} "
                              f"via {d.get('channel')}: {d.get('error')}", style="yellow"),
                indent=2)


def status_words(status: str | None) -> str:
    """A recorded status as a person reads it at the end of a run: "rolled back" is the
    engine's word for a run that failed and undid its own changes, and read after a drill or a
    rollback it sounds like production was rolled back."""
    if status == "rolled back":
        return "failed (what it had changed was undone)"
    return status or "unfinished"


def summary_line(console: Console, s: RunSummary, reports: Iterable[str]) -> None:
    code = s.computed_exit_code()
    style = "green" if code == 0 else ("yellow" if code == 3 else "red")
    # The run id is what people paste into runs.resume: say() never breaks it.
    say(console, Text(f"{s.runbook} on {s.target}: {status_words(s.status)} (exit {code}), "
                      f"run {s.run_id}", style=f"bold {style}"), indent=2)
    _reports(console, reports)


def _reports(console: Console, reports: Iterable[str]) -> None:
    """The report's path, once: a path to open is never cut, and its siblings differ only in
    their suffix."""
    paths = [Path(p) for p in reports]
    if not paths:
        return
    main = next((p for p in paths if p.suffix == ".html"), paths[0])
    also = [p.suffix for p in paths if p != main]
    say(console, Text(f"report: {main}" + (f" (also {', '.join(also)})" if also else ""),
                      style="dim"), indent=2)


def rows(console: Console, headers: Sequence[str], cells: Iterable[Sequence[Text]],
         tables: bool) -> None:
    """Rows as a rich table (`tables`), one line per row, or stacked blocks.

    In a table every column but the last keeps its words whole (no_wrap: an id, a code, a
    runbook name) and the last wraps at spaces; a table whose whole columns would not fit the
    terminal (rich would cut them with an ellipsis) is not printed as one. In a pipe or a log,
    one line per row, aligned, never wrapped, so `grep` and `cut` see each row whole. On a
    terminal too narrow for a row's line, a block per row: the first cells that fit on its
    first line (an id, a runbook, a target: what grep looks for), then `header: value` lines,
    so the terminal never has to cut a word."""
    cells = [list(row) for row in cells]
    widths = [max([len(h), *(row[i].cell_len for row in cells)]) for i, h in enumerate(headers)]
    if tables and sum(widths[:-1]) + 2 * len(widths) + min(widths[-1], 20) <= console.width:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for i, h in enumerate(headers):
            last = i == len(headers) - 1
            table.add_column(h, no_wrap=not last, min_width=None if last else widths[i])
        for row in cells:
            table.add_row(*row)
        console.print(table)
        return

    if console.is_terminal and sum(widths) + 2 * (len(widths) - 1) > console.width:
        for row in cells:
            _block(console, headers, row)
        return

    def line(items: Sequence[Text], style: str = "") -> Text:
        out = Text(style=style)
        for i, item in enumerate(items):
            last = i == len(items) - 1
            out.append_text(item if last else item + Text(" " * (widths[i] - item.cell_len + 2)))
        out.rstrip()
        return out

    console.print(line([Text(h) for h in headers], style="bold"), soft_wrap=True)
    for row in cells:
        console.print(line(row), soft_wrap=True)


def _block(console: Console, headers: Sequence[str], row: Sequence[Text]) -> None:
    """One row as lines no wider than the terminal (but a cell longer than a line keeps its
    own line whole): the leading cells, then the others labelled by their header."""
    width, first, i = console.width, Text(), 0
    while i < len(row) and (i == 0 or first.cell_len + 2 + row[i].cell_len <= width):
        first = first + Text("  ") + row[i] if i else row[i].copy()
        i += 1
    console.print(first, soft_wrap=True)
    rest = Text("  ")
    for h, cell in zip(headers[i:], row[i:], strict=True):
        if not cell.plain:
            continue
        item = Text(f"{h}: ") + cell
        if rest.cell_len > 2 and rest.cell_len + 2 + item.cell_len > width:
            console.print(rest, soft_wrap=True)
            rest = Text("  ")
        rest = rest + Text("  ") + item if rest.cell_len > 2 else rest + item
    if rest.cell_len > 2:
        console.print(rest, soft_wrap=True)


def runs_table(console: Console, runs: Sequence[dict[str, Any]], tables: bool) -> None:
    # The id is what people copy into runs.show/resume: never truncated or wrapped (rows()).
    rows(console, ("id", "runbook", "target", "started", "status", "exit"),
         ([Text(r["run_id"]), Text(r["runbook"]), Text(r["target"]),
           Text(str(r["started"] or "")[:19].replace("T", " ")),
           Text(r["status"], style=_status_style(r["status"])),
           Text("" if r["exit_code"] is None else str(r["exit_code"]))] for r in runs), tables)
    if any(r.get("journal_ok") is False for r in runs):
        console.print(Text("TAMPERED: the journal does not verify; what it claims is not shown "
                           "as a result. See `breakglass runs.verify ID`.", style="bold red"),
                      soft_wrap=True)


def _status_style(status: str) -> str:
    return "bold red" if status in ("TAMPERED", "end unconfirmed") else ""


def _integrity(console: Console, d: dict[str, Any]) -> None:
    """What runs.show says first when the journal is not to be believed as it stands."""
    if d.get("journal_problems"):
        console.print(Text(f"TAMPERED: this journal does not verify "
                           f"({d['journal_problems'][0]}); it claims "
                           f"{d.get('claimed_status') or 'no end'}. Everything below is its "
                           "claim, not a result. See `breakglass runs.verify "
                           f"{d['run_id']}`.", style="bold red"), soft_wrap=True)
    elif d.get("unconfirmed_end") and d.get("status") == "end unconfirmed":
        console.print(Text(f"end unconfirmed: the last event says {d['unconfirmed_end']!r}, but "
                           "the journal's head does not confirm it (a crash just after it was "
                           "written, or an edit). Finish the run with `breakglass runs.resume "
                           f"{d['run_id']}`, or check it against the hash in its notice with "
                           f"`breakglass runs.verify {d['run_id']} --anchor HASH`.",
                           style="bold red"), soft_wrap=True)


def run_detail(console: Console, d: dict[str, Any], reports: Iterable[str]) -> None:
    console.print(Text(f"run {d['run_id']}: {d['runbook']} on {d['target']} — {d['status']}",
                       style="bold"))
    _integrity(console, d)
    say(console, Text(f"started {d['started']}, finished {d['finished'] or '-'}, "
                      f"exit {d['exit_code'] if d['exit_code'] is not None else '-'}, "
                      f"verdict {d['verdict']}"))
    for s in d["steps"]:
        p = s["plan"]
        detail = (f"no change: {p.get('noop_reason')}" if not p.get("actions") else
                  "; ".join(("DESTRUCTIVE " if a.get("destructive") else "") + a["description"]
                            + (f" -> {a['target']}" if a.get("target") else "")
                            for a in p["actions"]))
        # A failed step names the codes that failed it; what they say follows once, below.
        failed = ", ".join(dict.fromkeys(f["code"] for f in s["findings"]
                                         if Finding.from_dict(f).counts))
        step_status(console, s["step"], s["status"], f"{failed}: {detail}" if failed else detail)
    findings(console, [Finding.from_dict(f) for f in d["findings"]])
    deliveries(console, d["deliveries"])
    for t in d["lock_takeovers"]:
        console.print(Text(t, style="yellow"), soft_wrap=True)
    console.print(Text(f"journal: {d['journal']} (head {d['journal_head'][:16]}…)",
                       style="dim"), soft_wrap=True)
    if d.get("final_hash"):
        sent = ", ".join(dict.fromkeys(str(a["to"]) for a in d.get("anchors") or []
                                       if a.get("ok")))
        sent = sent or "nobody: no notice carrying it was delivered"
        say(console, Text(f"final hash: {d['final_hash']} (sent to {sent}; compare with "
                          f"`breakglass runs.verify {d['run_id']} --anchor HASH`)",
                          style="dim"), indent=2)
    _reports(console, reports)
