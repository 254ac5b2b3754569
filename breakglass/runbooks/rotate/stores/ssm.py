"""`store = "ssm:NAME"`: the latest version of an SSM parameter (a SecureString).

A write is a new version whose Description names the run, so a resumed run recognises it and
writes nothing twice. SSM has no call that deletes one version and keeps up to 100: `previous`
reads them back, and `restore` writes the replaced value again as a newer version. Nothing is
left to clean up beyond the parameter's own history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from breakglass.runbooks.rotate.stores import Store

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.runbook import StepContext


class SsmStore(Store):
    scheme = "ssm"

    def __init__(self, config: Config, name: str, secret: str) -> None:
        from breakglass.runbooks.rotate.ssm_parameter import SsmValue

        self.ssm, self.name, self.secret = SsmValue(config, name), name, secret
        self.where = f"ssm:{name}"

    def read_all(self, ctx: StepContext) -> dict[str, str | None]:
        got = self.ssm.read()
        return {self.where: got[1] if got else None}

    def previous(self, ctx: StepContext) -> list[str]:
        return [str(p["Value"]) for p in self.ssm.history(decrypt=True)]

    def write(self, ctx: StepContext, value: str) -> dict[str, Any]:
        from breakglass.runbooks.rotate.ssm_parameter import marker

        history = self.ssm.history()
        if history and history[-1].get("Description") == marker(ctx.run_id):
            got = self.ssm.read()
            if got is not None and got[1] == value:  # written before a stop: not twice
                return {"stored_in": self.where, "version": got[0]}
        return {"stored_in": self.where, "version": self.ssm.put(value, marker(ctx.run_id))}

    def _replaced(self, ctx: StepContext) -> int | None:
        """The version this run's write replaced, while this run's write is the latest."""
        from breakglass.runbooks.rotate.ssm_parameter import marker

        history = self.ssm.history()
        if len(history) < 2 or history[-1].get("Description") != marker(ctx.run_id):
            return None
        return int(history[-2]["Version"])

    def restore(self, ctx: StepContext) -> dict[str, Any]:
        before = self._replaced(ctx)
        got = self.ssm.read(before) if before is not None else None
        if got is None:
            return {"restored": False, "why": f"{self.where} does not hold this run's value"}
        ctx.register_secret(got[1])
        version = self.ssm.put(got[1], f"breakglass: version {before} put back by run "
                                       f"{ctx.run_id}")
        return {"restored": True, "version": version, "from_version": before}

    def recovery(self, ctx: StepContext) -> list[str]:
        before = self._replaced(ctx)
        if before is None:
            return []
        # The value goes through a file in /dev/shm, never through argv.
        return [f"aws ssm get-parameter --name '{self.name}:{before}' --with-decryption --query "
                "Parameter.Value --output text > /dev/shm/bg-prev && aws ssm put-parameter "
                f"--name '{self.name}' --type SecureString --overwrite --value "
                "file:///dev/shm/bg-prev; rm -f /dev/shm/bg-prev"]
