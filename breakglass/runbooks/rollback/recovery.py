"""Where the fleet stands after an undo that could not finish, and the commands that finish it
by hand (pure: the hosts' fresh reads come in, a finding goes out).

A rollback's undo can stop half-way — a restart that fails on one host while the others were
put back. The run then ends "failed; undo incomplete" and stays resumable: `runs.resume ID`
finishes the undo once the cause is fixed. The person reading the output at 3 a.m. also needs
to know exactly which host points at which release and which still owes a restart, and the
commands that would put it right without breakglass: FLEET_NOT_RESTORED carries both (the plan
in `evidence["recovery_plan"]`, which engine/render.py prints whole, one command a line).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from breakglass.connectors.ssh import SSHHost
from breakglass.engine.findings import Finding, Outcome, Severity
from breakglass.runbooks.rollback.choose import Choice, HostRead
from breakglass.runbooks.rollback.layout import MARKER
from breakglass.runbooks.rotate.consumers import health_url, ssh_line


@dataclass(frozen=True)
class HostState:
    """One host against the release it ran when the rollback started."""

    host: str
    start: str
    current: str | None = None
    pending: bool = False  # the restart-owed marker is there
    error: str | None = None  # the host could not be read

    @property
    def restored(self) -> bool:
        return self.error is None and self.current == self.start and not self.pending

    @property
    def line(self) -> str:
        if self.error is not None:
            return f"{self.host}: state unknown, cannot be read ({self.error})"
        if self.restored:
            return f"{self.host} runs {self.start} (as before the rollback)"
        link = (f"current -> {self.current}" if self.current == self.start
                else f"current -> {self.current}, NOT {self.start}")
        owed = ("; restart owed: the last one failed, so what its process serves is not "
                "proven" if self.pending else "")
        return f"{self.host}: {link}{owed}"

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "start": self.start, "current": self.current,
                "pending": self.pending, "error": self.error, "restored": self.restored}


def states(choice: Choice, reads: Sequence[HostRead]) -> list[HostState]:
    """Every host that had a release at the start, as it is now (in [releases] hosts order)."""
    out = []
    for r in reads:
        start = choice.start.get(r.host)
        if start is None:
            continue
        if r.releases is None:
            out.append(HostState(r.host, start, error=str(r.error)))
        else:
            out.append(HostState(r.host, start, r.releases.current,
                                 r.releases.pending is not None))
    return out


def plan(state: HostState, host: SSHHost, base: str, restart: str, app: Any | None) -> list[str]:
    """The commands that put one host back by hand, as `layout.py` would: point `current` at
    the start release atomically, restart, clear the marker, check health."""
    cd = f"cd {_remote_path(base)}"
    lines = []
    if state.current != state.start:
        target = shlex.quote(f"releases/{state.start}")
        lines.append(ssh_line(host, sudo_line(host, f'{cd} && ln -sfn "$PWD"/{target} '
                                              ".current.breakglass-tmp && mv -T "
                                              ".current.breakglass-tmp current")))
    lines.append(ssh_line(host, restart))
    lines.append(ssh_line(host, sudo_line(host, f"{cd} && rm -f {MARKER}")))
    url = health_url(host, app)
    if url is not None:
        lines.append(f"curl -fsS {shlex.quote(url)}")
    if host.health_command:
        lines.append(ssh_line(host, host.health_command))
    return lines


def finding(run_id: str, found: Sequence[HostState], hosts: Mapping[str, SSHHost], base: str,
            restart: Mapping[str, str], app: Any | None) -> Finding | None:
    """FLEET_NOT_RESTORED naming every host's state and the plan for the ones not back;
    None when the whole fleet is back where it started."""
    left = [s for s in found if not s.restored]
    if not left:
        return None
    commands = [line for s in left
                for line in plan(s, hosts[s.host], base, restart[s.host], app)]
    names = ", ".join(s.host for s in left)
    return Finding(
        "FLEET_NOT_RESTORED",
        "the undo did not finish, the fleet is not back where it started: "
        + "; ".join(s.line for s in found),
        f"fix what failed on {names} (its own finding says what), then "
        f"`breakglass runs.resume {run_id}` finishes the undo; or run the recovery plan below "
        "by hand", Severity.CRITICAL, Outcome.FAILED, "releases",
        {"hosts": [s.to_dict() for s in found], "recovery_plan": commands})


def _remote_path(base: str) -> str:
    """`base` for a remote shell: `~/` stays unquoted (the remote shell expands it, as the
    layout scripts do), the rest is quoted."""
    if base.startswith("~/"):
        return "~/" + shlex.quote(base[2:])
    return shlex.quote(base)


def sudo_line(host: SSHHost, line: str) -> str:
    """`line` as the host runs changes: through `sudo -n` when hosts.NAME.sudo is set."""
    return f"sudo -n sh -c {shlex.quote(line)}" if host.sudo else line
