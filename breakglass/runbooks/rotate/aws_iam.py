"""`kind = "aws_iam_key"`: an IAM user's access key, stored where consumers read it.

`store = "aws-sm:NAME"` or `"ssm:NAME"` holds `{"AccessKeyId": …, "SecretAccessKey": …}`.
CreateAccessKey returns the secret exactly once, so creating and storing are one step: a run
killed between the two leaves a key nobody can use, which the next observation sees (a key that
is neither the old one nor the stored one) and the plan deletes before creating another. IAM
allows two keys per user; with one unrelated active key at the start the rotation refuses and
says which key to delete.

Before any change (and again on resume) the caller's right to UpdateAccessKey and
DeleteAccessKey is probed on a key id the user does not have: IAM authorises against the user
(the resource of both actions) before it looks for the key, so NoSuchEntity means "allowed" and
nothing changes (moto has no SimulatePrincipalPolicy). CreateAccessKey has no such probe; a
refusal there stops the run before the old key is touched (except with --revoke-first).

Proof that the old key is dead (https://docs.aws.amazon.com/IAM/latest/UserGuide/
id_credentials_access-keys.html): after deactivation, IAM's own Status=Inactive (STS is asked
too, but IAM changes take seconds to propagate, and moto accepts inactive keys); after deletion,
the key is absent from ListAccessKeys AND STS GetCallerIdentity signed with it is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from breakglass.config.base import NonEmpty
from breakglass.connectors import aws
from breakglass.engine.findings import Finding, as_ok
from breakglass.engine.runbook import StepContext
from breakglass.errors import UsageError
from breakglass.runbooks.rotate.aws_secretsmanager import CURRENT, SmValue, run_token
from breakglass.runbooks.rotate.base import Cred, Kind, KindSpec, Snapshot
from breakglass.runbooks.rotate.settings import StoredRef
from breakglass.runbooks.rotate.ssm_parameter import SsmValue, marker

if TYPE_CHECKING:
    from breakglass.config import Config

# STS answers for a key it does not accept (unknown, deleted, inactive, wrong secret).
REFUSED = frozenset({"InvalidClientTokenId", "SignatureDoesNotMatch",
                     "UnrecognizedClientException", "InvalidAccessKeyId", "AuthFailure"})
PROPAGATION = 30.0  # seconds IAM may take before a new key works / a deleted one fails
# A key id no user has (IAM ids are uppercase letters and digits; "_" never occurs): the
# permission probes address it, so an allowed call finds nothing to change.
PROBE_KEY_ID = "AKIA_BREAKGLASS_PROBE"


class KeyStore:
    """Where consumers read the key: a Secrets Manager secret or an SSM parameter."""

    def __init__(self, config: Config, ref: str) -> None:
        self.ref = ref
        scheme, _, name = ref.partition(":")
        self.sm = SmValue(config, name) if scheme == "aws-sm" else None
        self.ssm = SsmValue(config, name) if scheme == "ssm" else None

    def current(self) -> dict[str, str] | None:
        raw = self.sm.read(stage=CURRENT) if self.sm else (r[1] if self.ssm and (
            r := self.ssm.read()) else None)
        return _doc(raw)

    def history(self) -> list[dict[str, str]]:
        if self.sm:
            raws = [self.sm.read(version=v) for v in self.sm.stages()]
        else:
            raws = [str(p["Value"]) for p in self.ssm.history(decrypt=True)] if self.ssm else []
        return [d for r in raws if (d := _doc(r))]

    def write(self, doc: dict[str, str], run_id: str) -> None:
        text = json.dumps(doc)
        if self.sm:  # AWSCURRENT moves to it; the old version becomes AWSPREVIOUS
            self.sm.put(text, run_token(run_id, doc["AccessKeyId"]), [CURRENT])
        elif self.ssm:
            self.ssm.put(text, marker(run_id))


def _doc(raw: str | None) -> dict[str, str] | None:
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and "AccessKeyId" in doc else None


class Settings(StoredRef):
    """`[secrets.NAME]` with `kind = "aws_iam_key"`."""

    kind: Literal["aws_iam_key"]
    iam_user: NonEmpty | None = Field(None, description="the IAM user whose access key rotates",
                                      examples=["ci-deploy"])
    required = ("iam_user", "store")


class IamKeyKind(Kind[Settings]):
    noun = "access key"
    still_valid_code = "OLD_KEY_STILL_VALID"
    revoke_first_ok = True

    @property
    def user(self) -> str:
        assert self.cfg.iam_user is not None  # Settings.required: kinds.spec_for checked it
        return self.cfg.iam_user

    @property
    def where(self) -> str:
        return f"IAM user {self.user}, stored in {self.cfg.store}"

    @cached_property
    def _iam_client(self) -> Any:  # one boto3 client per run: making one costs ~0.3 s
        return aws.client(self.config.aws, "iam")

    @cached_property
    def _key_store(self) -> KeyStore:
        assert self.cfg.store is not None
        return KeyStore(self.config, self.cfg.store)

    def _iam(self) -> Any:
        return self._iam_client

    def _store(self, ctx: StepContext) -> KeyStore:
        return self._key_store

    def _keys(self) -> dict[str, str]:
        with aws.translated(f"IAM user {self.user}"), aws.absent("NoSuchEntity") as missing:
            got = self._iam().list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        if missing:
            raise UsageError(f"secrets.{self.secret}.iam_user: no IAM user {self.user}")
        return {k["AccessKeyId"]: k["Status"] for k in got}

    def _stored(self, ctx: StepContext) -> dict[str, str] | None:
        doc = self._store(ctx).current()
        ctx.register_secret(doc.get("SecretAccessKey") if doc else None)
        return doc

    def current(self, ctx: StepContext) -> Cred:
        keys, doc = self._keys(), self._stored(ctx)
        if doc and doc["AccessKeyId"] in keys:
            return Cred(doc["AccessKeyId"])
        if len(keys) == 1:
            return Cred(next(iter(keys)), note=f"not yet in {self.cfg.store}")
        raise UsageError(f"secrets.{self.secret}: cannot tell which access key of {self.user} "
                         f"consumers use: {self.cfg.store} holds none of {sorted(keys)}")

    def start_findings(self, ctx: StepContext) -> list[Finding]:
        cur = self.current(ctx).id
        others = [k for k, status in self._keys().items() if k != cur and status == "Active"]
        return [self.finding(
            "TWO_ACCESS_KEYS", f"{self.user} already has two active access keys: {cur} (in "
            f"{self.cfg.store}) and {k} (not stored there); a rotation needs room for a new one",
            f"if {k} is unused (`aws iam get-access-key-last-used --access-key-id {k}`), delete "
            f"it: `aws iam delete-access-key --user-name {self.user} --access-key-id {k}`; then "
            "run the rotation again", other_key=k) for k in others]

    def access_findings(self, ctx: StepContext) -> list[Finding]:
        iam = self._iam()
        key = {"UserName": self.user, "AccessKeyId": PROBE_KEY_ID}
        probes: dict[str, tuple[str, Callable[[], object]]] = {
            "iam:UpdateAccessKey": ("disable",
                                    lambda: iam.update_access_key(**key, Status="Inactive")),
            "iam:DeleteAccessKey": ("delete", lambda: iam.delete_access_key(**key))}
        refused: dict[str, str] = {}
        for action, (verb, call) in probes.items():
            try:
                with aws.translated(f"IAM user {self.user}"), aws.absent("NoSuchEntity"):
                    call()  # NoSuchEntity: authorised, and no such key: nothing changed
            except aws.AccessDenied:
                refused[action] = verb
        if not refused:
            return []
        return [self.finding(
            "IAM_ACTION_DENIED", f"the credentials breakglass runs with may not "
            f"{' or '.join(refused)} on IAM user {self.user}: the rotation could not "
            f"{' or '.join(refused.values())} the old key; nothing was changed",
            "allow iam:CreateAccessKey, iam:UpdateAccessKey and iam:DeleteAccessKey on "
            f"arn:aws:iam::ACCOUNT:user/{self.user} for them, then run again",
            denied=sorted(refused))]

    def live_evidence(self, ctx: StepContext, snap: Snapshot) -> str:
        sts = self._probe_old(ctx, snap, wait=False)
        return f"IAM lists it Active; STS {sts} it"

    def contain_text(self, snap: Snapshot) -> str:
        return (f"`aws iam update-access-key --user-name {self.user} --access-key-id "
                f"{snap.old.id} --status Inactive`")

    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot:
        keys, doc = self._keys(), self._stored(ctx)
        stored = doc["AccessKeyId"] if doc else None
        state = {"Active": "current", "Inactive": "revoked"}.get(keys.get(old_id, ""), "gone")
        new = stored if stored and stored != old_id and stored in keys else None
        orphans = tuple(Cred(k, keys[k].lower(), "inactive, left by an earlier rotation"
                             if keys[k] == "Inactive" else f"never stored in {self.cfg.store}:"
                             " its secret was lost when a run stopped") for k in keys
                        if k not in (old_id, new))
        return Snapshot(Cred(old_id, state), Cred(new) if new else None, new is not None,
                        orphans, {"keys": keys, "stored": stored})

    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        iam = self._iam()
        with aws.translated(f"IAM user {self.user}"):
            for orphan in snap.orphans:
                iam.delete_access_key(UserName=self.user, AccessKeyId=orphan.id)
            key = iam.create_access_key(UserName=self.user)["AccessKey"]
        ctx.register_secret(key["SecretAccessKey"])
        ctx.progress("store the new key", 1, 2)  # a crash here leaves an orphan (see above)
        try:
            self._store(ctx).write({"AccessKeyId": key["AccessKeyId"],
                                    "SecretAccessKey": key["SecretAccessKey"]}, ctx.run_id)
        except Exception:
            # Its secret is lost with this process: delete the key now rather than leave an
            # orphan that takes the room of the next attempt.
            with aws.translated(f"IAM user {self.user}"):
                iam.delete_access_key(UserName=self.user, AccessKeyId=key["AccessKeyId"])
            raise
        ctx.progress("store the new key", 2, 2)
        return {"access_key_id": key["AccessKeyId"], "deleted": [o.id for o in snap.orphans],
                "stored_in": self.cfg.store}

    def create_text(self, snap: Snapshot) -> str:
        return (f"create an access key for {self.user} and store it in {self.cfg.store} (one "
                "step: AWS returns the secret only once)")

    def verify_new_text(self) -> str:
        return f"STS GetCallerIdentity signed with the stored key must answer as {self.user}"

    def verify_old_text(self) -> str:
        return ("IAM must list the old key as Inactive (or gone); STS is asked too "
                "(see docs/rotate.md for what each proves)")

    def verify_works(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        doc = self._stored(ctx)
        if snap.new is None or not doc or doc["AccessKeyId"] != snap.new.id:
            return [self.finding("NEW_KEY_NOT_STORED", f"{self.cfg.store} does not hold the "
                                 "new key", "resume the run: the create step stores it again")]
        arn = self._caller(doc, want_refused=False)
        if arn is None or arn.rsplit("/", 1)[-1] != self.user:
            return [self.finding("NEW_KEY_NOT_WORKING", f"STS did not accept the new key "
                                 f"{snap.new.id} as {self.user} (answer: {arn or 'refused'})",
                                 "check the key and the user in IAM, then resume the run",
                                 access_key_id=snap.new.id)]
        return []

    def revoke(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        with aws.translated(f"IAM user {self.user}"):
            self._iam().update_access_key(UserName=self.user, AccessKeyId=snap.old.id,
                                          Status="Inactive")
        return {"access_key_id": snap.old.id, "status": "Inactive"}

    def revoke_text(self, snap: Snapshot) -> str:
        return f"deactivate the old access key {snap.old.id}"

    def verify_refused(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        if snap.old.state == "current":
            return [self.finding(self.still_valid_code, f"IAM lists the old key {snap.old.id} "
                                 "as Active", f"deactivate it: `aws iam update-access-key "
                                 f"--user-name {self.user} --access-key-id {snap.old.id} "
                                 "--status Inactive`", access_key_id=snap.old.id)]
        if snap.old.state == "gone":
            return self.verify_deleted(ctx, snap)
        sts = self._probe_old(ctx, snap, wait=False)
        return [as_ok(self.finding("OLD_KEY_INACTIVE", f"IAM lists {snap.old.id} as Inactive; STS "
                             f"{sts} it", "nothing: deletion (step delete) proves the refusal",
                             access_key_id=snap.old.id, sts=sts))]

    def verify_deleted(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        if snap.old.id in snap.facts["keys"]:
            return [self.finding(self.still_valid_code, f"{snap.old.id} still exists",
                                 "delete it by hand, then resume", access_key_id=snap.old.id)]
        sts = self._probe_old(ctx, snap, wait=True)
        if sts == "accepted":
            return [self.finding(self.still_valid_code, f"STS still accepts the deleted key "
                                 f"{snap.old.id} after {PROPAGATION:g}s",
                                 "open an AWS support case; attach the policy AWSDenyAll to "
                                 f"{self.user} until it is refused", access_key_id=snap.old.id)]
        return [as_ok(self.finding("OLD_KEY_REFUSED", f"{snap.old.id} is deleted; STS {sts} it",
                                   "nothing", access_key_id=snap.old.id, sts=sts))]

    def _probe_old(self, ctx: StepContext, snap: Snapshot, wait: bool) -> str:
        secret = self.old_value(ctx, snap.old.id)
        if secret is None:
            return f"was not asked (its secret is not in {self.cfg.store}'s history)"
        arn = self._caller({"AccessKeyId": snap.old.id, "SecretAccessKey": secret},
                           want_refused=True, patience=PROPAGATION if wait else 0)
        return "accepted" if arn is not None else "refused"

    def _caller(self, doc: dict[str, str], want_refused: bool,
                patience: float = PROPAGATION) -> str | None:
        """STS GetCallerIdentity signed with `doc`'s key: the ARN, or None when refused.
        Retried until the wanted answer or `patience` runs out (IAM propagates in seconds)."""
        import tenacity

        sts = aws.client(self.config.aws, "sts", attempts=1, read_timeout=10,
                         key=(doc["AccessKeyId"], doc["SecretAccessKey"]))
        # Until the wanted answer, once a second; out of patience, the last answer.
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_delay(patience), wait=tenacity.wait_fixed(1.0),
            retry=tenacity.retry_if_result(lambda arn: (arn is None) != want_refused),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None)
        answer: str | None = retrying(self._ask, sts)
        return answer

    @staticmethod
    def _ask(sts: Any) -> str | None:
        try:
            with aws.translated("STS GetCallerIdentity", code="STS_UNREACHABLE",
                                known=REFUSED):
                return str(sts.get_caller_identity()["Arn"])
        except aws.Answer:  # one of REFUSED
            return None
        except aws.AccessDenied:
            # Authorisation is checked after authentication: the key itself is valid.
            return "(valid key, denied by policy)"

    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        with aws.translated(f"IAM user {self.user}"):
            self._iam().delete_access_key(UserName=self.user, AccessKeyId=snap.old.id)
        return {"access_key_id": snap.old.id, "deleted": True}

    def old_value(self, ctx: StepContext, old_id: str) -> str | None:
        for doc in self._store(ctx).history():
            if doc.get("AccessKeyId") == old_id:
                ctx.register_secret(doc.get("SecretAccessKey"))
                return doc.get("SecretAccessKey")
        return None

    def recovery(self, snap: Snapshot) -> list[str]:
        scheme, _, name = (self.cfg.store or "").partition(":")
        if scheme == "aws-sm":
            q = "Versions[?contains(VersionStages, '{}')].VersionId"
            return [f"aws secretsmanager update-secret-version-stage --secret-id {name} "
                    f"--version-stage AWSCURRENT --move-to-version-id \"$(aws secretsmanager "
                    f"list-secret-version-ids --secret-id {name} --query "
                    f"\"{q.format('AWSPREVIOUS')}\" --output text)\" --remove-from-version-id "
                    f"\"$(aws secretsmanager list-secret-version-ids --secret-id {name} "
                    f"--query \"{q.format('AWSCURRENT')}\" --output text)\""]
        return [f"aws ssm get-parameter-history --name {name} --with-decryption: put the value "
                f"holding {snap.old.id} back with `aws ssm put-parameter --overwrite`"]


SPEC = KindSpec(Settings, IamKeyKind, docs="rotate.md#aws_iam_key",
                summary="an IAM user's access key, stored in Secrets Manager or SSM for its "
                        "consumers")
