"""Attestations: a named owner vouches for an item only a person can verify.

    Attestation                         item, by, note, at, expires, run_id
    latest(state, item_id)              the newest attestation of the item that holds up
    Attest                              the runbook behind `breakglass attest ITEM --by NAME …`

An attestation is a record `checklist/attestations` of the state (breakglass/state/): one line
of `state_dir/checklist/attestations.jsonl`, or with `[project] state = "s3://…"` one object
under `records/checklist/attestations/`, which every machine of the team reads. It is appended
by an `attest` run — a mutating runbook, so it is planned, confirmed (--yes or a prompt),
journaled, told to the owners of the item's responsibility, and resumable like any other change.

Tamper evidence. The line alone proves nothing: anyone who can write the state folder can edit
it. `latest()` counts a line only when the journal of the run it names (its `run_id`)

  * verifies (hash chain and head intact, breakglass/engine/journal.py),
  * is an `attest` run that finished with exit 0, and
  * recorded, in its `run_started` params, exactly this line's item, by, note, at and expires.

So an edited expiry, a line copied to another item, or a line with a made-up run id does not
count; changing the journal to match breaks its chain. What this does not stop is someone who
forges a whole new journal: the chain has no secret key. Keep state_dir on a host only the team
can write (or the shared state in a bucket only the team can write, with Object Lock), and ship
reports elsewhere if that matters (docs/check.md "Attestations").

The times are fixed when the person runs the command (the params), not when the line is written:
a run confirmed or resumed later records what the person vouched for at the time.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from breakglass.checklist import items as catalog
from breakglass.checklist.model import Item
from breakglass.config.durations import format_duration, parse_duration
from breakglass.engine import journal as jr
from breakglass.engine.findings import Finding, Severity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Action, Plan, Runbook, Step, StepContext
from breakglass.errors import UsageError
from breakglass.state import open_state

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.state.base import State

#: the state's record of attestations
RECORDS = "checklist/attestations"
#: the longest note kept (a note is a sentence or two: where it was checked and how)
MAX_NOTE = 1000
_FIELDS = ("item", "by", "note", "at", "expires", "run_id")


@dataclass(frozen=True)
class Attestation:
    item: str
    by: str
    note: str
    at: datetime
    expires: datetime
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "by": self.by, "note": self.note, "at": self.at.isoformat(),
                "expires": self.expires.isoformat(), "run_id": self.run_id}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Attestation:
        """Raises ValueError/KeyError/TypeError on anything that is not a well-formed record."""
        if set(d) != set(_FIELDS) or not all(isinstance(d[k], str) for k in _FIELDS):
            raise ValueError("not an attestation record")
        return cls(d["item"], d["by"], d["note"], _utc(d["at"]), _utc(d["expires"]),
                   d["run_id"])


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(UTC)


def read_all(state: State) -> list[dict[str, Any]]:
    """Every parseable record, oldest first (a line that is not JSON is skipped: it counts for
    nothing, like an edited one), with the journals of their runs at hand. A `check` reads them
    once for all its items."""
    return state.cited_records(RECORDS)


def _lines(state: State, item_id: str, records: Sequence[Mapping[str, Any]] | None
           ) -> list[Mapping[str, Any]]:
    return [r for r in (read_all(state) if records is None else records)
            if r.get("item") == item_id]


def latest(state: State, item_id: str, records: Sequence[Mapping[str, Any]] | None = None
           ) -> Attestation | None:
    """The newest attestation of `item_id` whose run journal backs it (see the module
    docstring); None when there is none. Expiry is the caller's business (evaluate.py).
    `records`: what `read_all` returned, when the caller has it already."""
    for record in reversed(_lines(state, item_id, records)):
        att = _backed(state, record)
        if att is not None:
            return att
    return None


def rejected(state: State, item_id: str, records: Sequence[Mapping[str, Any]] | None = None
             ) -> list[str]:
    """Why each line of `item_id` that does not count was refused, newest first (for people
    asking "why is my attestation ignored?"; latest() only skips them)."""
    reasons = []
    for record in reversed(_lines(state, item_id, records)):
        problem = _problem(state, record)
        if problem is not None:
            reasons.append(f"run {record.get('run_id')!s}: {problem}")
    return reasons


def _backed(state: State, record: Mapping[str, Any]) -> Attestation | None:
    if _problem(state, record) is not None:
        return None
    return Attestation.from_dict(record)


def _problem(state: State, record: Mapping[str, Any]) -> str | None:
    from breakglass.engine.runs import Unbacked, backing_run

    try:
        att = Attestation.from_dict(record)
    except (KeyError, TypeError, ValueError):
        return "not a well-formed attestation line"
    try:
        s = backing_run(state.local_dir, att.run_id, Attest.name)
    except Unbacked as exc:
        return str(exc)
    if s.status != "succeeded" or s.exit_code != 0:
        return f"its run is not a finished attest run (runbook {s.runbook}, status {s.status})"
    if record_of(s.params, att.run_id) != dict(record):
        return "the line differs from what its run journaled (edited)"
    return None


def record_of(params: Mapping[str, Any], run_id: str) -> dict[str, str]:
    """The line an attest run with `params` writes: a pure function of what the journal holds."""
    return {"item": str(params.get("item")), "by": str(params.get("by")),
            "note": str(params.get("note")), "at": str(params.get("at")),
            "expires": str(params.get("expires")), "run_id": run_id}


# -- the command's arguments ------------------------------------------------------------------
def suggest(item_id: str, ids: Sequence[str]) -> str:
    """' (did you mean tls.hsts?)' for a near miss, '' otherwise. A bare prefix ("tls") suggests
    the items under it."""
    close = [i for i in ids if i.startswith(f"{item_id}.")][:5]
    close = close or difflib.get_close_matches(item_id, ids, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def known_item(item_id: str) -> Item:
    item = catalog.get(item_id)
    if item is None:
        hint = suggest(item_id, list(catalog.BY_ID))
        raise UsageError(f"unknown checklist item {item_id!r}{hint}; see docs/check.md for the "
                         "catalog")
    return item


def expiry(item: Item, text: str | None, at: datetime) -> datetime:
    """When an attestation given at `at` expires. `text` (e.g. "30d") may shorten the item's
    `attest_days`, never lengthen it: the catalog sets how long a person's word stays good for
    each item (model.Item), and the monthly review only works if nobody can vouch for a year."""
    cap = timedelta(days=item.attest_days)
    if text is None or text == "":
        return at + cap
    try:
        length = parse_duration(text.strip())
    except ValueError as exc:
        raise UsageError(f"--expires: {exc}") from None
    if length <= timedelta(0):
        raise UsageError(f"--expires {text}: an attestation must last longer than 0")
    if length > cap:
        raise UsageError(f"--expires {text}: longer than {item.id}'s limit of {item.attest_days}d "
                         "(check it again then and attest anew)")
    return at + length


def params_for(item_id: str, by: str, note: str, expires: str | None,
               now: datetime | None = None) -> dict[str, Any]:
    """The params of an attest run, fixed at the moment the person runs the command."""
    item = known_item(item_id.strip())
    if item.check:
        raise UsageError(_automated(item))
    at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {"item": item.id, "by": by.strip(), "note": note.strip(), "at": at.isoformat(),
            "expires": expiry(item, expires, at).isoformat()}


# -- the runbook ------------------------------------------------------------------------------
@register
class Attest(Runbook):
    """Attest a checklist item: a named owner vouches for what only a person can verify."""

    name = "attest"
    responsibility = "release_signoff"  # replaced per item below (the item's owners attest it)
    mutating = True

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        self.item = known_item(str(self.params.get("item") or ""))
        # The owners of the item's responsibility are told, and only they may attest it.
        self.responsibility = self.item.responsibility  # type: ignore[misc]
        _refuse(config, self.item, self.params)

    @property
    def target(self) -> str:
        return f"checklist.{self.item.id}"

    def steps(self) -> Sequence[Step]:
        return [RecordAttestation(self.item)]


def _automated(item: Item) -> str:
    return (f"{item.id} is verified by a command: `breakglass check --only {item.id}`; only "
            "manual items are attested")


def _refuse(config: Config, item: Item, params: Mapping[str, Any]) -> None:
    """Every reason an attestation is refused, checked again on resume (the config may have
    changed since)."""
    if item.check:
        raise UsageError(_automated(item))
    by = str(params.get("by") or "")
    if not by:
        raise UsageError("--by NAME is required: the person who checked it, from [people]")
    owners = config.owners_of(item.responsibility)
    if by not in config.people:
        known = ", ".join(sorted(config.people)) or "nobody"
        raise UsageError(f"--by {by}: no [people.{by}] in the configuration (people: {known})")
    if by not in owners:
        who = ", ".join(owners) or f"nobody (add `{item.responsibility} = [\"{by}\"]` under " \
                                   "[owners])"
        raise UsageError(f"--by {by}: {item.id} is attested by an owner of "
                         f"{item.responsibility}: {who}")
    note = str(params.get("note") or "")
    if not note:
        raise UsageError(f"--note is required: say what was checked and how (e.g. \"{item.title}: "
                         "reviewed settings.py and the admin list\")")
    if len(note) > MAX_NOTE:
        raise UsageError(f"--note is {len(note)} characters; keep it under {MAX_NOTE} and link "
                         "the details")
    try:
        at, until = _utc(str(params.get("at"))), _utc(str(params.get("expires")))
    except ValueError:
        raise UsageError("the attestation's times are malformed") from None
    if not at < until <= at + timedelta(days=item.attest_days):
        raise UsageError(f"{item.id}: an attestation lasts more than 0 and at most "
                         f"{item.attest_days}d")


class RecordAttestation(Step):
    name = "attest"

    def __init__(self, item: Item) -> None:
        self.item = item
        self.title = f"record an attestation of {item.id} ({item.title})"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        state = open_state(ctx.config)
        records = read_all(state)
        current = latest(state, self.item.id, records)
        mine = [r for r in _lines(state, self.item.id, records) if r.get("run_id") == ctx.run_id]
        return {"current": current.to_dict() if current else None,
                "recorded": [dict(r) for r in mine],
                "record": ctx.redactor.redact_obj(record_of(ctx.params, ctx.run_id)),
                "path": state.record_label(RECORDS)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        rec = observed["record"]
        if rec in observed["recorded"]:
            return Plan.noop(f"attestation of {rec['item']} by {rec['by']} already recorded by "
                             "this run")
        until = datetime.fromisoformat(rec["expires"])
        current = observed["current"]
        replaces = (f" (replaces {current['by']}'s, until {current['expires'][:10]})"
                    if current else "")
        length = format_duration(until - datetime.fromisoformat(rec["at"]))
        return Plan.of(Action(f"record attestation of {rec['item']} by {rec['by']} until "
                              f"{until:%Y-%m-%d %H:%M} UTC ({length}){replaces}",
                              target=observed["path"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        import hashlib

        state = open_state(ctx.config)
        record = ctx.redactor.redact_obj(record_of(ctx.params, ctx.run_id))
        # Once per run (keyed by run id): a resumed run does not write it again.
        state.append_record(RECORDS, record)
        return {"path": state.record_label(RECORDS),
                "sha256": hashlib.sha256(jr.canonical(record).encode("utf-8")).hexdigest()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        # Read back from the state (not latest(): the run is not finished yet, so it would not
        # count the line until run_finished is journaled).
        if observed["record"] in observed["recorded"]:
            return []
        return [Finding("ATTESTATION_NOT_RECORDED", f"the attestation of {self.item.id} is not "
                        f"in {observed['path']} after writing it",
                        "check the state folder's disk and permissions, then `breakglass "
                        f"runs.resume {ctx.run_id} --yes`", Severity.ERROR,
                        subject=self.item.id)]
