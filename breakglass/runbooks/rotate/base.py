"""The rotation framework: the steps every rotation has, and the small interface a kind fills in.

AWS Secrets Manager's four rotation phases are the model (create a pending value, set it where
it is used, test it, finish by promoting it), plus the step no rotation tool takes: prove the
old value is dead. The steps, in the normal order:

    pin          record which credential is being replaced (journaled: a resume knows "old")
    leak_search  --leaked with `repository`: where the old value sits in git history
    create       create the new value (and, for an IAM key, store it in the same step)
    deploy       put it where consumers read it (kinds with a separate promotion)
    consumers    restart consumers and check their health
    verify_new   prove the new value works
    revoke       disable the old one
    verify_old   prove the old one is refused (OLD_KEY_STILL_VALID / OLD_SECRET_STILL_VALID)
    delete       delete it once `grace` has passed (at once with --leaked)
    cleanup      delete the copies of replaced values this run left (an env file's .bak; kinds
                 whose store leaves some: `Kind.cleans_up`)

`--leaked` moves `revoke` right after deployment (a leaked value must die first, verified or
not); `--revoke-first` moves it (and its proof) before `create`: downtime, said in the plan.
Never more than two credentials exist: `create` deletes any leftover first.

A new run that finds an earlier rotation of the same secret stopped half-way — consumers
moved to its new value, the old one still live — continues it (`Carry`): it pins the same old
credential and recognises the earlier run's new one, instead of calling the new one "old" or
refusing for lack of room. With --leaked, every end of the run (success, a failed step, a
refusal) says whether the leaked value is still live (`leaked_status`).

Every step observes real state through `Kind.snapshot()`, so a run killed anywhere is finished
by `runs.resume`. Values are never taken from the journal (it is redacted): a step that needs
the new or the old value reads it again from where it is stored.
"""

from __future__ import annotations

import secrets as _random
import string
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args

from breakglass.engine.findings import Finding, Severity, as_ok, unverified
from breakglass.engine.runbook import Action, Plan, Step, StepContext
from breakglass.errors import BreakglassError, CouldNotVerify

if TYPE_CHECKING:
    from collections.abc import Callable

    from breakglass.config import Config
    from breakglass.config.models import SecretSettings
    from breakglass.engine.runs import RunSummary
    from breakglass.runbooks.rotate.settings import Generated

#: a kind's own settings model (its arm of the `[secrets.NAME]` union)
S = TypeVar("S", bound="SecretSettings")


@dataclass(frozen=True)
class Cred:
    """A credential by its non-secret identity (a key id, a version id). `state`: `current`
    (consumers may use it), `revoked` (exists but disabled / no longer current), `gone`."""

    id: str
    state: str = "current"
    note: str = ""


@dataclass(frozen=True)
class Snapshot:
    """What a kind observed. `new` is the credential this run created, once it exists and its
    value can be read back; `orphans` must be deleted before creating (never three live)."""

    old: Cred
    new: Cred | None = None
    deployed: bool = False
    orphans: tuple[Cred, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Snapshot:
        new = d.get("new")
        return cls(Cred(**d["old"]), Cred(**new) if new else None, bool(d.get("deployed")),
                   tuple(Cred(**o) for o in d.get("orphans") or ()), dict(d.get("facts") or {}))


@dataclass(frozen=True)
class Carry:
    """An earlier rotation of this secret that stopped after consumers moved to its new value
    while the old one is still live. `runs`: that run and those it continued, newest first
    (a kind recognises its new credential by any of them)."""

    old_id: str
    runs: tuple[str, ...]


@dataclass(frozen=True)
class Mode:
    leaked: bool = False
    revoke_first: bool = False


class Kind(ABC, Generic[S]):
    """One secret kind (one module each, declared by its `SPEC`). Observation methods are
    read-only; the others change one thing each and return a JSON-able, non-secret result for
    the journal."""

    noun: ClassVar[str]  # "access key", "secret version"
    still_valid_code: ClassVar[str] = "OLD_SECRET_STILL_VALID"
    #: promotion is its own step (Secrets Manager's AWSCURRENT move)
    separate_deploy: ClassVar[bool] = False
    #: promoting the new value is what takes the old one out of use (no separate revoke)
    revoked_by_promotion: ClassVar[bool] = False
    #: the old value can be disabled while no new one exists (an IAM key can)
    revoke_first_ok: ClassVar[bool] = False

    def __init__(self, secret: str, cfg: S, config: Config) -> None:
        self.secret, self.cfg, self.config = secret, cfg, config
        #: run id -> carried(): asked by the checks and every step's plan before `pin`
        self.carry_cache: dict[str, Carry | None] = {}

    @property
    def kind(self) -> str:
        """The kind's name (`kind = "…"` in the file)."""
        return self.cfg.kind

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the value lives, for plans (`IAM user ci`, `aws-sm:prod/api`)."""

    @abstractmethod
    def current(self, ctx: StepContext) -> Cred:
        """The credential consumers use now: the one a new run replaces."""

    def start_findings(self, ctx: StepContext) -> list[Finding]:
        """Why a rotation must not start (checked before a new run pins anything)."""
        return []

    @abstractmethod
    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot: ...

    @abstractmethod
    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]: ...

    def deploy(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        raise NotImplementedError

    @abstractmethod
    def verify_works(self, ctx: StepContext, snap: Snapshot) -> list[Finding]: ...

    def revoke(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        raise NotImplementedError

    @abstractmethod
    def verify_refused(self, ctx: StepContext, snap: Snapshot) -> list[Finding]: ...

    @abstractmethod
    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]: ...

    def verify_deleted(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        return self.verify_refused(ctx, snap)

    @abstractmethod
    def old_value(self, ctx: StepContext, old_id: str) -> str | None:
        """The old value, read again from where it is kept (for the leak search)."""

    def access_findings(self, ctx: StepContext) -> list[Finding]:
        """Why the credentials breakglass runs with could not do every change of the rotation
        (checked before any change, and again on resume)."""
        return []

    def live_evidence(self, ctx: StepContext, snap: Snapshot) -> str:
        """How we know the old credential is still live, beyond `snap.old.state` (an IAM key:
        STS still accepts it). Called only when it is."""
        return ""

    def contain_text(self, snap: Snapshot) -> str:
        """The command that disables the old credential by hand."""
        return f"disable {snap.old.id} by hand in {self.where}"

    def recovery(self, snap: Snapshot) -> list[str]:
        """Commands that make consumers read the previous value again (a failed rollout)."""
        return []

    @property
    def cleans_up(self) -> bool:
        """Whether the store leaves copies of replaced values behind (step `cleanup`)."""
        return False

    def leftovers(self, ctx: StepContext) -> list[str]:
        """Copies of replaced (old, maybe leaked) values this run left, e.g. `web1:PATH.bak`."""
        return []

    def clean_up(self, ctx: StepContext) -> dict[str, Any]:
        return {"removed": []}

    # -- words for the plan (kinds override what reads badly) ------------------------------
    def create_text(self, snap: Snapshot) -> str:
        return f"create a new {self.noun} in {self.where}"

    def deploy_text(self, snap: Snapshot) -> str:
        return f"make the new {self.noun} the one consumers read"

    def revoke_text(self, snap: Snapshot) -> str:
        return f"disable the old {self.noun} {snap.old.id}"

    def delete_text(self, snap: Snapshot) -> str:
        return f"delete the old {self.noun} {snap.old.id}"

    def promotion_text(self) -> str:
        """Why revoke has nothing to do when `revoked_by_promotion`."""
        return (f"promoting the new {self.noun} takes the old one out of use (step "
                "deploy/create); it stays readable until deleted")

    def verify_new_text(self) -> str:
        return f"the new {self.noun} must work"

    def verify_old_text(self) -> str:
        return f"the old {self.noun} must be refused"

    # -- findings ---------------------------------------------------------------------------
    def finding(self, code: str, message: str, action: str,
                severity: Severity = Severity.ERROR, **evidence: Any) -> Finding:
        return Finding(code, message, action, severity, subject=f"secrets.{self.secret}",
                       evidence={"secret": self.secret, "kind": self.kind, **evidence})


@dataclass(frozen=True)
class KindSpec(Generic[S]):
    """What a secret kind module declares about itself (its `SPEC`), all that the rest of
    breakglass knows of it: the config model (whose `kind: Literal["…"]` is the kind's name),
    a one-line summary, where its docs are, and how to build it for `[secrets.NAME]`.
    Registered in breakglass/runbooks/rotate/kinds.py (or through the entry-point group
    `breakglass.secret_kinds`)."""

    settings: type[S]
    build: Callable[[str, S, Config], Kind[S]]
    #: what it rotates, one line (the kind table of docs/rotate.md)
    summary: str
    #: its docs page and section, e.g. "rotate.md#aws_iam_key"
    docs: str

    @property
    def name(self) -> str:
        field = self.settings.model_fields.get("kind")
        names = get_args(field.annotation) if field else ()
        if len(names) != 1 or not isinstance(names[0], str):
            raise TypeError(f'{self.settings.__name__} must declare kind: Literal["<name>"]')
        return names[0]


def generate_value(cfg: Generated) -> str:
    """A random value of `length` from `alphabet` (default letters, digits, - and _: safe in
    env files, URLs and shells), minus `exclude_characters`."""
    chars = cfg.alphabet or (string.ascii_letters + string.digits + "-_")
    chars = "".join(sorted(set(chars) - set(cfg.exclude_characters or "")))
    return "".join(_random.choice(chars) for _ in range(cfg.length))


# -- the steps ------------------------------------------------------------------------------

def run_ids(kind: Kind[Any], ctx: StepContext) -> tuple[str, ...]:
    """This run's id, then the earlier runs it continues (Carry): a kind that tags what it
    creates with a run id recognises its new credential by any of them (in the plan, before
    `pin` recorded them, too)."""
    pin = ctx.outputs.get("pin")
    if pin:
        return (ctx.run_id, *(pin.get("continues") or ()))
    carry = carried(kind, ctx)
    return (ctx.run_id, *(carry.runs if carry else ()))


def carried(kind: Kind[Any], ctx: StepContext) -> Carry | None:
    """The earlier rotation of this secret this run continues, if any (module docstring).

    The newest earlier run that pinned a credential decides: none when it succeeded, when its
    old credential is still the one consumers use (a new run pins it anyway) or is no longer
    live. Runs that never pinned (dry runs, unconfirmed plans) are passed over."""
    if ctx.run_id not in kind.carry_cache:
        # None while looking: the snapshot it takes may ask run_ids(), which asks this.
        kind.carry_cache[ctx.run_id] = None
        kind.carry_cache[ctx.run_id] = _carried(kind, ctx)
    return kind.carry_cache[ctx.run_id]


def _carried(kind: Kind[Any], ctx: StepContext) -> Carry | None:
    from breakglass.engine.runs import journal_paths, summarize

    for path in reversed(journal_paths(ctx.state_dir)):
        if path.stem == ctx.run_id:
            continue
        s = summarize(path)
        pin = s.steps["pin"].result if "pin" in s.steps else None
        if s.runbook != "rotate" or s.target != f"secrets.{kind.secret}" or not pin:
            continue
        old_id = str(pin["old_id"])
        if s.status == "succeeded" or kind.current(ctx).id == old_id or \
                kind.snapshot(ctx, old_id).old.state != "current":
            return None
        return Carry(old_id, (s.run_id, *(pin.get("continues") or ())))
    return None


def leaked_status(kind: Kind[Any], ctx: StepContext, summary: RunSummary) -> Finding:
    """Whether the leaked credential is still live as a `--leaked` run ends, observed again:
    LEAKED_STILL_LIVE (error), LEAKED_REVOKED_UNPROVEN (warning: disabled, refusal not yet
    proven), LEAKED_DEAD (note: disabled and proven refused), LEAKED_STATUS_UNKNOWN (could not
    look)."""
    pin = ctx.outputs.get("pin") or {}
    resume = f"`breakglass runs.resume {ctx.run_id}`"
    try:
        if pin:
            old_id = str(pin["old_id"])
        else:  # refused before pinning: the credential this run would have replaced
            carry = carried(kind, ctx)
            old_id = carry.old_id if carry else kind.current(ctx).id
        snap = kind.snapshot(ctx, old_id)
    except BreakglassError as exc:
        return unverified("LEAKED_STATUS_UNKNOWN", f"could not check whether the leaked "
                          f"{kind.noun} is still live: {exc}", "check it by hand now; "
                          "assume it is live until proven otherwise", f"secrets.{kind.secret}",
                          cause=exc.code if isinstance(exc, CouldNotVerify) else None)
    if snap.old.state == "current":
        try:
            evidence = kind.live_evidence(ctx, snap)
        except CouldNotVerify as exc:  # what the kind saw already says it is live
            evidence = f"{exc.code}: {exc}"
        return kind.finding(
            "LEAKED_STILL_LIVE", f"the leaked {kind.noun} {old_id} is STILL LIVE"
            + (f" ({evidence})" if evidence else "") + ": anyone holding it can use it",
            f"contain it now: {kind.contain_text(snap)}; then fix the cause shown below and "
            f"{resume} (or run the rotation again)", leaked_id=old_id, status="live")
    # Proven: verify_old passed (refused), or delete passed (deleted, and refused).
    if any(summary.steps[n].status == "done" for n in ("verify_old", "delete")
           if n in summary.steps):
        return as_ok(kind.finding("LEAKED_DEAD", f"the leaked {kind.noun} {old_id} is "
                                  f"{snap.old.state} and proven refused", "nothing",
                                  leaked_id=old_id, status="dead"))
    return kind.finding("LEAKED_REVOKED_UNPROVEN", f"the leaked {kind.noun} {old_id} is "
                        f"{snap.old.state}, but its refusal is not proven yet",
                        f"{resume} to prove it", Severity.WARNING, leaked_id=old_id,
                        status=snap.old.state)


class RotationStep(Step):
    def __init__(self, kind: Kind[Any], mode: Mode) -> None:
        self.kind, self.mode = kind, mode

    def old_id(self, ctx: StepContext) -> str:
        pinned = ctx.outputs.get("pin") or {}
        if pinned.get("old_id"):
            return str(pinned["old_id"])
        carry = carried(self.kind, ctx)
        return carry.old_id if carry else self.kind.current(ctx).id

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {"snapshot": self.kind.snapshot(ctx, self.old_id(ctx)).to_dict()}

    @staticmethod
    def snap(observed: Mapping[str, Any]) -> Snapshot:
        return Snapshot.from_dict(observed["snapshot"])


class PinStep(RotationStep):
    name, title = "pin", "record which credential is being replaced"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        pinned = ctx.outputs.get("pin")
        if pinned:
            return {"pinned": dict(pinned)}
        carry = carried(self.kind, ctx)
        return {"pinned": None, "carry": asdict(carry) if carry else None,
                "current": None if carry else asdict(self.kind.current(ctx))}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if observed["pinned"]:
            return Plan.noop(f"already recorded: {observed['pinned']['old_id']}")
        carry = observed["carry"]
        if carry:
            return Plan.of(Action(
                f"continue rotation {carry['runs'][0]}, which stopped before {carry['old_id']} "
                f"was revoked: record {carry['old_id']} (still live) as the {self.kind.noun} "
                "being replaced, and that run's new one as this run's", self.kind.where))
        cur = observed["current"]
        return Plan.of(Action(f"record {cur['id']} as the {self.kind.noun} being replaced "
                              "(a resumed run knows which one is old)", self.kind.where))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        carry = carried(self.kind, ctx)
        if carry:
            return {"old_id": carry.old_id, "continues": list(carry.runs),
                    "at": _now().isoformat()}
        return {"old_id": self.kind.current(ctx).id, "at": _now().isoformat()}


class CreateStep(RotationStep):
    name, title = "create", "create the new value"

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        snap = self.snap(observed)
        if snap.new is not None:
            return Plan.noop(f"{snap.new.id} already created by this rotation")
        actions = [Action(f"delete {o.id} first ({o.note}): never more than two "
                          f"{self.kind.noun}s", self.kind.where, destructive=True)
                   for o in snap.orphans]
        return Plan.of(*actions, Action(self.kind.create_text(snap), self.kind.where))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        result = self.kind.create(ctx, self.snap(self.observe(ctx)))
        return {**result, "at": _now().isoformat()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        snap = self.snap(observed)
        if snap.new is None:
            return [self.kind.finding("NEW_VALUE_MISSING", f"no new {self.kind.noun} found in "
                                      f"{self.kind.where} after creating it",
                                      "look at the step's error in the journal and resume")]
        return []


class DeployStep(RotationStep):
    name, title = "deploy", "make the new value the one consumers read"

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        snap = self.snap(observed)
        if snap.deployed:
            return Plan.noop(f"{snap.new.id if snap.new else 'the new value'} is already "
                             "the one consumers read")
        return Plan.of(Action(self.kind.deploy_text(snap), self.kind.where))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return {**self.kind.deploy(ctx, self.snap(self.observe(ctx))), "at": _now().isoformat()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if not self.snap(observed).deployed:
            return [self.kind.finding("NEW_VALUE_NOT_DEPLOYED", f"the new {self.kind.noun} is "
                                      f"not the one consumers read in {self.kind.where}",
                                      "check who else changes it, then resume")]
        return []


class VerifyNewStep(RotationStep):
    name, title = "verify_new", "prove the new value works"

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.noop(f"a check: {self.kind.verify_new_text()}")

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        return self.kind.verify_works(ctx, self.snap(observed))


class RevokeStep(RotationStep):
    name, title = "revoke", "revoke the old value"

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        snap = self.snap(observed)
        if self.kind.revoked_by_promotion:
            return Plan.noop(self.kind.promotion_text())
        if snap.old.state != "current":
            return Plan.noop(f"{snap.old.id} is already {snap.old.state}")
        text = self.kind.revoke_text(snap)
        if self.mode.revoke_first:
            text += (" BEFORE a new one exists (--revoke-first): consumers fail from here until"
                     " the new value is in place and they restart — downtime accepted")
        return Plan.of(Action(text, self.kind.where, destructive=True))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return {**self.kind.revoke(ctx, self.snap(self.observe(ctx))), "at": _now().isoformat()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        snap = self.snap(observed)
        if not self.kind.revoked_by_promotion and snap.old.state == "current":
            return [self.kind.finding(self.kind.still_valid_code,
                                      f"{snap.old.id} is still active after revoking it",
                                      f"revoke it by hand in {self.kind.where}, then resume")]
        return []


class VerifyOldStep(RotationStep):
    name, title = "verify_old", "prove the old value is refused"

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.noop(f"a check: {self.kind.verify_old_text()}")

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        return self.kind.verify_refused(ctx, self.snap(observed))


class DeleteStep(RotationStep):
    name, title = "delete", "delete the old value after the grace period"

    def grace(self) -> timedelta:
        return timedelta(0) if self.mode.leaked else (self.kind.cfg.grace or timedelta(0))

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        # The grace period runs from the moment the old value went out of use in this run.
        since = next((str(ctx.outputs[s]["at"]) for s in ("revoke", "deploy", "create")
                      if "at" in (ctx.outputs.get(s) or {})), _now().isoformat())
        ends = datetime.fromisoformat(since) + self.grace()
        return {**super().observe(ctx), "grace_ends": ends.isoformat(),
                "now": _now().isoformat()}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        snap = self.snap(observed)
        if snap.old.state == "gone":
            return Plan.noop(f"{snap.old.id} is already deleted")
        if datetime.fromisoformat(observed["now"]) < datetime.fromisoformat(
                observed["grace_ends"]):
            return Plan.noop(
                f"{snap.old.id} is kept, out of use, until {observed['grace_ends'][:19]}Z "
                f"(grace {_fmt(self.grace())}); the next `breakglass rotate "
                f"{self.kind.secret}` deletes it first")
        why = "no grace: --leaked" if self.mode.leaked else f"grace {_fmt(self.grace())}"
        return Plan.of(Action(f"{self.kind.delete_text(snap)} ({why})", self.kind.where,
                              destructive=True))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return {**self.kind.delete(ctx, self.snap(self.observe(ctx))), "at": _now().isoformat()}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        snap = self.snap(observed)
        if snap.old.state != "gone":
            return []  # kept for the grace period: verify_old proved it is out of use
        return self.kind.verify_deleted(ctx, snap)


class CleanupStep(RotationStep):
    name, title = "cleanup", "delete the copies of replaced values this run left"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {"leftovers": self.kind.leftovers(ctx)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        left = observed["leftovers"]
        if not left:
            return Plan.noop("this run left no copy of a replaced value")
        return Plan.of(Action(f"delete {', '.join(left)} (they hold the replaced value; the "
                              "run no longer needs them)", self.kind.where, destructive=True))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return self.kind.clean_up(ctx)

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        left = observed["leftovers"]
        if left:
            return [self.kind.finding("REPLACED_VALUE_LEFT", f"copies of the replaced value are "
                                      f"still there: {', '.join(left)}", "delete them by hand "
                                      "(they hold the old value), then resume", files=left)]
        return []


def rotation_steps(kind: Kind[Any], mode: Mode, extra_before: Sequence[Step] = (),
                   consumers: Step | None = None) -> list[Step]:
    """The steps in the order the mode asks for (see the module docstring)."""
    create: list[Step] = [CreateStep(kind, mode)]
    if kind.separate_deploy:
        create.append(DeployStep(kind, mode))
    restart = [consumers] if consumers is not None else []
    revoke: list[Step] = [RevokeStep(kind, mode), VerifyOldStep(kind, mode)]
    new = [VerifyNewStep(kind, mode)]
    if mode.revoke_first:
        body = [*revoke, *create, *restart, *new]
    elif mode.leaked:
        body = [*create, revoke[0], *restart, *new, revoke[1]]
    else:
        body = [*create, *restart, *new, *revoke]
    after: list[Step] = [CleanupStep(kind, mode)] if kind.cleans_up else []
    return [PinStep(kind, mode), *extra_before, *body, DeleteStep(kind, mode), *after]


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(d: timedelta) -> str:
    from breakglass.config import format_duration

    return format_duration(d) if d else "0s"
