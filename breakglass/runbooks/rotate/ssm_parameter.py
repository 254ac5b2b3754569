"""`kind = "ssm_parameter"`: a new generated value as a new version of an SSM parameter.

`PutParameter(Overwrite=True)` makes a new version that is at once what `GetParameter` returns:
creating is deploying. Before that, the old version gets the label `breakglass-previous`, so
consumers or a person can read it back during the grace period (`NAME:breakglass-previous`);
"delete" removes that label — SSM keeps up to 100 versions of history and has no call that
deletes one version. Our version carries the run id in its Description, so a resumed run
recognises the version it wrote.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from breakglass.config.base import NonEmpty
from breakglass.connectors import aws
from breakglass.engine.findings import Finding
from breakglass.engine.runbook import StepContext
from breakglass.errors import UsageError
from breakglass.runbooks.rotate.base import Cred, Kind, KindSpec, Snapshot, generate_value
from breakglass.runbooks.rotate.settings import Generated

if TYPE_CHECKING:
    from breakglass.config import Config

LABEL = "breakglass-previous"


class SsmValue:
    """One SSM parameter read and written by version (also the `ssm:` store of the IAM kind)."""

    def __init__(self, config: Config, name: str) -> None:
        self.name = name
        self.client = aws.client(config.aws, "ssm")

    def history(self, decrypt: bool = False) -> list[dict[str, Any]]:
        """Every version, oldest first ([] when the parameter does not exist)."""
        with aws.translated(f"ssm:{self.name}"), aws.absent("ParameterNotFound"):
            pages = self.client.get_paginator("get_parameter_history").paginate(
                Name=self.name, WithDecryption=decrypt)
            return sorted((p for page in pages for p in page["Parameters"]),
                          key=lambda p: int(p["Version"]))
        return []

    def read(self, version: int | None = None) -> tuple[int, str] | None:
        name = self.name if version is None else f"{self.name}:{version}"
        with aws.translated(f"ssm:{self.name}"), \
                aws.absent("ParameterNotFound", "ParameterVersionNotFound") as missing:
            got = self.client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        if missing:
            return None
        return int(got["Version"]), str(got["Value"])

    def put(self, value: str, description: str) -> int:
        history = self.history()
        # Keep what the parameter is (SecureString and its KMS key); a new one is SecureString.
        last = history[-1] if history else {}
        args = {"KeyId": last["KeyId"]} if last.get("KeyId") else {}
        with aws.translated(f"ssm:{self.name}"):
            got = self.client.put_parameter(Name=self.name, Value=value, Overwrite=True,
                                            Type=last.get("Type", "SecureString"),
                                            Description=description, **args)
        return int(got["Version"])

    def label(self, version: int, label: str, on: bool = True) -> None:
        with aws.translated(f"ssm:{self.name}"):
            call = self.client.label_parameter_version if on else \
                self.client.unlabel_parameter_version
            call(Name=self.name, ParameterVersion=version, Labels=[label])


def marker(run_id: str) -> str:
    return f"breakglass rotate run {run_id}"


class Settings(Generated):
    """`[secrets.NAME]` with `kind = "ssm_parameter"`."""

    kind: Literal["ssm_parameter"]
    parameter: NonEmpty | None = Field(None, description="the SSM parameter name",
                                       examples=["/prod/api-key"])
    required = ("parameter",)


class SsmParameterKind(Kind[Settings]):
    noun = "parameter version"
    revoked_by_promotion = True

    @property
    def where(self) -> str:
        return f"ssm:{self.cfg.parameter}"

    @cached_property
    def _client(self) -> SsmValue:  # one boto3 client per run: making one costs ~0.3 s
        assert self.cfg.parameter is not None  # Settings.required: kinds.spec_for checked it
        return SsmValue(self.config, self.cfg.parameter)

    def _ssm(self) -> SsmValue:
        return self._client

    def current(self, ctx: StepContext) -> Cred:
        history = self._ssm().history()
        if not history:
            raise UsageError(f"secrets.{self.secret}: {self.where} does not exist; create it "
                             "first")
        return Cred(str(history[-1]["Version"]))

    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot:
        history = self._ssm().history()
        by_version = {str(p["Version"]): p for p in history}
        latest = str(history[-1]["Version"]) if history else ""
        mine = next((str(p["Version"]) for p in history
                     if p.get("Description") == marker(ctx.run_id)), None)
        old = by_version.get(old_id)
        labelled = old is not None and LABEL in (old.get("Labels") or [])
        state = "current" if old_id == latest else ("revoked" if labelled else "gone")
        return Snapshot(Cred(old_id, state), Cred(mine) if mine else None,
                        deployed=mine is not None and mine == latest,
                        facts={"latest": latest, "old_labelled": labelled})

    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        ssm = self._ssm()
        old = ssm.read(int(snap.old.id))
        ctx.register_secret(old[1] if old else None)
        # Label first: a run killed between the two calls leaves the old version labelled
        # and still the latest, which the next observation plans from.
        if not snap.facts["old_labelled"]:
            ssm.label(int(snap.old.id), LABEL)
        value = generate_value(self.cfg)
        ctx.register_secret(value)
        version = ssm.put(value, marker(ctx.run_id))
        return {"version": version, "previous_label": f"{self.where}:{LABEL}"}

    def create_text(self, snap: Snapshot) -> str:
        return (f"label version {snap.old.id} {LABEL}, then put a generated value "
                f"({self.cfg.length} characters) as a new SecureString version of {self.where}")

    def verify_new_text(self) -> str:
        return "GetParameter(WithDecryption) must return the new version and its value"

    def verify_old_text(self) -> str:
        return "the old version must no longer be the latest, nor its value the current one"

    def verify_works(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        got = self._ssm().read()
        mine = self._ssm().read(int(snap.new.id)) if snap.new else None
        for item in (got, mine):
            ctx.register_secret(item[1] if item else None)
        if got is None or mine is None or got != mine:
            return [self.finding("NEW_SECRET_NOT_CURRENT", f"{self.where}: GetParameter "
                                 f"returns version {got[0] if got else '-'}, not the new one",
                                 "check who else writes this parameter, then resume the run")]
        return []

    def verify_refused(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        got = self._ssm().read()
        old = self._ssm().read(int(snap.old.id))
        for item in (got, old):
            ctx.register_secret(item[1] if item else None)
        if got is None or old is None or got[0] == old[0] or got[1] == old[1]:
            return [self.finding(self.still_valid_code, f"{self.where}: the old version "
                                 f"{snap.old.id} (or its value) is still what GetParameter "
                                 "returns", "resume the run; if it moved back, find who "
                                 "writes the parameter", version=snap.old.id)]
        return []

    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        if snap.facts["old_labelled"]:
            self._ssm().label(int(snap.old.id), LABEL, on=False)
        return {"version": snap.old.id, "label_removed": LABEL}

    def delete_text(self, snap: Snapshot) -> str:
        return (f"remove the label {LABEL} from the old version {snap.old.id} (SSM keeps "
                "history; the version can no longer be read by label)")

    def old_value(self, ctx: StepContext, old_id: str) -> str | None:
        old = self._ssm().read(int(old_id))
        ctx.register_secret(old[1] if old else None)
        return old[1] if old else None

    def recovery(self, snap: Snapshot) -> list[str]:
        return [f"aws ssm get-parameter --name '{self.cfg.parameter}:{LABEL}' --with-decryption "
                "--query Parameter.Value --output text > /dev/shm/bg-prev && aws ssm "
                f"put-parameter --name '{self.cfg.parameter}' --type SecureString --overwrite "
                "--value file:///dev/shm/bg-prev; rm -f /dev/shm/bg-prev"]


SPEC = KindSpec(Settings, SsmParameterKind, docs="rotate.md#ssm_parameter",
                summary="a generated value as a new version of an SSM parameter")
