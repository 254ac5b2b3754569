"""`breakglass lockout USER` and `breakglass unlock USER` (docs/lockout.md).

lockout:  find -> snapshot -> disable -> revoke_sessions -> revoke_tokens -> force_reset -> prove
unlock:   find -> restore

No step has an undo: when a later step fails, re-enabling a compromised account would be the
wrong reflex. The run stops with a finding and `runs.resume` finishes it; every step observes
first, so a resumed run only does what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.engine.registry import register
from breakglass.engine.runbook import Action, Plan, Runbook, Step, StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.lockout import probe as pr
from breakglass.runbooks.lockout import snapshot as snap
from breakglass.runbooks.lockout.presets import Account, Preset, preset_for

if TYPE_CHECKING:
    import psycopg

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
        with self.open(ctx) as (preset, conn, account):
            sessions = preset.sessions(conn, account)
            tokens = preset.tokens(conn, account)
        done = (ctx.outputs.get(self.name) or {}).get("digest")
        return {"account": account.to_dict(), "sessions": sessions.count,
                "tokens": tokens.count, "recorded": bool(done),
                "file": str(snap.path_of(ctx.state_dir, ctx.run_id))}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if observed["recorded"]:
            return Plan.noop("prior state already recorded by this run")
        label = observed["account"]["label"]
        return Plan.of(Action(
            f"record the prior state of {label} (active flag, password hash; "
            f"{observed['sessions']} session(s), {observed['tokens']} token(s) kept for the "
            "proof) in a 0600 file; the journal keeps its SHA-256 and the reason",
            observed["file"]))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            prior = preset.prior(conn, account)
            sessions = preset.sessions(conn, account)
            tokens = preset.tokens(conn, account)
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
        valid = [{**c.to_dict(), "before": before} for c in creds
                 if (before := _before(ctx, preset, c)) != "refused"]
        digest = snap.write(ctx.state_dir, ctx.run_id, {
            "run_id": ctx.run_id, "user_id": account.id, "label": account.label,
            "preset": preset.name, "reason": self.reason, "prior": prior,
            "probe": valid, "probe_captured": len(creds)})
        return {"digest": digest, "file": str(snap.path_of(ctx.state_dir, ctx.run_id)),
                "reason": self.reason or "(no reason given)", "user_id": account.id,
                "sessions": sessions.count, "tokens": tokens.count,
                "probe_captured": len(creds),
                "probe_valid_before": sum(v["before"] == "accepted" for v in valid)}


def _before(ctx: StepContext, preset: Preset, cred: pr.Credential) -> str:
    url = probe_url(ctx)
    if url is None:
        return "unknown"
    try:
        return pr.send(url, cred, preset.cfg.session_cookie, preset.cfg.login_path)
    except CouldNotVerify as exc:
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
                    "undecodable": found.undecodable,
                    "blind": preset.blind_sql("revoke_sessions")}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        label, actions = observed["label"], []
        if observed["db"]:
            actions.append(Action(f"delete {observed['db']} session(s) of {label} from "
                                  "django_session", "django_session", destructive=True))
        if observed["redis"]:
            actions.append(Action(f"delete {observed['redis']} session key(s) of {label} from "
                                  "Redis", "redis", destructive=True))
        if observed["blind"]:
            actions.append(Action(f"run [accounts.sql].revoke_sessions for {label}",
                                  "accounts.sql.revoke_sessions", destructive=True))
        return Plan.of(*actions) if actions else Plan.noop(f"{label} has no live session")

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            return {"revoked": preset.revoke_sessions(conn, account,
                                                      preset.sessions(conn, account))}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        found: list[Finding] = []
        left = observed["db"] + observed["redis"]
        if left:
            found.append(Finding("SESSIONS_REMAIN", f"{left} session(s) of {observed['label']} "
                                 "still stored after revoking", "resume the run; if they come "
                                 "back, something still logs the user in", subject="sessions"))
        if observed["undecodable"]:
            found.append(Finding("SESSIONS_UNDECODABLE", f"{observed['undecodable']} cached "
                                 "session(s) could not be decoded (not a plain dict); their "
                                 "owner is unknown and they were left alone", "if the app "
                                 "stores objects in sessions, flush them by hand",
                                 Severity.INFO, subject="sessions"))
        return found


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
        return {"url": probe_url(ctx)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        url = observed["url"] or "(no probe URL configured)"
        return Plan.noop(f"proof: replay the sessions and tokens that worked before against "
                         f"{url}; each must be refused (401/403 or a redirect to the login page)")

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        cfg = ctx.config.accounts
        assert cfg is not None
        content = snap.read(ctx.state_dir, ctx.run_id) or {}
        creds = [pr.Credential(c["kind"], c["value"], c["source"])
                 for c in content.get("probe", [])]
        ctx.redactor.register_many(c.value for c in creds)
        captured = int(content.get("probe_captured", 0))
        url = observed["url"]
        if captured and url is None:
            raise CouldNotVerify("no probe URL: set [accounts] probe_url (or [app] base_url and "
                                 "a probe_url path) to a page that needs a login",
                                 code="PROBE_NOT_CONFIGURED", action="configure it, then "
                                 f"`breakglass runs.resume {ctx.run_id}`")
        if not captured:
            return [Finding("NOTHING_TO_PROBE", "the user had no session or token before the "
                            "lockout, and none was given with --probe-cookie/--probe-token",
                            "nothing to replay; the account is disabled and its password reset",
                            Severity.INFO, subject="prove")]
        if not creds:
            return [unverified("PROBE_INCONCLUSIVE", f"none of the {captured} session(s)/"
                               f"token(s) captured was accepted by {url} before the lockout, "
                               "so their refusal now proves nothing",
                               "set [accounts] probe_url to a page that needs a login",
                               "prove")]
        found: list[Finding] = []
        unknown = 0
        for cred, before in zip(creds, [c.get("before") for c in content["probe"]], strict=True):
            got = pr.send(url, cred, cfg.session_cookie, cfg.login_path)
            unknown += got == "refused" and before != "accepted"
            if got == "accepted":
                found.append(Finding(
                    "SESSION_STILL_ACCEPTED", f"{cred.source}: still accepted by {url} after the "
                    "lockout", "the app keeps sessions somewhere breakglass did not revoke "
                    "(another cache, a signed cookie session, a JWT): rotate the app's "
                    "SECRET_KEY / signing key to invalidate every session",
                    Severity.CRITICAL, subject="prove"))
        if not found and unknown == len(creds):
            return [unverified("PROBE_INCONCLUSIVE", f"{url} refuses the captured session(s) "
                               "now, but the probe could not run before the lockout to show "
                               "they were accepted then", "check the probe URL; the lockout "
                               "itself is done", "prove")]
        if not found:
            # A note, not a verdict change: the evidence an auditor reads in the report.
            found.append(Finding("SESSIONS_REFUSED", f"{len(creds)} session(s)/token(s) that "
                                 f"worked before the lockout are refused by {url} now",
                                 "none: the lockout is proven", Severity.INFO,
                                 subject="prove"))
        return found


def probe_url(ctx: StepContext) -> str | None:
    cfg = ctx.config.accounts
    if cfg is None or cfg.probe_url is None:
        return None
    if cfg.probe_url.startswith(("http://", "https://")):
        return cfg.probe_url
    if ctx.config.app is None:
        return None
    return urljoin(ctx.config.app.base_url.rstrip("/") + "/", cfg.probe_url.lstrip("/"))


class RestoreStep(AccountStep):
    name, title = "restore", "restore the state recorded before the lockout"

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        with self.open(ctx) as (preset, conn, account):
            found = snap.before_lockout(ctx.state_dir, account.id)
            if found is None:
                raise UsageError(f"no lockout of {account.label} is recorded in "
                                 f"{snap.folder(ctx.state_dir)}: nothing to restore")
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
            found = snap.before_lockout(ctx.state_dir, account.id)
            assert found is not None
            preset.restore(conn, account, found[1].get("prior") or {})
            return {"restored_from": found[0]}

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

    @property
    def target(self) -> str:
        return f"user {_user(self.params)}"

    def steps(self) -> Sequence[Step]:
        user = _user(self.params)
        refs = [(k, str(self.params[f"probe_{k}"])) for k in ("cookie", "token")
                if self.params.get(f"probe_{k}")]
        return [FindStep(user, guard_admin=True, force=bool(self.params.get("force"))),
                SnapshotStep(user, str(self.params.get("reason") or ""), refs),
                DisableStep(user), RevokeSessionsStep(user), RevokeTokensStep(user),
                ForceResetStep(user), ProveStep()]


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
