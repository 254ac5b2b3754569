"""The journal's vocabulary: every event type a run writes and every status a run can show.

One list each, in the order a run meets them. `Journal.append` refuses a type that is not here
and a `run_finished` whose status is not here, so the list cannot fall behind the engine, and
docs/runs.md's tables are generated from it (`python -m breakglass.docsgen`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: type -> what the event records (one line, for docs/runs.md).
EVENTS: dict[str, str] = {
    "run_started": "the runbook, its target and params, who ran it where; the plan follows",
    "run_resumed": "`runs.resume` or `runs.undo` picked the run up, and which case it was",
    "lock_takeover": "the lock or lease of a run that was gone was taken over (whose, since when)",
    "precondition": "one precondition checked: the item, whether it passed, its findings",
    "precondition_overridden": "a failing precondition let through with `--override ITEM "
                               "--because WHY` (who, why, what it found)",
    "step_planned": "a step's observation and the actions it plans",
    "not_confirmed": "the plan was not confirmed (no `--yes`, no terminal): nothing applied",
    "confirmed": "the plan was confirmed (`--yes` or `yes` at the prompt)",
    "step_started": "a step starts (observe again, plan again)",
    "step_noop": "a step has nothing to do, and why",
    "step_apply_started": "a step's apply starts (a kill after this point undoes or re-observes)",
    "step_applied": "a step's apply returned",
    "step_verified": "a step's verification passed, with its findings",
    "step_done": "a step is finished: a resume skips it",
    "step_failed": "a step failed (its error or failed verification, its findings)",
    "log": "a line the engine keeps in the journal (a refusal, a warning)",
    "delivery": "one owner's notice sent or not (channel, event, error); a final notice "
                "carries `anchor`, the final hash",
    "undo_started": "undoing begins: the applied steps, newest first",
    "undo_step_done": "one step undone",
    "undo_step_failed": "one step's undo failed (the run ends `failed; undo incomplete`)",
    "run_closing": "what the runbook says however the run ended (`rotate --leaked`: whether the "
                   "leaked value is still live); shown first, and in the report and notice",
    "run_finished": "the run's status and exit code; its hash is the run's final hash",
    "checkin": "a Sentry cron check-in of a scheduled run (monitor, status, sent or not)",
    "anchor": "the final hash sent to Sentry (sent or not)",
    # An incident's own record (incidents/ID.jsonl, breakglass/incidents/) is a journal of the
    # same chain; these are its events, with `delivery` for the owners told.
    "incident_opened": "an incident's record: opened (id, title, severity, who, where)",
    "note": "an incident's record: a person's line (`incident.note`)",
    "incident_closed": "an incident's record: closed (who, summary, the postmortem files' "
                       "sha256)",
}

#: Statuses a finished run records (`run_finished`). "blocked by precondition ITEM, ITEM"
#: carries the items, so it is matched by its prefix.
FINISHED: dict[str, str] = {
    "succeeded": "a mutating run applied and verified every step",
    "passed": "a read-only run found nothing wrong",
    "failed": "a read-only run found a problem, or a mutating run failed with nothing to undo",
    "rolled back": "a mutating run failed and the steps it applied were undone",
    "failed; undo incomplete": "a step's undo failed too: `runs.resume ID` finishes the undo",
    "undone": "`runs.undo` reversed what the run applied",
    "could not verify": "a check or an observation could not run (a server down, a tool "
                        "missing): exit 3",
    "dry-run": "`--dry-run`: the plan was shown, nothing changed",
    "blocked by precondition ITEM": "a blocking precondition failed before anything was applied "
                                    "(ITEM: the checklist items that failed)",
}

#: Statuses `runs.list` shows for a run whose journal has no believable end.
LIVE: dict[str, str] = {
    "running": "no end yet, and its lock is held",
    "interrupted": "no end, and nobody holds the lock: `runs.resume ID`",
    "not confirmed": "stopped at the confirmation: `runs.resume ID --yes`",
    "end unconfirmed": "the last event says the run finished, but the head file does not "
                       "confirm it: `runs.resume ID` finishes it for real",
    "TAMPERED": "the journal does not verify (`runs.verify ID` says why); its claimed end is "
                "not shown as a result",
}


_BLOCKED = "blocked by precondition "


def is_finished_status(status: str) -> bool:
    return status in FINISHED or (status.startswith(_BLOCKED) and status != _BLOCKED)


def check_event(type_: str, data: Mapping[str, Any] | None) -> None:
    """ValueError on an event type or a finished status missing from the lists above."""
    if type_ not in EVENTS:
        raise ValueError(f"journal event type {type_!r} is not in breakglass/engine/events.py")
    if type_ == "run_finished":
        status = (data or {}).get("status")
        if not isinstance(status, str) or not is_finished_status(status):
            raise ValueError(f"run status {status!r} is not in breakglass/engine/events.py")
