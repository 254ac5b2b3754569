"""`store = "aws-sm:NAME"`: the AWSCURRENT version of a Secrets Manager secret.

A write is a new version whose id is derived from the run and the value (ClientRequestToken), so
a resumed run writes nothing twice, and a run that wrote, put back and writes again makes a new
version; Secrets Manager moves AWSPREVIOUS to the version it replaced, which is what
`previous` reads and `restore` moves AWSCURRENT back to. Nothing is left to clean up: the old
value stays in the secret's own history (AWSPREVIOUS) until the next write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from breakglass.runbooks.rotate.stores import Store, value_digest

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.runbook import StepContext


class SecretsManagerStore(Store):
    scheme = "aws-sm"

    def __init__(self, config: Config, name: str, secret: str) -> None:
        from breakglass.runbooks.rotate.aws_secretsmanager import SmValue

        self.sm, self.name, self.secret = SmValue(config, name), name, secret
        self.where = f"aws-sm:{name}"

    def _token(self, ctx: StepContext, value: str) -> str:
        from breakglass.runbooks.rotate.aws_secretsmanager import run_token

        return run_token(ctx.run_id, f"store/{self.secret}/{value_digest(value)}")

    def read_all(self, ctx: StepContext) -> dict[str, str | None]:
        from breakglass.runbooks.rotate.aws_secretsmanager import CURRENT

        return {self.where: self.sm.read(stage=CURRENT)}

    def previous(self, ctx: StepContext) -> list[str]:
        return [v for vid in self.sm.stages() if (v := self.sm.read(version=vid)) is not None]

    def write(self, ctx: StepContext, value: str) -> dict[str, Any]:
        from breakglass.runbooks.rotate.aws_secretsmanager import CURRENT

        token = self._token(ctx, value)
        self.sm.put(value, token, [CURRENT])
        # PutSecretValue moves AWSCURRENT to the new version; after an UpdateSecretVersionStage
        # (a restore) moto leaves the label on the old version as well. One holder, ours.
        for version, labels in self.sm.stages().items():
            if version != token and CURRENT in labels:
                self.sm.move(CURRENT, token, version)
        return {"stored_in": self.where, "version": token}

    def _versions(self, ctx: StepContext) -> tuple[str | None, str | None]:
        """(this run's version when it is AWSCURRENT, the version holding AWSPREVIOUS)."""
        from breakglass.runbooks.rotate.aws_secretsmanager import CURRENT, PREVIOUS

        stages = self.sm.stages()
        current = next((v for v, s in stages.items() if CURRENT in s), None)
        value = self.sm.read(version=current) if current else None
        ctx.register_secret(value)
        mine = current if value is not None and current == self._token(ctx, value) else None
        before = next((v for v, s in stages.items() if PREVIOUS in s), None)
        return mine, before

    def restore(self, ctx: StepContext) -> dict[str, Any]:
        from breakglass.runbooks.rotate.aws_secretsmanager import CURRENT

        mine, before = self._versions(ctx)
        if mine is None or before is None:
            return {"restored": False, "why": f"{self.where} does not hold this run's value"}
        self.sm.move(CURRENT, before, mine)
        return {"restored": True, "version": before}

    def recovery(self, ctx: StepContext) -> list[str]:
        mine, before = self._versions(ctx)
        if mine is None or before is None:
            return []
        return [f"aws secretsmanager update-secret-version-stage --secret-id {self.name} "
                f"--version-stage AWSCURRENT --move-to-version-id {before} "
                f"--remove-from-version-id {mine}"]
