"""`rollback` over three sshd hosts (tests/rollback/fleet.py: each serves its `current` release
over HTTP and counts its restarts), r3 -> r2.

Faults: SIGKILL at every boundary of `choose` and each host step (resumed; twice undone with
`runs.undo` instead); a host that goes away after a kill (its [hosts] entry points at a closed
port) and comes back; a restart refused on web2 or web3 — the run fails by itself, and its undo
cannot restart that host either (the recovery plan is run by hand); a permission refused
(web2's base folder not writable by the login user).

The end state is read over SFTP (`current`, the restart-owed marker) and HTTP (the release each
app process serves): consistent when every host is on one release that the run's status
claims (r2 after "succeeded", r3 after "rolled back" or "undone"), serves it, and owes no
restart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench._faults.scenario import (
    CONSISTENT,
    PLAN,
    STRANDED,
    Fault,
    Scenario,
    register,
    status_of,
)
from tests.cli_project import CliProject, recovery_plan
from tests.rollback.fleet import FleetHost, RollbackProject, install

GOOD = {"r1": "ok", "r2": "ok", "r3": "ok"}
STEPS = ("choose", "host.web1", "host.web2", "host.web3")
POINTS = ("before_apply", "mid", "after_apply", "after_verify")


@register
class RollbackScenario(Scenario):
    runbook = "rollback"

    def setup(self, work: Path) -> CliProject:
        hosts = [install(s, f"web{i}", GOOD, current="r3")
                 for i, s in enumerate(self.lab.hosts(3), start=1)]
        proj = RollbackProject(work, hosts)
        proj.write()
        return proj

    @classmethod
    def faults(cls, quick: bool) -> list[Fault]:
        if quick:
            return [Fault("sigkill", "host.web2.mid"),
                    Fault("restart refused", "host.web2")]
        kills = [Fault("sigkill", f"{s}.{p}") for s in STEPS for p in POINTS
                 if not (s == "choose" and p == "mid")]  # choose reports no progress
        return [*kills,
                Fault("sigkill", "host.web2.mid", then="undo"),
                Fault("sigkill", "host.web3.after_verify", then="undo"),
                Fault("host down", "host.web2.before_apply", _down("web2"), _up),
                Fault("host down", "host.web3.mid", _down("web3"), _up),
                Fault("restart refused", "host.web2"),
                Fault("restart refused", "host.web3"),
                Fault("permission refused", "host.web2")]

    def inject(self, proj: CliProject, fault: Fault) -> bool:
        if fault.kind == "sigkill" or fault.away is not None:
            return super().inject(proj, fault)
        host = _host(proj, fault.point)
        if fault.kind == "restart refused":
            host.break_restart()
        else:  # permission refused: the login user may no longer write the base folder
            host.base.chmod(0o555)
        proj.run("rollback", "--yes")
        return True

    def recover(self, proj: CliProject, fault: Fault, run_id: str) -> tuple[str, str]:
        if fault.kind not in ("restart refused", "permission refused"):
            return super().recover(proj, fault, run_id)
        assert isinstance(proj, RollbackProject)
        said = list(proj.outputs.values())[-1]
        host = _host(proj, fault.point)
        plan = recovery_plan(said, "FLEET_NOT_RESTORED")
        if fault.kind == "restart refused":
            host.fix_restart()
        else:
            host.base.chmod(0o755)
        if plan:  # the run said it could not finish: its plan, run by hand, must finish it
            for line in plan:
                done = proj.run_pasted(line)
                if done.returncode != 0:
                    return STRANDED, f"recovery plan line failed: {line}: {done.stderr[-300:]}"
            wrong = _fleet_on(proj, "r3")
            return (STRANDED, f"after the recovery plan: {wrong}") if wrong else (PLAN, "")
        wrong = self.check(proj, run_id)
        return (STRANDED, wrong) if wrong else (CONSISTENT, "")

    def check(self, proj: CliProject, run_id: str) -> str | None:
        status = status_of(proj, run_id)
        want = {"succeeded": "r2", "rolled back": "r3", "undone": "r3"}.get(status)
        if want is None:
            return f"the run ended {status!r}"
        return _fleet_on(proj, want)

    def canaries(self, proj: CliProject) -> list[str]:
        # The fleet's private SSH key (a `file:` secret): its base64 body lines.
        assert isinstance(proj, RollbackProject)
        key = Path(proj.hosts[0].server.key_path).read_text().splitlines()
        return [line for line in key if line and not line.startswith("-----")]

    def teardown(self, proj: CliProject) -> None:
        super().teardown(proj)
        assert isinstance(proj, RollbackProject)
        for h in proj.hosts:
            h.base.chmod(0o755) if h.base.exists() else None
            h.clean()


def _host(proj: CliProject, name: str) -> FleetHost:
    assert isinstance(proj, RollbackProject)
    return next(h for h in proj.hosts if h.name == name.removeprefix("host."))


def _fleet_on(proj: CliProject, release: str) -> str | None:
    assert isinstance(proj, RollbackProject)
    for h in proj.hosts:
        if h.current() != release:
            return f"{h.name}: current -> {h.current()}, expected {release}"
        if h.restart_owed():
            return f"{h.name}: the restart-owed marker is still there"
        if h.serving() != release:
            return f"{h.name}: serves {h.serving()}, expected {release}"
    return None


def _down(name: str) -> Callable[[Scenario, CliProject], None]:
    """The host's [hosts] entry points at a closed port: to breakglass, it is gone."""
    def away(scenario: Scenario, proj: CliProject) -> None:
        assert isinstance(proj, RollbackProject)
        proj.write(down=[name])
    return away


def _up(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, RollbackProject)
    proj.write()
