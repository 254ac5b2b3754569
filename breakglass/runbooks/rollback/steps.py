"""The rollback's steps: `choose` pins the target, `migrations` shows the safety verdict, then
one `host.NAME` step per host, in [releases] hosts order.

The engine runs the host steps one after another, so the change rolls host by host. When a
host fails its verify (health check), the engine undoes every host step that applied, newest
first — the failed host and each one already changed go back to the release they ran at the
start and are restarted — and the run stops: the fleet never ends split across two releases.

Each host step observes where `current` points (and the restart-owed marker, see layout.py), so
a resumed run neither swaps a host twice nor skips one, and an interrupted undo is finished by
undoing again (the undo also observes first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from breakglass.engine.findings import Finding, FindingError, Outcome, Severity
from breakglass.engine.runbook import Action, Plan, Step, StepContext
from breakglass.errors import BreakglassError
from breakglass.runbooks.rollback import layout, recovery
from breakglass.runbooks.rollback.fleet import CHOOSE_STEP, Fleet


class ChooseStep(Step):
    name = CHOOSE_STEP
    title = "choose the release to go back to (every host read at once)"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        choice, refused = self.fleet.choice(ctx)
        hosts = [{"host": r.host, "current": r.releases.current if r.releases else None,
                  "releases": list(r.releases.releases) if r.releases else [],
                  "error": str(r.error) if r.error else None}
                 for r in self.fleet.read_all(ctx)]
        return {"choice": choice.to_dict() if choice else None, "hosts": hosts,
                "refused": [f.message for f in refused]}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        choice = observed["choice"]
        if choice is None:
            return Plan.noop("REFUSED, nothing will change: " + "; ".join(observed["refused"]))
        target, start = choice["target"], choice["start"]
        moving = [h for h, r in start.items() if r != target]
        if not moving:
            return Plan.noop(f"every host already runs {target}")
        froms = ", ".join(sorted(set(start.values())))
        return Plan.of(Action(f"roll back from {froms} to {target}, one host at a time",
                              target=", ".join(moving)))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        choice, refused = self.fleet.choice(ctx)
        if choice is None:
            raise BreakglassError("; ".join(f.message for f in refused))
        return choice.to_dict()  # journaled: a resumed run goes to the same release

    def undo(self, ctx: StepContext) -> None:
        """Runs last in every undo (this step applied first): read the whole fleet again and
        prove every host is back on the release it ran at the start, restart done. When one
        is not, the undo is incomplete — the run stays resumable — and FLEET_NOT_RESTORED
        says where each host stands and how to finish by hand."""
        choice = self.fleet.pinned(ctx)
        if choice is None:
            return
        found = recovery.states(choice, self.fleet.read_all(ctx, fresh=True))
        hosts = {h.name: h for h in self.fleet.hosts(ctx)}
        problem = recovery.finding(ctx.run_id, found, hosts, self.fleet.base,
                                   {n: self.fleet.restart_line(h) for n, h in hosts.items()},
                                   ctx.config.app)
        if problem is not None:
            ctx.log("fleet not restored", commands=problem.evidence["recovery_plan"])
            raise FindingError(problem)
        ctx.log("fleet back where it started",
                hosts={s.host: s.start for s in found})


class MigrationStep(Step):
    name = "migrations"
    title = "migration-safety check (does the target run on the current schema?)"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        v = self.fleet.verdict(ctx)
        return {"state": v.state, "line": v.line, "forced": self.fleet.force}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        forced = " (--force: rolling back anyway)" if observed["forced"] and \
            observed["state"] not in ("safe", "not_configured") else ""
        return Plan.noop(observed["line"] + forced)


class HostStep(Step):
    def __init__(self, fleet: Fleet, host: str) -> None:
        self.fleet = fleet
        self.host_name = host
        self.name = f"host.{host}"
        self.title = f"{host}: swap current, restart, check health"

    # -- observe / plan ---------------------------------------------------------------------
    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        pinned = self.fleet.pinned(ctx)
        choice = pinned or self.fleet.choice(ctx)[0]
        if choice is None:
            return {"host": self.host_name, "blocked": True}
        if pinned is not None:  # the changes have begun: look at the host itself, now
            host = self.fleet.host(ctx, self.host_name)
            with host.connect() as conn:
                seen = layout.read(conn, self.fleet.base)
        else:  # planning: the fleet read of this phase already saw it
            read = next(r for r in self.fleet.read_all(ctx) if r.host == self.host_name)
            assert read.releases is not None  # else choice would be None
            seen = read.releases
        host = self.fleet.host(ctx, self.host_name)
        return {"host": self.host_name, "blocked": False, "target": choice.target,
                "start": choice.start.get(self.host_name), "current": seen.current,
                "pending": seen.pending, "base": seen.base,
                "restart": self.fleet.restart_line(host), "health": host.health_url
                or host.health_command or "[app] health URL"}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        if observed["blocked"]:
            return Plan.noop("not changed: the rollback is refused")
        target, current = observed["target"], observed["current"]
        host = observed["host"]
        restart = Action(f"restart: {observed['restart']}", target=host)
        check = Action(f"check health: {observed['health']}", target=host)
        if current == target and not observed["pending"]:
            return Plan.noop(f"{host} already runs {target}")
        if current == target:
            return Plan.of(Action(f"current already points at {target}; its restart was "
                                  "interrupted", target=host), restart, check)
        swap = Action(f"point {observed['base']}/current at releases/{target} (now {current}); "
                      "atomic: ln -sfn + mv -T", target=host)
        return Plan.of(swap, restart, check)

    # -- apply / verify ---------------------------------------------------------------------
    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        choice = self.fleet.pinned(ctx)
        assert choice is not None  # `choose` applied before any host step
        host = self.fleet.host(ctx, self.host_name)
        with host.connect() as conn:
            seen = layout.read(conn, self.fleet.base)
            if seen.current != choice.target:
                layout.swap(conn, self.fleet.base, choice.target, f"{ctx.run_id} {choice.target}")
            ctx.progress(f"{self.host_name}: restart", 1, 2)
            ok, detail = self.fleet.restart(conn)
            if ok:
                layout.clear_marker(conn, self.fleet.base)
        return {"host": self.host_name, "from": seen.current, "to": choice.target,
                "restart": detail}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        if observed.get("blocked"):
            return ()
        host, target = observed["host"], observed["target"]
        if observed["current"] != target:
            return [Finding("SWAP_NOT_DONE", f"{host}: current points at {observed['current']}, "
                            f"not {target}", "read the run's journal and resume it",
                            Severity.ERROR, Outcome.FAILED, host)]
        if observed["pending"]:
            return [Finding("RESTART_FAILED", f"{host}: the restart after the swap to {target} "
                            "did not succeed (see the journal's step result)",
                            "fix the service or releases.restart on that host; the undo puts "
                            "every host changed back (its result follows)",
                            Severity.CRITICAL, Outcome.FAILED, host)]
        with self.fleet.host(ctx, host).connect() as conn:
            result = self.fleet.health(conn)
        if result.ok:
            return ()
        return [Finding("HEALTH_CHECK_FAILED", f"{host} on {target}: {result.detail}",
                        f"{target} does not work on {host}; every host changed was put back on "
                        "the release it ran before. Investigate the release, or roll back "
                        "further with --to", Severity.CRITICAL, Outcome.FAILED, host,
                        dict(result.evidence))]

    # -- undo -------------------------------------------------------------------------------
    def undo(self, ctx: StepContext) -> None:
        """Back to the release this host ran at the start, restarted and healthy. Observes
        first, so an undo killed half-way is finished by undoing again."""
        choice = self.fleet.pinned(ctx)
        if choice is None:  # a host step only applies after `choose`: never pass silently
            raise BreakglassError(f"{self.host_name}: the release it ran before is not in the "
                                  "run's journal (no `choose` result); put it back by hand")
        back = choice.start.get(self.host_name)
        if back is None:  # the host had no release at the start: nothing to go back to
            return
        host = self.fleet.host(ctx, self.host_name)
        with host.connect() as conn:
            seen = layout.read(conn, self.fleet.base)
            if seen.current != back:
                layout.swap(conn, self.fleet.base, back, f"{ctx.run_id} {back}")
            # Always restart: the process may still run the release we are leaving even when
            # `current` already points back (a kill between swap and restart).
            ok, detail = self.fleet.restart(conn)
            if not ok:
                raise FindingError(Finding(
                    "UNDO_RESTART_FAILED", f"{self.host_name}: current points back at {back} "
                    f"but the restart failed ({detail})",
                    f"fix the restart on {self.host_name} (releases.restart, the service), "
                    f"then `breakglass runs.resume {ctx.run_id}` finishes the undo",
                    Severity.CRITICAL, Outcome.FAILED, self.host_name))
            layout.clear_marker(conn, self.fleet.base)
            result = self.fleet.health(conn)
        if not result.ok:
            raise FindingError(Finding(
                "UNDO_HEALTH_FAILED", f"{self.host_name}: back on {back} but its health check "
                f"fails: {result.detail}",
                f"{back} ran before the rollback, so look at {self.host_name} itself (the "
                f"service, its logs), then `breakglass runs.resume {ctx.run_id}`",
                Severity.CRITICAL, Outcome.FAILED, self.host_name, dict(result.evidence)))
        ctx.log(f"{self.host_name} back on {back}", host=self.host_name, release=back)
