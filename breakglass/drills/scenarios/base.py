"""What a scenario is: a function from a Probe (config, bounded HTTP, secrets) to a Result.

A Result's verdict is one of three (DESIGN principle 1): passed (the app refused what it must
refuse), failed (it accepted it: a finding), could not verify (not configured, the login failed,
an answer that proves nothing, a limit reached). A scenario raises CouldNotVerify for the last
kind; the step turns it into a Result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from breakglass.drills.scenarios.http import Http, login
from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    import httpx

    from breakglass.config.scenarios import ScenariosConfig
    from breakglass.engine.runbook import StepContext

Verdict = Literal["passed", "failed", "could not verify"]


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    code: str
    message: str
    action: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def passed(code: str, message: str, **evidence: Any) -> Result:
    return Result("passed", code, message, "", evidence)


def failed(code: str, message: str, action: str, **evidence: Any) -> Result:
    return Result("failed", code, message, action, evidence)


def not_configured(scenario: str, what: str) -> CouldNotVerify:
    return CouldNotVerify(f"{scenario} not run: {what}", code="NOT_CONFIGURED",
                          action=f"add it under [drills.scenarios] (docs/drill-scenarios.md), "
                                 f"then run `breakglass drill.scenarios --only {scenario}`")


def unclear(what: str, status: int, expected: str) -> CouldNotVerify:
    return CouldNotVerify(f"{what} answered {status}, which is neither {expected}: it proves "
                          "nothing either way", code="UNCLEAR_RESPONSE",
                          action="check the path in [drills.scenarios] and that the staging app "
                                 "is healthy, then run the drill again")


@dataclass
class Probe:
    """What a scenario may use; one per scenario run."""

    name: str
    ctx: StepContext
    cfg: ScenariosConfig
    http: Http

    def secret(self, ref: str) -> str:
        # Resolving registers the value with the run's redactor before it can reach any output.
        return self.ctx.secret(ref)

    def logged_in(self) -> httpx.Client:
        """A client logged in as [drills.scenarios.user]; its session cookie is registered with
        the redactor."""
        user = self.cfg.user
        if user is None:
            raise not_configured(self.name, "no [drills.scenarios.user] (the test user)")
        client = self.http.client()
        password = self.secret(user.password)
        session = login(self.http, client, self.cfg.login, user.username, password)
        self.ctx.register_secret(session)
        return client


ScenarioFn = Callable[[Probe], Result]
