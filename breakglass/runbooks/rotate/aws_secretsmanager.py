"""`kind = "aws_secretsmanager"`: a new generated value in an AWS Secrets Manager secret.

The four phases of Secrets Manager rotation (https://docs.aws.amazon.com/secretsmanager/latest/
userguide/rotate-secrets_lambda-functions.html): createSecret puts the new value as AWSPENDING,
setSecret/testSecret, finishSecret moves AWSCURRENT to it — the old version then carries
AWSPREVIOUS. Our version id is the ClientRequestToken derived from the run id, so a resumed run
recognises the version it created and put_secret_value is idempotent.

What this rotates is the stored value; the thing it protects (a database password, a vendor API
key) is out of scope: consumers are restarted to read the new value. Reads always name a
VersionStage or VersionId (moto, and eventually-consistent reads, may return a stale version).
"""

from __future__ import annotations

import json
import uuid
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from breakglass.config.base import NonEmpty
from breakglass.connectors import aws
from breakglass.engine.findings import Finding
from breakglass.engine.runbook import StepContext
from breakglass.runbooks.rotate.base import Cred, Kind, KindSpec, Snapshot, generate_value
from breakglass.runbooks.rotate.settings import Generated

if TYPE_CHECKING:
    from breakglass.config import Config

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
_NS = uuid.UUID("5b0c7c1e-6f1d-4c55-9b8e-0b5a1e2f7a11")
NOT_FOUND = "ResourceNotFoundException"  # the AWS error code of a secret that does not exist


def run_token(run_id: str, what: str) -> str:
    """The version id a run gives the value it writes (ClientRequestToken: 32-64 chars)."""
    return str(uuid.uuid5(_NS, f"{run_id}/{what}"))


class SmValue:
    """One Secrets Manager secret read and written by version (also the `aws-sm:` store of
    the IAM key kind)."""

    def __init__(self, config: Config, secret_id: str) -> None:
        self.secret_id = secret_id
        self.client = aws.client(config.aws, "secretsmanager")

    def stages(self) -> dict[str, list[str]]:
        """version id -> its staging labels ({} when the secret does not exist)."""
        with aws.translated(f"aws-sm:{self.secret_id}"):
            out: dict[str, list[str]] = {}
            args: dict[str, Any] = {"SecretId": self.secret_id, "IncludeDeprecated": True}
            while True:  # boto3 has no paginator for this call
                with aws.absent(NOT_FOUND) as missing:
                    page = self.client.list_secret_version_ids(**args)
                if missing:
                    return {}
                out.update({v["VersionId"]: list(v.get("VersionStages") or [])
                            for v in page["Versions"]})
                if not page.get("NextToken"):
                    return out
                args["NextToken"] = page["NextToken"]

    def read(self, *, stage: str | None = None, version: str | None = None) -> str | None:
        args = {"VersionStage": stage} if stage else {"VersionId": version}
        with aws.translated(f"aws-sm:{self.secret_id}"), aws.absent(NOT_FOUND) as missing:
            got = self.client.get_secret_value(SecretId=self.secret_id, **args)
        if missing:
            return None
        return str(got["SecretString"])

    def put(self, value: str, token: str, stages: list[str]) -> None:
        with aws.translated(f"aws-sm:{self.secret_id}"):
            with aws.absent(NOT_FOUND) as missing:
                self.client.put_secret_value(SecretId=self.secret_id, SecretString=value,
                                             ClientRequestToken=token, VersionStages=stages)
            if missing:
                self.client.create_secret(Name=self.secret_id, SecretString=value,
                                          ClientRequestToken=token)

    def move(self, stage: str, to: str | None, away_from: str | None) -> None:
        args: dict[str, str] = {}
        if to:
            args["MoveToVersionId"] = to
        if away_from:
            args["RemoveFromVersionId"] = away_from
        with aws.translated(f"aws-sm:{self.secret_id}"):
            self.client.update_secret_version_stage(SecretId=self.secret_id,
                                                    VersionStage=stage, **args)


class Settings(Generated):
    """`[secrets.NAME]` with `kind = "aws_secretsmanager"`."""

    kind: Literal["aws_secretsmanager"]
    secret_id: NonEmpty | None = Field(None, description="the Secrets Manager secret name or ARN",
                                       examples=["prod/api-key"])
    json_key: NonEmpty | None = Field(
        None, description="rotate this one key of a JSON secret, keep the others",
        examples=["password"])
    required = ("secret_id",)


class SecretsManagerKind(Kind[Settings]):
    noun = "secret version"
    separate_deploy = True
    revoked_by_promotion = True

    @property
    def where(self) -> str:
        return f"aws-sm:{self.cfg.secret_id}" + (f"#{self.cfg.json_key}" if self.cfg.json_key
                                                  else "")

    @cached_property
    def _client(self) -> SmValue:  # one boto3 client per run: making one costs ~0.3 s
        assert self.cfg.secret_id is not None  # Settings.required: kinds.spec_for checked it
        return SmValue(self.config, self.cfg.secret_id)

    def _sm(self) -> SmValue:
        return self._client

    def current(self, ctx: StepContext) -> Cred:
        holder = _holder(self._sm().stages(), CURRENT)
        if holder is None:
            from breakglass.errors import UsageError

            raise UsageError(f"secrets.{self.secret}: {self.where} does not exist or has no "
                             "AWSCURRENT version; create it first")
        return Cred(holder)

    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot:
        stages = self._sm().stages()
        token = run_token(ctx.run_id, self.secret)
        old = stages.get(old_id)
        state = "gone" if not old else ("current" if CURRENT in old else "revoked")
        new = Cred(token) if token in stages else None
        return Snapshot(Cred(old_id, state, ",".join(old or [])), new,
                        deployed=new is not None and CURRENT in stages[token],
                        facts={"stages": stages})

    def _value(self, ctx: StepContext, **where: str) -> str | None:
        raw = self._sm().read(**where)
        if raw is not None and self.cfg.json_key:
            raw = str(json.loads(raw).get(self.cfg.json_key, "")) or None
        ctx.register_secret(raw)
        return raw

    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        sm, token = self._sm(), run_token(ctx.run_id, self.secret)
        current = sm.read(stage=CURRENT) or ""
        ctx.register_secret(current)
        value = generate_value(self.cfg)
        ctx.register_secret(value)
        if self.cfg.json_key:
            doc = json.loads(current)  # other keys of a JSON secret are kept as they are
            ctx.register_secret(str(doc.get(self.cfg.json_key, "")))
            doc[self.cfg.json_key] = value
            value = json.dumps(doc)
            ctx.register_secret(value)
        sm.put(value, token, [PENDING])
        return {"version": token, "stage": PENDING}

    def deploy(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        sm = self._sm()
        assert snap.new is not None
        # finishSecret: AWSCURRENT moves, AWS gives AWSPREVIOUS to the version it left.
        sm.move(CURRENT, snap.new.id, _holder(snap.facts["stages"], CURRENT))
        sm.move(PENDING, None, snap.new.id)
        return {"version": snap.new.id, "stage": CURRENT}

    def deploy_text(self, snap: Snapshot) -> str:
        return f"move AWSCURRENT to the new version (the old {snap.old.id} becomes AWSPREVIOUS)"

    def create_text(self, snap: Snapshot) -> str:
        return (f"put a generated value ({self.cfg.length} characters) as a new AWSPENDING "
                f"version of {self.where}")

    def verify_new_text(self) -> str:
        return "GetSecretValue(VersionStage=AWSCURRENT) must return the new version"

    def verify_old_text(self) -> str:
        return "the old version must not be AWSCURRENT, nor its value the current one"

    def verify_works(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        holder = _holder(self._sm().stages(), CURRENT)
        if snap.new is None or holder != snap.new.id:
            return [self.finding("NEW_SECRET_NOT_CURRENT", f"{self.where}: AWSCURRENT is "
                                 f"version {holder}, not the new one",
                                 "check who else writes this secret, then resume the run")]
        return []

    def verify_refused(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        old_value = self._value(ctx, version=snap.old.id)
        now = self._value(ctx, stage=CURRENT)
        if CURRENT in snap.facts["stages"].get(snap.old.id, []) or (
                old_value is not None and old_value == now):
            return [self.finding(self.still_valid_code, f"{self.where}: the old version "
                                 f"{snap.old.id} is still what consumers read",
                                 "resume the run; if AWSCURRENT moved back, find who moved it",
                                 version=snap.old.id)]
        return []

    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        # Without a staging label the version is deprecated; Secrets Manager removes it.
        for stage in snap.facts["stages"].get(snap.old.id, []):
            self._sm().move(stage, None, snap.old.id)
        return {"version": snap.old.id, "labels_removed": snap.facts["stages"].get(snap.old.id)}

    def delete_text(self, snap: Snapshot) -> str:
        return (f"remove the labels of the old version {snap.old.id} (deprecated: Secrets "
                "Manager deletes it)")

    def old_value(self, ctx: StepContext, old_id: str) -> str | None:
        return self._value(ctx, version=old_id)

    def recovery(self, snap: Snapshot) -> list[str]:
        new = snap.new.id if snap.new else "NEW_VERSION_ID"
        return [f"aws secretsmanager update-secret-version-stage --secret-id "
                f"{self.cfg.secret_id} --version-stage AWSCURRENT --move-to-version-id "
                f"{snap.old.id} --remove-from-version-id {new}"]


def _holder(stages: dict[str, list[str]], stage: str) -> str | None:
    return next((v for v, labels in stages.items() if stage in labels), None)


SPEC = KindSpec(Settings, SecretsManagerKind, docs="rotate.md#aws_secretsmanager",
                summary="a generated value in an AWS Secrets Manager secret (or one key of a "
                        "JSON secret)")
