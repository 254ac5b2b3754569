"""Consumers of a secret: the services that read it, restarted and health-checked after a
rotation deploys the new value — before anything revokes the old one.

A consumer is written `"HOST:SERVICE"` in `[secrets.NAME].consumers`; HOST names a
`[hosts.HOST]`. For each consumer:

    restart   the host's `restart` template (default `systemctl restart {service}`, through
              `sudo -n` when the host has `sudo = true`), run over SSH
    health    an HTTP GET of the host's `health_url` (else `[app] base_url + health_path`) that
              must answer 2xx, and/or the host's `health_command` that must exit 0 — retried
              with backoff (tenacity) because a restarted service needs a moment to listen

Restarts are rolling — one host at a time, stopping at the first consumer that is not healthy —
so a bad value takes down one host, not the fleet. A consumer that is not healthy is a
CONSUMER_UNHEALTHY finding (restart failed: CONSUMER_RESTART_FAILED; host unreachable:
CONSUMER_UNREACHABLE; no health check configured: CONSUMER_HEALTH_UNKNOWN, could not verify);
the rotation framework stops before revocation on any of them and prints `recovery_plan(...)`:
the exact commands that put the previous value back.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import tenacity

from breakglass.connectors import http
from breakglass.connectors.ssh import Connection, SSHHost
from breakglass.engine.findings import Finding, Outcome, Severity
from breakglass.errors import BreakglassError, CouldNotVerify, UsageError

if TYPE_CHECKING:
    from breakglass.config import Config

DEFAULT_RESTART = "systemctl restart {service}"
OK = "OK"


@dataclass(frozen=True)
class Consumer:
    host: str
    service: str

    def __str__(self) -> str:
        return f"{self.host}:{self.service}"

    @classmethod
    def parse(cls, text: str, where: str = "consumers") -> Consumer:
        host, sep, service = text.partition(":")
        if not sep or not host.strip() or not service.strip() or ":" in service:
            raise UsageError(f'{where}: "{text}" is not HOST:SERVICE (e.g. "web1:gunicorn")')
        return cls(host.strip(), service.strip())


def consumers_of(config: Config, secret: str) -> list[Consumer]:
    """The consumers of `[secrets.SECRET]`; each must name a configured `[hosts.NAME]`."""
    where = f"secrets.{secret}.consumers"
    out = [Consumer.parse(text, where) for text in config.secrets[secret].consumers]
    unknown = sorted({c.host for c in out} - set(config.hosts))
    if unknown:
        known = ", ".join(sorted(config.hosts)) or "none"
        raise UsageError(f"{where}: no [hosts.{unknown[0]}] in the configuration "
                         f"(configured hosts: {known})")
    return out


@dataclass(frozen=True)
class HealthPolicy:
    """How long a restarted consumer gets to become healthy. The defaults suit a web app that
    boots in a few seconds; a slow one raises `deadline`."""

    attempts: int = 10
    deadline: float = 30.0  # seconds, across all attempts
    request_timeout: float = 5.0
    max_wait: float = 3.0  # the backoff between attempts grows up to this
    restart_timeout: float = 120.0


@dataclass(frozen=True)
class ConsumerResult:
    """One consumer after restart + health check. `ok` is "safe to go on"; `code` is OK or the
    stable finding code; `evidence` holds what was seen (status, attempts, output tail)."""

    consumer: str
    ok: bool
    detail: str
    code: str = OK
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def finding(self) -> Finding | None:
        if self.ok:
            return None
        could_not_look = self.code in ("CONSUMER_UNREACHABLE", "CONSUMER_HEALTH_UNKNOWN")
        return Finding(
            code=self.code, message=f"{self.consumer}: {self.detail}",
            action=_ACTIONS.get(self.code, _ACTIONS["CONSUMER_UNHEALTHY"]),
            severity=(Severity.CRITICAL if self.code in ("CONSUMER_UNHEALTHY",
                                                         "CONSUMER_RESTART_FAILED")
                      else Severity.ERROR),
            outcome=Outcome.UNVERIFIED if could_not_look else Outcome.FAILED,
            subject=self.consumer, evidence=dict(self.evidence))

    def to_dict(self) -> dict[str, Any]:
        return {"consumer": self.consumer, "ok": self.ok, "detail": self.detail,
                "code": self.code, "evidence": dict(self.evidence)}


_ACTIONS = {
    "CONSUMER_UNHEALTHY": "the old value was NOT revoked: run the recovery plan to put the "
                          "previous value back (or fix the service), then rotate again",
    "CONSUMER_RESTART_FAILED": "the old value was NOT revoked: read the restart output, fix the "
                               "restart command (hosts.NAME.restart) or the service, then run "
                               "the recovery plan or rotate again",
    "CONSUMER_UNREACHABLE": "the old value was NOT revoked: make the host reachable over SSH, "
                            "then `breakglass runs.resume ID`",
    "CONSUMER_HEALTH_UNKNOWN": "set hosts.NAME.health_url or health_command (or [app] base_url) "
                               "so that a rotation can prove the service works with the new "
                               "value",
    "CONSUMER_SKIPPED": "an earlier consumer failed; fix it first — this one was not touched",
}


def restart_line(host: SSHHost, service: str) -> str:
    """The shell line that restarts `service` on `host` (also shown in plans)."""
    line = (host.restart or DEFAULT_RESTART).format(service=shlex.quote(service))
    return f"sudo -n sh -c {shlex.quote(line)}" if host.sudo else line


def health_url(host: SSHHost, app: Any | None) -> str | None:
    if host.health_url:
        return host.health_url
    if app is not None:
        return str(app.base_url).rstrip("/") + str(app.health_path)
    return None


def restart(conn: Connection, service: str, policy: HealthPolicy = HealthPolicy()
            ) -> ConsumerResult:
    """Restart `service` on the connected host. Exit status 0 is success (the health check
    proves the rest)."""
    consumer = f"{conn.host.name}:{service}"
    line = restart_line(conn.host, service)
    res = conn.run(line, timeout=policy.restart_timeout)
    if not res.ok:
        return ConsumerResult(consumer, False, f"restart failed (exit {res.exit}): {res.tail()}",
                              "CONSUMER_RESTART_FAILED",
                              {"command": line, "exit": res.exit, "output": res.tail(1000)})
    return ConsumerResult(consumer, True, "restarted", OK, {"command": line})


def health(conn: Connection, service: str, app: Any | None = None,
           policy: HealthPolicy = HealthPolicy()) -> ConsumerResult:
    """Check the consumer's health: every configured probe (URL, command) must pass within
    the policy's attempts and deadline."""
    host = conn.host
    consumer = f"{host.name}:{service}"
    url = health_url(host, app)
    if url is None and host.health_command is None:
        return ConsumerResult(consumer, False, "no health check configured: cannot prove the "
                              "service works with the new value", "CONSUMER_HEALTH_UNKNOWN")
    evidence: dict[str, Any] = {}
    if url is not None:
        ok, seen, attempts = _retry(lambda: _http_probe(url, policy), policy)
        evidence.update(url=url, http=seen, attempts=attempts)
        if not ok:
            return ConsumerResult(consumer, False, f"health check {url} failed after "
                                  f"{attempts} attempt(s): {seen}", "CONSUMER_UNHEALTHY",
                                  evidence)
    if host.health_command is not None:
        command = host.health_command

        def probe() -> tuple[bool, str]:
            res = conn.run(command, timeout=policy.request_timeout)
            return res.ok, f"exit {res.exit}: {res.tail(200)}" if not res.ok else "exit 0"

        ok, seen, attempts = _retry(probe, policy)
        evidence.update(command=command, command_result=seen, command_attempts=attempts)
        if not ok:
            return ConsumerResult(consumer, False, f"health command failed after {attempts} "
                                  f"attempt(s): {seen}", "CONSUMER_UNHEALTHY", evidence)
    return ConsumerResult(consumer, True, "healthy", OK, evidence)


def _http_probe(url: str, policy: HealthPolicy) -> tuple[bool, str]:
    try:
        # Redirects are followed so a /healthz -> /healthz/ redirect is not a failure.
        resp = http.request("GET", url, timeout=policy.request_timeout, follow_redirects=True)
    except http.Unreachable as exc:  # retried by the caller: an app restarting says nothing
        return False, exc.detail
    return resp.is_success, f"HTTP {resp.status_code}"


def _retry(probe: Callable[[], tuple[bool, str]], policy: HealthPolicy
           ) -> tuple[bool, str, int]:
    """Run `probe` until it passes or the policy gives up; (passed, last seen, attempts)."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts)
        | tenacity.stop_after_delay(policy.deadline),
        wait=tenacity.wait_exponential(multiplier=0.25, max=policy.max_wait),
        retry=tenacity.retry_if_result(lambda r: not r[0]),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else
        (False, "no attempt"),
    )
    ok, seen = retrying(probe)
    return ok, seen, int(retrying.statistics.get("attempt_number", 1))


def restart_and_check(consumers: Sequence[Consumer], hosts: Mapping[str, SSHHost],
                      app: Any | None = None, policy: HealthPolicy = HealthPolicy(),
                      connect: Callable[[SSHHost], Connection] | None = None
                      ) -> list[ConsumerResult]:
    """Restart and health-check every consumer, host by host (rolling). After the first
    consumer that is not OK, the rest are CONSUMER_SKIPPED (not touched): one broken host is
    recoverable, a fleet restarted onto a bad value is an outage."""
    results: list[ConsumerResult] = []
    failed = False
    for name, group in _by_host(consumers).items():
        if failed:
            results += [ConsumerResult(str(c), False, "not restarted: an earlier consumer "
                                       "failed", "CONSUMER_SKIPPED") for c in group]
            continue
        host = hosts[name]
        try:
            with (connect or SSHHost.connect)(host) as conn:
                for c in group:
                    if failed:
                        results.append(ConsumerResult(str(c), False, "not restarted: an earlier "
                                                      "consumer failed", "CONSUMER_SKIPPED"))
                        continue
                    res = restart(conn, c.service, policy)
                    if res.ok:
                        res = _merge(res, health(conn, c.service, app, policy))
                    results.append(res)
                    failed = not res.ok
        except UsageError:
            raise  # a bad key or config is the user's to fix (exit 2), not a consumer's state
        except BreakglassError as exc:
            code = getattr(exc, "code", "")
            done = {r.consumer for r in results}
            for c in group:
                if str(c) not in done:
                    results.append(ConsumerResult(
                        str(c), False, str(exc), "CONSUMER_UNREACHABLE"
                        if isinstance(exc, CouldNotVerify) else "CONSUMER_UNHEALTHY",
                        {"error_code": code}))
            failed = True
    return results


def _merge(restarted: ConsumerResult, checked: ConsumerResult) -> ConsumerResult:
    detail = "restarted; " + checked.detail
    return ConsumerResult(checked.consumer, checked.ok, detail, checked.code,
                          {**restarted.evidence, **checked.evidence})


def findings(results: Sequence[ConsumerResult]) -> list[Finding]:
    return [f for r in results if (f := r.finding()) is not None]


def ssh_line(host: SSHHost, remote: str) -> str:
    """A command a person can paste: `ssh -p PORT user@address 'REMOTE'`."""
    port = f"-p {host.port} " if host.port != 22 else ""
    return f"ssh {port}{host.user}@{host.address} {shlex.quote(remote)}"


def recovery_plan(consumers: Sequence[Consumer], hosts: Mapping[str, SSHHost], *,
                  restore: Mapping[str, Sequence[str]] | None = None,
                  app: Any | None = None) -> list[str]:
    """The exact commands that put the previous value back on each consumer: per host, the
    `restore` commands the secret kind gives (e.g. stores.dotenv_hosts.restore_commands: copy
    the backup over the env file), then each service's restart, then the health check. Values never
    appear here — backups hold them on the hosts — so the plan is safe to print and journal."""
    lines: list[str] = []
    for name, group in _by_host(consumers).items():
        host = hosts[name]
        lines += [ssh_line(host, remote) for remote in (restore or {}).get(name, ())]
        lines += [ssh_line(host, restart_line(host, c.service)) for c in group]
        url = health_url(host, app)
        if url is not None:
            lines.append(f"curl -fsS {shlex.quote(url)}")
        if host.health_command:
            lines.append(ssh_line(host, host.health_command))
    return lines


def _by_host(consumers: Sequence[Consumer]) -> dict[str, list[Consumer]]:
    """Consumers grouped by host, hosts in the order they first appear."""
    out: dict[str, list[Consumer]] = {}
    for c in consumers:
        out.setdefault(c.host, []).append(c)
    return out
