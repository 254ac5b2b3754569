"""`breakglass runs.list / runs.show / runs.resume / runs.verify` (docs/runs.md).

Everything shown is rebuilt from the journals under `state_dir/runs/`, which are redacted as they
are written, and each journal's chain is checked first: one that does not verify is shown as
TAMPERED, never as what it claims. An unknown run id is a usage error (exit 2).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from breakglass.commands._common import STATE_HELP, App, handle_errors
from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.engine.runs import RunSummary
    from breakglass.state.base import State

_HELP = {"config": "path to breakglass.toml", "json_": "machine-readable output"}
_ID_HELP = {**_HELP, "run_id": "the run's id, as printed by the run and by runs.list"}


def _print_json(app: App, doc: Any) -> None:
    sys.stdout.write(json.dumps(app.redactor.redact_obj(doc), indent=2, default=str) + "\n")


def _state(app: App, run_ids: list[str] | None = None, newest: int | None = None) -> State:
    """The state, with the journals of `run_ids` (None: all, or the `newest` ones) brought into
    its local folder."""
    from breakglass.state import open_state

    state = open_state(app.config)
    state.sync_runs(run_ids, newest=newest)
    return state


@task(help={**_HELP, "limit": "how many of the newest runs to show (0: all; default 50)"})
@handle_errors
def list_(c: Context, config: str | None = None, json_: bool = False, limit: int = 50) -> None:
    """List the newest runs, the whole team's when the state is shared: id, runbook, target,
    started, status (running, interrupted, TAMPERED, not shared yet…)."""
    from breakglass.engine.runs import journal_paths, list_runs

    app = App(config, json_)
    if limit < 0:
        raise UsageError("--limit must be 0 (all runs) or more")
    newest = limit or None
    state = _state(app, newest=newest)
    unshared = set(state.unshared_runs())
    rows = [s.to_dict(state) for s in list_runs(state.local_dir, newest)]
    for r in rows:
        if r["run_id"] in unshared:
            r["status"] = f"{r['status']} (not shared yet)"
    older = len(journal_paths(state.local_dir)) - len(rows)
    if json_:
        _print_json(app, {"runs": [{k: r[k] for k in ("run_id", "runbook", "target", "started",
                                                      "finished", "status", "exit_code",
                                                      "journal_ok")}
                                   for r in rows]})
        return
    if not rows:
        app.console.print(f"no runs yet in {state.label}")
        return
    from breakglass.engine import render

    render.runs_table(app.console, rows)
    if older > 0:
        app.console.print(f"{older} older run(s) not shown (--limit 0 shows all)")


@task(help=_ID_HELP)
@handle_errors
def show(c: Context, run_id: str, config: str | None = None, json_: bool = False) -> None:
    """Show one run: its plan, steps, findings, notices and report paths."""
    from breakglass.engine.runs import find_journal, inspect, report_names

    app = App(config, json_)
    state = _state(app, [run_id])
    summary = inspect(find_journal(state.local_dir, run_id), run_id)
    doc = summary.to_dict(state)
    # From the state: a report written on another machine is fetched into the local cache.
    reports = {k: str(state.local_dir / name) for k, name in report_names(run_id).items()
               if state.get_blob(name) is not None}
    if json_:
        doc["reports"] = reports
        _print_json(app, doc)
        return
    from breakglass.engine import render

    render.run_detail(app.console, doc, reports.values())


@task(help={**STATE_HELP, **_ID_HELP, "yes": "apply without asking"})
@handle_errors
def resume(c: Context, run_id: str, config: str | None = None, yes: bool = False,
           json_: bool = False, local_state: bool = False, take_over: bool = False) -> None:
    """Finish a run: an interrupted or unconfirmed one goes on; a failed one is planned again
    from the steps not done (fix the cause first) and applied once confirmed; an incomplete
    undo is finished. Steps re-observe, so nothing is applied twice."""
    from breakglass.commands._runner import resume_run

    app = App(config, json_, local_state=local_state)
    code = resume_run(app, run_id, yes=yes, take_over=take_over)
    if code:
        raise Exit(code=code)


@task(help={**STATE_HELP, **_ID_HELP, "yes": "undo without asking"})
@handle_errors
def undo(c: Context, run_id: str, config: str | None = None, yes: bool = False,
         json_: bool = False, local_state: bool = False, take_over: bool = False) -> None:
    """Undo what an interrupted or failed run applied, newest step first; names the steps that
    have no undo. Exit 0 when everything applied was undone."""
    from breakglass.commands._runner import undo_run

    app = App(config, json_, local_state=local_state)
    code = undo_run(app, run_id, yes=yes, take_over=take_over)
    if code:
        raise Exit(code=code)


@task(help={**_ID_HELP, "anchor": "the run's final hash, copied from the notice it sent"})
@handle_errors
def verify(c: Context, run_id: str, config: str | None = None, anchor: str = "",
           json_: bool = False) -> None:
    """Check a run's journal: the hash chain (any edited, removed or reordered event: exit 1) and,
    with --anchor, that it holds the final hash the run sent out (a rewrite: exit 1). An
    unconfirmed last event without a matching anchor: exit 3. With the state on S3, also says
    whether the journal is locked by Object Lock, and until when."""
    from breakglass.engine import journal
    from breakglass.engine.runs import check_anchor, find_journal, summarize

    app = App(config, json_)
    state = _state(app, [run_id])
    path = find_journal(state.local_dir, run_id)
    problems = journal.verify(path) + state.journal_problems(run_id)
    summary = summarize(path, run_id)
    checked = check_anchor(path, anchor) if anchor else None
    unconfirmed = summary.events - summary.confirmed_seq if not problems else 0
    lines = list(problems)
    code = 1 if problems else 0
    if checked is not None and not checked.matches:
        code = 1
        lines.append(f"ANCHOR MISMATCH: no event of this journal has the hash {checked.anchor}: "
                     "it was rewritten after the run sent it, or the hash is another run's")
    elif checked is not None and checked.event is not None:
        ev = checked.event
        what = ev.get("type")
        if what == "run_finished":
            what = f"run_finished: {(ev.get('data') or {}).get('status')}"
        lines.append(f"anchor matches event {ev.get('seq')} ({what}): the journal up to it is "
                     "the one the run announced")
        if checked.later:
            after = (f"; the run went on and ended {checked.later_end!r} there, which only a "
                     "newer notice's hash covers") if checked.later_end else ""
            lines.append(f"{checked.later} later event(s) are not covered by this anchor "
                         f"(notice records{after})")
    elif unconfirmed and not problems:
        # Chain and head agree only if the last event is believed: a crash right after it was
        # written, or an event appended (or the end cut and the head moved back) by hand.
        code = 3
        lines.append(f"event {summary.events} is unconfirmed (the head records "
                     f"{summary.confirmed_seq}): a crash just after it was written, or an "
                     "edit; check the journal against the final hash in the run's notice: "
                     f"`breakglass runs.verify {run_id} --anchor HASH`")
    if not problems:
        lines.insert(0, f"{'journal' if code == 0 else 'hash chain'} intact ({path})")
    if not problems and checked is None:
        lines.extend(_anchors_sent(summary))
    # Shared state: whether the bucket keeps anyone from rewriting this evidence.
    lock = state.evidence_lock(run_id)
    if lock is not None:
        lines.append(lock.line)
    if json_:
        doc: dict[str, Any] = {"run_id": run_id, "journal": str(path), "intact": not problems,
                               "problems": problems, "unconfirmed_events": unconfirmed,
                               "anchors_sent": summary.anchors}
        if lock is not None:  # a shared state: can the bucket's copy be rewritten?
            doc["evidence_lock"] = lock.to_dict()
        if checked is not None:
            doc["anchor"] = {"hash": checked.anchor, "matches": checked.matches,
                             "event": checked.event.get("seq") if checked.event else None,
                             "later_events": checked.later, "later_end": checked.later_end}
        _print_json(app, doc)
    else:
        for line in lines:
            sys.stdout.write(f"{run_id}: {line}\n")
    if code:
        raise Exit(code=code)


def _anchors_sent(summary: RunSummary) -> list[str]:
    """Where the journal says the final hash went: where an auditor gets the hash to compare
    (the journal's own word, so a pointer, not a proof)."""
    sent = [a for a in summary.anchors if a.get("ok")]
    if not sent:
        return ["no notice or Sentry event carrying the run's final hash was delivered: this "
                "journal can only be checked against itself"]
    where = ", ".join(dict.fromkeys(str(a["to"]) for a in sent))
    return [f"final hash {sent[-1]['hash']} was sent to {where}; check it against the notice "
            f"you received: `breakglass runs.verify {summary.run_id} --anchor HASH`"]
