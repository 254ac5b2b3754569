"""`breakglass lockout USER` and `breakglass unlock USER` (docs/lockout.md).

lockout:  find -> snapshot -> disable -> revoke_tokens -> force_reset -> revoke_sessions -> prove
unlock:   find -> restore

Containment first (DESIGN principle 9): the account is disabled, and journaled as done, before
anything slower; everything in the app's database comes before the session store (Redis),
which may be down. A store that is down never stops the lockout: the run ends partial
(SESSIONS_NOT_REVOKED, exit 1) and `runs.resume` finishes it once the store is back.

No lockout step has an undo: when a later step fails, re-enabling a compromised account would
be the wrong reflex (unlock's restore has one: it locks the account again). The run stops
with a finding and `runs.resume` finishes it; every step observes first, so a resumed run only
does what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from breakglass.connectors.redis import REDIS_UNREACHABLE
from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.engine.registry import register
from breakglass.engine.runbook import Action, Plan, Runbook, Step, StepContext
from breakglass.errors import BreakglassError, CouldNotVerify, UsageError
from breakglass.runbooks.lockout import probe as pr
from breakglass.runbooks.lockout import snapshot as snap
from breakglass.runbooks.lockout.presets import Account, Preset, preset_for
from breakglass.state import open_state

if TYPE_CHECKING:
    import psycopg

    from breakglass.config import Config

#: sessions and tokens of the user kept for the proof (a few are enough; all are revoked)
PROBE_SESSIONS = 3
PROBE_TOKENS = 2


class AccountStep(Step):
    def __init__(self, user: str) -> None:
        self.user = user

    @contextmanager
    def open(self, ctx: StepContext) -> Iterator[tuple[Preset, psycopg.Connection[Any],
                                                       Account]]:
        preset = preset_for(ctx)
        with preset.db() as conn:
            account = preset.find(conn, self.user)
            if account is None:
                raise UsageError(f"no user {self.user!r} in [databases.{preset.cfg.database}] "
                                 f"({preset.name} preset): check the email or id")
            yield preset, conn, account


class FindStep(AccountStep):
    name, title = "find", "find the user"

    def __init__(self, user: str, *, guard_admin: bool, force: bool) -> None:
        super().__init__(user)
        self.guard_admin, self.force = guard_admin, force

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            others = preset.other_admins(conn, account) if account.is_admin else None
        # Only an *active* admin counts: a resumed lockout finds its user already disabled.
        if (self.guard_admin and not self.force and account.is_admin
                and account.is_active is not False and others == 0):
            raise UsageError(f"refusing to lock out {account.label}: the last active admin "
                             "(nobody could administer the app afterwards); pass --force if "
                             "that is what the incident needs")
        return {"account": account.to_dict(), "other_admins": others}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        a = Account.from_dict(observed["account"])
        state = {True: "active", False: "inactive", None: "state unknown"}[a.is_active]
        admin = f", an admin ({observed['other_admins']} other active)" if a.is_admin else ""
        return Plan.noop(f"found {a.label}: {state}{admin}")


class SnapshotStep(AccountStep):
    name, title = snap.SNAPSHOT_STEP, "record the prior state (what unlock restores)"

    def __init__(self, user: str, reason: str, probe_refs: Sequence[tuple[str, str]]) -> None:
        super().__init__(user)
        self.reason, self.probe_refs = reason, list(probe_refs)

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        # The database only: this step comes before the disable, and a Redis that hangs would
        # hold the containment up for its timeout on every observation (revoke_sessions shows
        # the sessions in the plan; apply reads them once).
        with self.open(ctx) as (preset, conn, account):
            tokens = preset.tokens(conn, account)
        done = (ctx.outputs.get(self.name) or {}).get("digest")
        return {"account": account.to_dict(), "tokens": tokens.count,
                "recorded": bool(done), "file": str(snap.path_of(ctx.state_dir, ctx.run_id)),
                "sealed": snap.sealed_copy(ctx)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if observed["recorded"]:
            return Plan.noop("prior state already recorded by this run")
        label = observed["account"]["label"]
        return Plan.of(Action(
            f"record the prior state of {label} (active flag, password hash; up to "
            f"{PROBE_SESSIONS} of its sessions and {min(observed['tokens'], PROBE_TOKENS)} of "
            f"its {observed['tokens']} token(s) kept for the proof) in a 0600 file"
            + (f" and, sealed with age to state_recipients, in {observed['sealed']}"
               if observed.get("sealed") else "")
            + "; the journal keeps its SHA-256 and the reason", observed["file"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            prior = preset.prior(conn, account)
            sessions = preset.sessions(conn, account)
            tokens = preset.tokens(conn, account)
            token_store = preset.token_store(conn)
        creds = [pr.Credential("cookie", sid, f"session {i + 1} of {len(sessions.sids)}")
                 for i, sid in enumerate(sessions.sids[:PROBE_SESSIONS])]
        creds += [pr.Credential("token", key, f"API token {i + 1} of {len(tokens.keys)}")
                  for i, key in enumerate(tokens.keys[:PROBE_TOKENS])]
        for kind, ref in self.probe_refs:
            creds.append(pr.Credential("cookie" if kind == "cookie" else "token",
                                       ctx.secret(ref), f"--probe-{kind} {ref}"))
        # Only a credential the app accepts *now* proves anything when it is refused later.
        # A probe that cannot run must not delay the lockout: those are kept as "unknown", and
        # their later refusal is inconclusive (exit 3), their acceptance still a finding.
        dead: set[str] = set()
        valid = [{**c.to_dict(), "before": before} for c in creds
                 if (before := _before(ctx, preset, c, dead)) != "refused"]
        digest = snap.write(ctx, {
            "run_id": ctx.run_id, "user_id": account.id, "label": account.label,
            "preset": preset.name, "reason": self.reason, "prior": prior,
            "probe": valid, "probe_captured": len(creds),
            "captured": {k.cred: sum(c.kind == k.cred for c in creds) for k in pr.KINDS},
            # what the store held when the lockout began (None: it was down): a live session
            # given by the user while the store held none means the store is the wrong one
            "store": preset.session_store(), "token_store": token_store,
            "store_sessions":
                None if sessions.store_down else sessions.count,
            "store_down": sessions.store_down, "store_seen": sessions.seen,
            "store_hint": preset.store_hint(),
            # a lockout of a locked account has nothing left to replay: the proof, if any, is
            # that of the lockout which captured the credentials
            "earlier_run": _earlier_lockout(ctx, account) if account.is_active is False
            else None})
        return {"digest": digest, "file": str(snap.path_of(ctx.state_dir, ctx.run_id)),
                "reason": self.reason or "(no reason given)", "user_id": account.id,
                "sessions": sessions.count, "tokens": tokens.count,
                "store_down": sessions.store_down, "probe_captured": len(creds),
                "probe_valid_before": sum(v["before"] == "accepted" for v in valid)}


def _earlier_lockout(ctx: StepContext, account: Account) -> str | None:
    try:
        found = snap.before_lockout(ctx, account.id)
    except UsageError:  # an edited snapshot: unlock refuses it; it is no proof of anything
        return None
    return found[0] if found else None


def _before(ctx: StepContext, preset: Preset, cred: pr.Credential, dead: set[str]) -> str:
    url = pr.url_for(ctx.config, pr.kind_of(cred))
    if url is None or url in dead:
        return "unknown"
    try:
        return pr.send(url, cred, preset.cfg.session_cookie, preset.cfg.login_path)
    except CouldNotVerify as exc:
        # The account is still active while this runs: a probe URL that does not answer is
        # not asked again for the other credentials (each would wait for its timeout).
        dead.add(url)
        ctx.log("probe before the lockout could not run", error=str(exc))
        return "unknown"


class DisableStep(AccountStep):
    name, title = "disable", "disable the account"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, _conn, account):
            return {"label": account.label, "is_active": account.is_active,
                    "blind": preset.blind_sql("disable")}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if observed["is_active"] is False:
            return Plan.noop(f"{observed['label']} is already inactive")
        if observed["is_active"] is None and not observed["blind"]:
            return Plan.noop("no [accounts.sql].disable configured")
        return Plan.of(Action(f"disable {observed['label']} (no new login)", observed["label"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            preset.disable(conn, account)
        return {"disabled": True}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed["is_active"]:
            return [Finding("ACCOUNT_STILL_ACTIVE", f"{observed['label']} is still active",
                            "check [accounts] (database, preset) and disable the user by hand",
                            subject=observed["label"])]
        return []


class RevokeSessionsStep(AccountStep):
    name, title = "revoke_sessions", "revoke every session"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            found = preset.sessions(conn, account)
            return {"label": account.label, "db": len(found.db), "redis": len(found.redis),
                    "undecodable": found.undecodable, "store_down": found.store_down,
                    "disabled": account.is_active is False or "disable" in ctx.outputs,
                    "store": preset.session_store(), "hint": preset.store_hint(),
                    "blind": preset.blind_sql("revoke_sessions")}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        label, actions = observed["label"], []
        if observed["db"]:
            actions.append(Action(f"delete {observed['db']} session(s) of {label} from "
                                  "django_session", "django_session", destructive=True))
        if observed["redis"]:
            actions.append(Action(f"delete {observed['redis']} session key(s) of {label} from "
                                  "Redis", "redis", destructive=True))
        if observed["store_down"]:
            # Planned all the same: Redis may be back by then, and if not, the run ends
            # partial with the account already disabled (never held up for the store).
            actions.append(Action(f"delete the session keys of {label} from Redis (down now: "
                                  f"{observed['store_down']}; tried again when this step "
                                  "runs)", "redis", destructive=True))
        if observed["blind"]:
            actions.append(Action(f"run [accounts.sql].revoke_sessions for {label}",
                                  "accounts.sql.revoke_sessions", destructive=True))
        return Plan.of(*actions) if actions else Plan.noop(f"{label} has no live session")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            found = preset.sessions(conn, account)
            # `held` adds up every attempt of this run (a resume after Redis was down): the
            # sessions deleted by the first one were in the store all the same.
            held = int((ctx.outputs.get(self.name) or {}).get("held") or 0)
            try:
                revoked: int | None = preset.revoke_sessions(conn, account, found)
            except CouldNotVerify as exc:
                if exc.code != REDIS_UNREACHABLE:
                    raise
                revoked = None  # the database part is done; verify reports the rest
            # found.count: the rows and keys seen; revoked also counts what blind SQL deleted
            return {"revoked": revoked, "held": held + max(found.count, revoked or 0)}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        label = observed["label"]
        if observed["store_down"]:
            done = "account disabled" if observed["disabled"] else "account NOT disabled"
            return [Finding(
                "SESSIONS_NOT_REVOKED", f"{done}; sessions in Redis NOT revoked "
                f"({observed['store_down']}); run `breakglass runs.resume {ctx.run_id}` when "
                "it is back", f"until then a logged-in session of {label} may still work; "
                f"when Redis answers: `breakglass runs.resume {ctx.run_id} --yes`",
                subject="sessions",
                evidence={"recovery_plan": [f"breakglass runs.resume {ctx.run_id} --yes"]})]
        found: list[Finding] = []
        left = observed["db"] + observed["redis"]
        if left:
            found.append(Finding("SESSIONS_REMAIN", f"{left} session(s) of {label} still "
                                 "stored after revoking", "resume the run; if they come back, "
                                 "something still logs the user in", subject="sessions"))
        elif content := self._wrong_store(ctx):
            # Replayed now: a session still accepted is the stronger news (exit 1); refused,
            # it proves only that the account is disabled.
            cookie = pr.KINDS[0]
            found += [f for f in _prove_kind(ctx, cookie, pr.url_for(ctx.config, cookie),
                                             content) if f.code == cookie.accepted]
            found.append(unverified(
                "SESSION_STORE_MISMATCH", f"{observed['store']} held no session of {label}, "
                "but the session given with --probe-cookie was live before the lockout: the "
                "app keeps its sessions elsewhere, and that session is NOT revoked",
                f"{observed['hint']}; then `breakglass runs.resume {ctx.run_id} --yes`",
                "sessions"))
        if observed["undecodable"]:
            found.append(Finding("SESSIONS_UNDECODABLE", f"{observed['undecodable']} cached "
                                 "session(s) could not be decoded (not a plain dict); their "
                                 "owner is unknown and they were left alone", "if the app "
                                 "stores objects in sessions, flush them by hand",
                                 Severity.INFO, subject="sessions"))
        return found

    def _wrong_store(self, ctx: StepContext) -> dict[str, Any]:
        """The snapshot when a session the app accepted before the lockout was never in the
        store (else {}): refusing it afterwards would prove only that the account is disabled
        (Django's ModelBackend drops an inactive user's sessions), and `unlock` would bring it
        back to life."""
        content = snap.read(ctx, ctx.run_id) or {}
        live = any(c["kind"] == "cookie" and c.get("before") == "accepted"
                   for c in content.get("probe", []))
        held = ((content.get("store_sessions") or 0)
                + ((ctx.outputs.get(self.name) or {}).get("held") or 0))
        return content if live and held == 0 else {}


class RevokeTokensStep(AccountStep):
    name, title = "revoke_tokens", "revoke API tokens"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            tokens = preset.tokens(conn, account)
            return {"label": account.label, "tables": dict(tokens.tables),
                    "blind": preset.blind_sql("revoke_tokens")}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        label = observed["label"]
        actions = [Action(f"delete {n} token(s) of {label} from {table}", table, True)
                   for table, n in observed["tables"].items() if n]
        if observed["blind"]:
            actions.append(Action(f"run [accounts.sql].revoke_tokens for {label}",
                                  "accounts.sql.revoke_tokens", destructive=True))
        if actions:
            return Plan.of(*actions)
        where = ", ".join(observed["tables"]) or "no token table found"
        return Plan.noop(f"{label} has no API token ({where})")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            return {"revoked": preset.revoke_tokens(conn, account)}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        left = sum(observed["tables"].values())
        if left:
            return [Finding("TOKENS_REMAIN", f"{left} API token(s) of {observed['label']} "
                            "still stored after revoking", "resume the run",
                            subject="tokens")]
        return []


class ForceResetStep(AccountStep):
    name, title = "force_reset", "force a password reset"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            return {"label": account.label,
                    "unusable": preset.password_unusable(conn, account),
                    "blind": preset.blind_sql("force_reset")}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        label = observed["label"]
        if observed["unusable"]:
            return Plan.noop(f"the password of {label} is already unusable")
        if observed["unusable"] is None and not observed["blind"]:
            return Plan.noop("no [accounts.sql].force_reset configured")
        what = (f"give {label} an unusable password (Django's make_password(None)): a reset "
                "is the only way back in" if observed["unusable"] is not None
                else f"run [accounts.sql].force_reset for {label}")
        return Plan.of(Action(what, label, destructive=True))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            preset.force_reset(conn, account)
        return {"reset": True}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed["unusable"] is False:
            return [Finding("PASSWORD_STILL_USABLE", f"the password of {observed['label']} "
                            "still works", "resume the run", subject=observed["label"])]
        return []


class ProveStep(Step):
    name, title = "prove", "prove captured sessions and tokens are refused"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {"urls": {k.cred: pr.url_for(ctx.config, k) for k in pr.KINDS}}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        where = "; ".join(f"{k.label}s against {observed['urls'][k.cred] or f'(no {k.key})'}"
                          for k in pr.KINDS)
        return Plan.noop(f"proof: replay what worked before — {where}; each must be refused "
                         "(401/403 or a redirect to the login page)")

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        content = snap.read(ctx, ctx.run_id) or {}
        ctx.redactor.register_many(c["value"] for c in content.get("probe", []))
        if not any((content.get("captured") or {}).values()) and content.get("earlier_run"):
            unfinished = _unproven(ctx, str(content["earlier_run"]))
            if unfinished is not None:
                return [unfinished]
        # One verdict per kind: an auditor (and the person at 3 a.m.) reads what was proven
        # for session cookies and what for API tokens, never a sum of both.
        return [f for k in pr.KINDS
                for f in _prove_kind(ctx, k, observed["urls"][k.cred], content)]


def _unproven(ctx: StepContext, run_id: str) -> Finding | None:
    """UNVERIFIED when the lockout that captured the user's credentials did not prove them
    refused: this run, finding the account already locked, has nothing to replay, and "nothing
    to probe" must not pass for a proof (issue #10)."""
    from breakglass.engine.runs import find_journal, summarize

    try:
        summary = summarize(find_journal(ctx.state_dir, run_id), run_id)
    except BreakglassError:  # its journal is gone: the snapshot alone proves nothing either
        status = "its journal is missing"
    else:
        prove = summary.steps.get(ProveStep.name)
        if prove is not None and prove.status == "done":
            return None
        status = f"it ended {summary.status or 'unfinished'}"
    return unverified("PROOF_UNFINISHED", "UNPROVEN: the account was already disabled when "
                      f"this run began; lockout run {run_id} captured its sessions and tokens "
                      f"but did not prove them refused ({status})", f"`breakglass runs.resume "
                      f"{run_id} --yes` finishes that proof", "prove", run=run_id)


def _prove_kind(ctx: StepContext, kind: pr.Kind, url: str | None,
                content: Mapping[str, Any]) -> list[Finding]:
    """The verdict on one kind of credential. Each message starts with "proven", "UNPROVEN"
    or "not replayed", and the subject names the kind."""
    cfg = ctx.config.accounts
    assert cfg is not None
    entries = [c for c in content.get("probe", []) if c["kind"] == kind.cred]
    captured = int((content.get("captured") or {}).get(kind.cred, len(entries)))
    label = kind.label
    if not captured:
        return [_nothing_to_probe(kind, content)]
    if url is None:
        return [unverified("PROBE_NOT_CONFIGURED", f"UNPROVEN: {captured} {label}(s) "
                           "captured, but no probe URL to replay them against",
                           f"set [accounts] {kind.key} (a path under [app] base_url, or a "
                           f"URL), then `breakglass runs.resume {ctx.run_id} --yes`", label)]
    if not entries:
        return [unverified("PROBE_INCONCLUSIVE", f"UNPROVEN: none of the {captured} {label}(s) "
                           f"captured was accepted by {url} before the lockout, so their "
                           "refusal now proves nothing", f"point [accounts] {kind.key} at a "
                           f"URL that needs a {label}", label)]
    accepted, unknown = [], 0
    for entry in entries:
        cred = pr.Credential(entry["kind"], entry["value"], entry["source"])
        try:
            got = pr.send(url, cred, cfg.session_cookie, cfg.login_path)
        except CouldNotVerify as exc:
            return [unverified(exc.code or pr.PROBE_FAILED, f"UNPROVEN: {exc}",
                               f"{exc.action}, then `breakglass runs.resume {ctx.run_id} "
                               "--yes`", label)]
        if got == "accepted":
            accepted.append(cred.source)
        unknown += got == "refused" and entry.get("before") != "accepted"
    if accepted:
        return [Finding(kind.accepted, f"{source}: still accepted by {url} after the lockout",
                        kind.accepted_action, Severity.CRITICAL, subject=label)
                for source in accepted]
    if unknown == len(entries):
        return [unverified("PROBE_INCONCLUSIVE", f"UNPROVEN: {url} refuses the {unknown} "
                           f"{label}(s) captured now, but the probe could not run before the "
                           "lockout to show they were accepted then", f"check {kind.key}; the "
                           "lockout itself is done", label)]
    proven = len(entries) - unknown
    # A note, not a verdict change: the evidence an auditor reads in the report.
    return [Finding(kind.refused, f"proven: {proven} {label}(s) that worked before the "
                    f"lockout refused by {url} now", "none: proven for this kind",
                    Severity.INFO, subject=label)]


def _nothing_to_probe(kind: pr.Kind, content: Mapping[str, Any]) -> Finding:
    if kind.cred == "cookie" and content.get("store_down"):
        why = (f"{content['store_down']} when the lockout began, so none could be captured; "
               "revoke_sessions checked in the store itself that none is left")
    else:
        where = content.get("store" if kind.cred == "cookie" else "token_store")
        why = f"the user had none in {where} and none was given with {kind.option}"
        if kind.cred == "cookie" and content.get("store_seen") == 0:
            # Not one live session of anyone: the app keeps them elsewhere (issue #10: the
            # advice pointed at probe_url, which was not the cause).
            why += f"; it holds no live session of anyone — {content.get('store_hint')}"
        if content.get("earlier_run"):
            why += (f"; the account was already disabled when this run began: lockout run "
                    f"{content['earlier_run']} revoked them and holds the proof")
    return Finding("NOTHING_TO_PROBE", f"not replayed: {why}",
                   f"none if the user had none; else give one that works with {kind.option} "
                   "env:NAME so that the proof replays it", Severity.INFO, subject=kind.label)


class RestoreStep(AccountStep):
    name, title = "restore", "restore the state recorded before the lockout"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            found = snap.before_lockout(ctx, account.id)
            if found is None:
                raise UsageError(f"no lockout of {account.label} is recorded in "
                                 f"{snap.where(ctx)}: nothing to restore")
            run_id, content = found
            prior = content.get("prior") or {}
            ctx.redactor.register_many(v for v in prior.values() if isinstance(v, str)
                                       and len(v) >= 16)
            differs = preset.differs(conn, account, prior)
        return {"label": account.label, "run": run_id, "differs": differs}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if not observed["differs"]:
            return Plan.noop(f"{observed['label']} is already as it was before lockout run "
                             f"{observed['run']}")
        return Plan.of(Action(f"restore {', '.join(observed['differs'])} of "
                              f"{observed['label']} as recorded by lockout run "
                              f"{observed['run']} (sessions and tokens stay revoked)",
                              observed["label"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            found = snap.before_lockout(ctx, account.id)
            assert found is not None
            preset.restore(conn, account, found[1].get("prior") or {})
            return {"restored_from": found[0]}

    def undo(self, ctx: StepContext) -> None:
        # `runs.undo` of an unlock locks the account again (disabled, unusable password): the
        # state before the unlock was a lockout, and re-locking is the safe way to put it back.
        with self.open(ctx) as (preset, conn, account):
            preset.disable(conn, account)
            preset.force_reset(conn, account)

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed["differs"]:
            return [Finding("UNLOCK_INCOMPLETE", f"{', '.join(observed['differs'])} of "
                            f"{observed['label']} still differ from the recorded state",
                            "check [accounts.sql].restore", subject=observed["label"])]
        return []


def _user(params: Mapping[str, Any]) -> str:
    user = str(params.get("user") or "").strip()
    if not user:
        raise UsageError("give the user to act on: an email, a username or an id")
    return user


@register
class Lockout(Runbook):
    """Lock out a compromised account: disable, revoke sessions and tokens, force a reset."""

    name = "lockout"
    responsibility = "incident_response"

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        # Refused here, before any step: the snapshot (a password hash, live sessions) must not
        # reach a shared state unencrypted, and containment must not stop half-way.
        try:
            open_state(config).require_private()
        except UsageError as exc:
            raise UsageError(f"{exc}; in an emergency, run with --local-state (the snapshot "
                             "stays on this machine until `breakglass state.push`)") from None

    @property
    def target(self) -> str:
        return f"user {_user(self.params)}"

    @property
    def containment(self) -> str | None:
        return DisableStep.name

    def steps(self) -> Sequence[Step]:
        user = _user(self.params)
        refs = [(k, str(self.params[f"probe_{k}"])) for k in ("cookie", "token")
                if self.params.get(f"probe_{k}")]
        return [FindStep(user, guard_admin=True, force=bool(self.params.get("force"))),
                SnapshotStep(user, str(self.params.get("reason") or ""), refs),
                DisableStep(user), RevokeTokensStep(user), ForceResetStep(user),
                RevokeSessionsStep(user), ProveStep()]


@register
class Unlock(Runbook):
    """Unlock an account: restore the state recorded before its lockout (not its sessions)."""

    name = "unlock"
    responsibility = "incident_response"

    @property
    def target(self) -> str:
        return f"user {_user(self.params)}"

    def steps(self) -> Sequence[Step]:
        user = _user(self.params)
        return [FindStep(user, guard_admin=False, force=False), RestoreStep(user)]
