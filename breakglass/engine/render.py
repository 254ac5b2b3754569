"""Output for people (rich): the plan, step progress, findings, deliveries, the run summary.

Only the executor and the `runs.*` tasks call these. Text from steps and journals is passed as
rich `Text` (never as markup), so a bracket in a key name cannot restyle or hide output. The
console writes through the process's redacting stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from breakglass.engine.findings import Finding, Outcome, Severity

if TYPE_CHECKING:
    from rich.console import Console

    from breakglass.engine.runbook import Plan
    from breakglass.engine.runs import RunSummary


def plan(console: Console, runbook: str, target: str, run_id: str,
         planned: Sequence[tuple[str, str, Plan]], dry_run: bool) -> None:
    head = "Plan (dry run: nothing will change)" if dry_run else "Plan"
    console.print(Text(f"{head} — {runbook} on {target}, run {run_id}", style="bold"),
                  soft_wrap=True)
    for i, (name, title, p) in enumerate(planned, start=1):
        console.print(Text(f"{i}. {title or name} [{name}]"), soft_wrap=True)
        if p.is_noop:
            console.print(Text(f"   no change: {p.noop_reason or 'nothing to do'}", style="dim"),
                          soft_wrap=True)
        for a in p.actions:
            line = Text("   ")
            if a.destructive:
                line.append("DESTRUCTIVE ", style="bold red")
            line.append(a.description)
            if a.target:
                line.append(f" -> {a.target}", style="cyan")
            console.print(line, soft_wrap=True)


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
    console.print(f"  {mark} precondition {escape(item)}: {escape(text)}", soft_wrap=True)


def step_status(console: Console, name: str, status: str, detail: str = "") -> None:
    style = {"done": "green", "noop": "dim", "failed": "bold red", "undone": "yellow",
             "undo failed": "bold red", "passed": "green"}.get(status, "")
    line = Text(f"  {status:<12}", style=style)  # "undo failed" + a space
    line.append(name)
    if detail:
        line.append(f"  {detail}", style="dim")
    console.print(line, soft_wrap=True)


def _finding_style(f: Finding) -> str:
    if f.outcome is Outcome.UNVERIFIED:
        return "yellow"
    return {Severity.INFO: "dim", Severity.WARNING: "yellow"}.get(f.severity, "red")


def findings(console: Console, items: Iterable[Finding]) -> None:
    """One block per finding, not a table: a code, a host name or a command to paste is never
    split across lines by a narrow column (at 80 columns or in a pipe); long lines are left to
    the terminal to wrap, so they copy whole.

        ✗ CODE  severity  subject
          what was seen
          next: what to do
    """
    for f in items:
        sev = "unverified" if f.outcome is Outcome.UNVERIFIED else f.severity.value
        mark = "·" if not f.counts else ("?" if f.outcome is Outcome.UNVERIFIED else "✗")
        head = Text(f"{mark} ")
        head.append(f.code, style=_finding_style(f))
        head.append(f"  {sev}")
        if f.subject:
            head.append(f"  {f.subject}", style="cyan")
        console.print(head, soft_wrap=True)
        console.print(Text(f"  {f.message}"), soft_wrap=True)
        if f.action:
            console.print(Text(f"  next: {f.action}", style="dim"), soft_wrap=True)
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
            console.print(Text(f"notice not delivered: {d.get('event')} -> {d.get('person')} "
                               f"via {d.get('channel')}: {d.get('error')}", style="yellow"))


def summary_line(console: Console, s: RunSummary, reports: Iterable[str]) -> None:
    code = s.computed_exit_code()
    style = "green" if code == 0 else ("yellow" if code == 3 else "red")
    # soft_wrap: the run id is what people paste into runs.resume; never break it.
    console.print(Text(f"{s.runbook} on {s.target}: {s.status} (exit {code}), run {s.run_id}",
                       style=f"bold {style}"), soft_wrap=True)
    paths = list(reports)
    if paths:
        console.print(Text("report: " + ", ".join(paths), style="dim"), soft_wrap=True)


def runs_table(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    # The id is what people copy into runs.show/resume: never truncate or wrap it.
    table.add_column("id", no_wrap=True, min_width=max((len(r["run_id"]) for r in rows),
                                                       default=2))
    for col in ("runbook", "target", "started", "status", "exit"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(Text(r["run_id"]), Text(r["runbook"]), Text(r["target"]),
                      Text(str(r["started"] or "")[:19].replace("T", " ")),
                      Text(r["status"], style=_status_style(r["status"])),
                      Text("" if r["exit_code"] is None else str(r["exit_code"])))
    console.print(table)
    if any(r.get("journal_ok") is False for r in rows):
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
    console.print(Text(f"started {d['started']}, finished {d['finished'] or '-'}, "
                       f"exit {d['exit_code'] if d['exit_code'] is not None else '-'}, "
                       f"verdict {d['verdict']}"))
    for s in d["steps"]:
        p = s["plan"]
        detail = (f"no change: {p.get('noop_reason')}" if not p.get("actions") else
                  "; ".join(("DESTRUCTIVE " if a.get("destructive") else "") + a["description"]
                            + (f" -> {a['target']}" if a.get("target") else "")
                            for a in p["actions"]))
        step_status(console, s["step"], s["status"], detail + (f" ({s['error']})"
                                                               if s["error"] else ""))
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
        console.print(Text(f"final hash: {d['final_hash']} (sent to {sent}; compare with "
                           f"`breakglass runs.verify {d['run_id']} --anchor HASH`)",
                           style="dim"), soft_wrap=True)
    paths = list(reports)
    if paths:
        console.print(Text("report: " + ", ".join(paths), style="dim"), soft_wrap=True)
