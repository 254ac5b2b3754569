"""The fleet a rollback acts on: `[releases]` resolved into SSH hosts, the concurrent read of
every host's layout (cached for one run phase), the migration-safety check, and the per-host
restart + health check.

Reads go to all hosts at once through `run_on_hosts` (bounded by `max_parallel`): a rollback
is an incident response and 16 hosts read one after another would cost 16 SSH handshakes of
waiting. Changes never go through the pool: the steps change one host at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from breakglass.connectors.ssh import Connection, SSHHost, run_on_hosts
from breakglass.engine.findings import Finding, Outcome, Severity, unverified
from breakglass.engine.runbook import StepContext
from breakglass.errors import ConfigError, CouldNotVerify, UsageError
from breakglass.runbooks.rollback import layout
from breakglass.runbooks.rollback.choose import Choice, HostRead, choose
from breakglass.runbooks.rollback.recovery import sudo_line
from breakglass.runbooks.rotate.consumers import ConsumerResult, HealthPolicy, health

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.config.models import ReleasesConfig

CHOOSE_STEP = "choose"
MIGRATION_TIMEOUT = 300.0

# $1 base, $2 from, $3 to, $4 the user's command: run in the base folder with the releases in
# the environment (never spliced into the command text).
_MIGRATION = r"""
b=$1; case $b in "~/"*) b=$HOME/${b#??};; esac
cd "$b" || exit 2
BREAKGLASS_RELEASES=$b BREAKGLASS_ROLLBACK_FROM=$2 BREAKGLASS_ROLLBACK_TO=$3 \
  BREAKGLASS_FROM_DIR=$b/releases/$2 BREAKGLASS_TO_DIR=$b/releases/$3 exec sh -c "$4"
"""


def settings_of(config: Config) -> ReleasesConfig:
    """`[releases]`, checked against `[hosts.*]` and a health check for every host (a rollback
    that cannot prove each host answers is refused before it starts)."""
    releases = config.releases
    if releases is None:
        raise ConfigError('no [releases] section: rollback needs hosts = ["web1", ...], '
                          'path = "/srv/app" and restart = "..." (see docs/rollback.md)')
    problems = []
    for name in releases.hosts:
        host = config.hosts.get(name)
        if host is None:
            known = ", ".join(sorted(config.hosts)) or "none"
            problems.append(f"releases.hosts: no [hosts.{name}] in the configuration "
                            f"(configured: {known})")
        elif not (releases.health_url or host.health_url or host.health_command
                  or config.app is not None):
            problems.append(f"releases.health_url: no health check for {name} (set "
                            f"releases.health_url, hosts.{name}.health_url or [app] base_url): "
                            "a rollback must prove every host answers")
    if len(set(releases.hosts)) != len(releases.hosts):
        problems.append("releases.hosts: a host is listed twice")
    if problems:
        raise ConfigError(problems)
    return releases


@dataclass(frozen=True)
class MigrationVerdict:
    """The migration-safety check's verdict: safe | unsafe | error | not_configured |
    not_run (no target yet). `detail` is the command's last output."""

    state: str
    detail: str = ""
    host: str = ""
    command: str = ""

    @property
    def line(self) -> str:
        text = {"safe": "safe", "unsafe": "UNSAFE", "error": "could not run",
                "not_configured": "not configured", "not_run": "not run"}[self.state]
        where = f" (on {self.host})" if self.host else ""
        return f"migration check{where}: {text}" + (f" — {self.detail}" if self.detail else "")

    def findings(self) -> list[Finding]:
        if self.state == "unsafe":
            return [Finding("MIGRATION_UNSAFE", self.line,
                            "the target release cannot run against the current schema: write "
                            "a reverse migration (or a fix forward) first; `--force` rolls back "
                            "anyway when you know the check is wrong",
                            Severity.CRITICAL, Outcome.FAILED, "releases.migration_check",
                            {"command": self.command, "output": self.detail})]
        if self.state in ("error", "not_run"):
            return [unverified("MIGRATION_CHECK_FAILED", self.line,
                               "fix the check (releases.migration_check) or the host, then run "
                               "again; `--force` skips it", "releases.migration_check",
                               command=self.command, output=self.detail)]
        if self.state == "not_configured":
            return [Finding("MIGRATION_CHECK_NOT_CONFIGURED",
                            "releases.migration_check is not set: nothing says whether the "
                            "target release runs on the current schema",
                            "set releases.migration_check (e.g. a script comparing "
                            "`manage.py migrate --plan` of both releases) so that a rollback "
                            "knows whether the old code runs on the new schema",
                            Severity.INFO, Outcome.NOTE, "releases.migration_check")]
        return []


class Fleet:
    """Shared by the steps of one Rollback: the hosts, the cached read, the verdict."""

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        self.config = config
        self.settings = settings_of(config)
        to = params.get("to") or None
        self.to = layout.check_release_id(str(to)) if to else None
        self.force = bool(params.get("force"))
        self.policy = HealthPolicy(attempts=self.settings.health_attempts,
                                   deadline=self.settings.health_deadline.total_seconds())
        self._hosts: list[SSHHost] | None = None
        self._reads: list[HostRead] | None = None
        self._verdict: MigrationVerdict | None = None

    @property
    def base(self) -> str:
        return self.settings.path

    # -- hosts ------------------------------------------------------------------------------
    def hosts(self, ctx: StepContext) -> list[SSHHost]:
        if self._hosts is None:
            self._hosts = [self._host(name, ctx) for name in self.settings.hosts]
        return self._hosts

    def host(self, ctx: StepContext, name: str) -> SSHHost:
        return next(h for h in self.hosts(ctx) if h.name == name)

    def _host(self, name: str, ctx: StepContext) -> SSHHost:
        host = SSHHost.from_config(name, self.config.hosts[name], ctx.secrets)
        if self.settings.health_url:
            # The host's own health_url wins; the template fills in the rest of the fleet.
            url = host.health_url or self.settings.health_url.format(host=name,
                                                                     address=host.address)
            host = replace(host, health_url=url)
        return host

    # -- the read phase ---------------------------------------------------------------------
    def read_all(self, ctx: StepContext, *, fresh: bool = False) -> list[HostRead]:
        """Every host's layout, read concurrently. An unreachable host is that host's error,
        never an exception: the plan names it."""
        if self._reads is None or fresh:
            outcomes = run_on_hosts(self.hosts(ctx), lambda conn: layout.read(conn, self.base),
                                    max_parallel=self.settings.max_parallel)
            for o in outcomes:
                if isinstance(o.error, UsageError):
                    raise o.error  # a bad key reference is the user's to fix: exit 2
            self._reads = [HostRead(o.host.name, o.host.label, o.value, o.error)
                           for o in outcomes]
        return self._reads

    def pinned(self, ctx: StepContext) -> Choice | None:
        out = ctx.outputs.get(CHOOSE_STEP)
        return Choice.from_dict(out) if out else None

    def choice(self, ctx: StepContext) -> tuple[Choice | None, list[Finding]]:
        return choose(self.read_all(ctx), self.to, self.pinned(ctx), ctx.run_id)

    # -- migration safety -------------------------------------------------------------------
    def verdict(self, ctx: StepContext) -> MigrationVerdict:
        if self._verdict is None:
            self._verdict = self._check_migrations(ctx)
        return self._verdict

    def _check_migrations(self, ctx: StepContext) -> MigrationVerdict:
        command = self.settings.migration_check
        if command is None:
            return MigrationVerdict("not_configured")
        choice, _ = self.choice(ctx)
        if choice is None:
            return MigrationVerdict("not_run", "no rollback target (see the findings above)",
                                    command=command)
        host = self.hosts(ctx)[0]
        start = choice.start.get(host.name, choice.target)
        try:
            with host.connect() as conn:
                res = conn.run(["sh", "-c", _MIGRATION, "sh", self.base, start, choice.target,
                                command], timeout=MIGRATION_TIMEOUT)
        except CouldNotVerify as exc:
            return MigrationVerdict("error", str(exc), host.name, command)
        state = {0: "safe", 1: "unsafe"}.get(res.exit, "error")
        detail = res.stdout.strip().splitlines()[-1:] if state != "error" else [
            f"exit {res.exit}: {res.tail(200)}"]
        return MigrationVerdict(state, (detail[0] if detail else "")[:300], host.name, command)

    # -- one host ---------------------------------------------------------------------------
    def restart_line(self, host: SSHHost) -> str:
        return sudo_line(host, self.settings.restart)

    def restart(self, conn: Connection) -> tuple[bool, str]:
        """Run the restart; (ok, detail). A failure is not raised: the marker stays on the
        host, and the step's verify reports RESTART_FAILED from what it observes."""
        line = self.restart_line(conn.host)
        res = conn.run(line, timeout=self.policy.restart_timeout)
        return res.ok, "ok" if res.ok else f"exit {res.exit}: {res.tail(200)}"

    def health(self, conn: Connection) -> ConsumerResult:
        return health(conn, "app", self.config.app, self.policy)
