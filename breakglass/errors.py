"""One exception tree, mapped once to exit codes in the CLI (breakglass/commands/_common.py).

    BreakglassError                 exit 1   something is wrong (a finding-level failure)
    ├── UsageError                  exit 2   bad arguments, bad input, refused action
    │   ├── ConfigError             exit 2   breakglass.toml is wrong (one line per problem)
    │   ├── SecretRefError          exit 2   a secret reference cannot be resolved
    │   ├── LockHeld                exit 2   another run of the same runbook+target is active
    │   └── NotConfirmed            exit 2   a mutating run was not confirmed (--yes / prompt)
    ├── CouldNotVerify              exit 3   a check could not run (service down, tool missing)
    │   └── StateLost               exit 3   a run can no longer write its shared state: it stops
    ├── PreconditionFailed          exit 1   a runbook precondition (checklist item) failed
    └── JournalTampered             exit 1   a journal's hash chain does not verify

Vendor exceptions are translated at the connector boundary (`raise CouldNotVerify(...) from exc`);
nothing above the connectors sees boto/psycopg/paramiko exceptions.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_USAGE = 2
EXIT_UNVERIFIED = 3


class BreakglassError(Exception):
    """Base of every error breakglass raises on purpose. `str(err)` is one line for people."""

    exit_code: int = EXIT_FINDING


class UsageError(BreakglassError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration problem. `problems` holds one line per problem, each naming a key path."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))


class SecretRefError(UsageError):
    """A secret reference (env:, file:, aws-sm:, ssm:) could not be resolved.
    The message never holds the value."""


class LockHeld(UsageError):
    pass


class NotConfirmed(UsageError):
    pass


class CouldNotVerify(BreakglassError):
    """A verification could not run. Never reported as a pass (DESIGN principle 1).

    `code` is the stable finding code the engine gives the UNVERIFIED finding it becomes (e.g.
    STORE_UNREACHABLE); `action` tells the user what to fix; `evidence` joins the finding."""

    exit_code = EXIT_UNVERIFIED

    def __init__(self, message: str = "", *, code: str = "COULD_NOT_VERIFY",
                 action: str = "", evidence: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.action = action
        # Goes into the finding's evidence: e.g. a `recovery_plan` (commands printed whole).
        self.evidence = evidence or {}


class StateLost(CouldNotVerify):
    """A run can no longer write its shared state (the lease was taken over or not renewed, the
    journal was appended by another writer, S3 stopped answering). The run stops where it is —
    no further change, no undo: another machine may own it now — and `runs.resume` finishes
    it."""


class PreconditionFailed(BreakglassError):
    pass


class JournalTampered(BreakglassError):
    pass
