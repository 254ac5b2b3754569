"""One scenario per mutating runbook, and the trial every fault goes through.

A trial:
    setup     a fresh project (its own folder, state_dir and data on the lab's servers)
    inject    SIGKILL at a step boundary (the engine's crash-test hook point), maybe
              followed by a server taken away; or a fault that makes the run fail by itself
              (a restart or a permission refused)
    recover   what a person would do: fix the cause, `runs.resume ID` or `runs.undo ID`, or
              the printed recovery plan when the run says it cannot finish
    check     the end state, read with clients independent of breakglass (SFTP, HTTP,
              pg_restore, the files themselves)
    leaks     every output and every file breakglass wrote, searched for the canaries

A trial ends in one of:
    consistent      the end state is one the run's final status claims (done, or put back)
    recovery plan   the run could not finish, said so, and its printed plan — executed — put
                    things right
    stranded        anything else: a state nobody was told about, or no way forward (goal 0)
    not reached     the boundary was never reached (a no-op step): not counted as tried
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from bench._faults.lab import Lab
from tests.cli_project import CliProject

#: resumes a trial tries after the service is back (each must leave a known state)
MAX_RESUMES = 3

CONSISTENT, PLAN, STRANDED, NOT_REACHED = ("consistent", "recovery plan", "stranded",
                                           "not reached")


@dataclass(frozen=True)
class Fault:
    """`kind` (sigkill, host down, db down, permission refused, restart refused, …) at
    `point` (STEP.before_apply | mid | after_apply | after_verify, or a step name for faults
    that are not a kill). `away` takes the service away after the kill; `back` restores it."""

    kind: str
    point: str
    away: Callable[[Scenario, CliProject], None] | None = field(default=None, compare=False)
    back: Callable[[Scenario, CliProject], None] | None = field(default=None, compare=False)
    #: what the person does after the kill: "resume" (finish it) or "undo" (`runs.undo`)
    then: str = "resume"
    #: arguments added to the scenario's own for this trial (a mode: `--leaked`)
    extra: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        mode = "".join(f" {a}" for a in self.extra)
        return f"{self.kind} @ {self.point}{mode}" + (", undo" if self.then == "undo" else "")


@dataclass
class Trial:
    scenario: str
    fault: Fault
    outcome: str = STRANDED
    detail: str = ""
    leaks: list[str] = field(default_factory=list)


class Scenario(ABC):
    """A runbook under faults. Subclasses say how to set a project up, which boundaries to
    try, how to run and check; `trial` is the same for all."""

    #: the runbook's CLI name, as printed in the figures
    runbook: ClassVar[str]

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    @abstractmethod
    def setup(self, work: Path) -> CliProject:
        """A fresh project in `work` (config written, data in place)."""

    @classmethod
    @abstractmethod
    def faults(cls, quick: bool) -> list[Fault]:
        """Every boundary to try (a fast subset of 2–3 when `quick`)."""

    def args(self) -> tuple[str, ...]:
        """The runbook's arguments after its command (without --yes); none by default."""
        return ()

    @abstractmethod
    def check(self, proj: CliProject, run_id: str) -> str | None:
        """None when the end state, read with independent clients, is what the run's final
        status claims; else what is wrong."""

    def canaries(self, proj: CliProject) -> list[str]:
        """Secret values planted in this project that must appear in no output and no file."""
        return []

    def written(self, proj: CliProject) -> Iterable[Path]:
        """Every file breakglass may have written for this project (searched for canaries)."""
        return (p for p in proj.state.rglob("*") if p.is_file())

    def teardown(self, proj: CliProject) -> None:
        proj.stop_started()

    # -- the trial ----------------------------------------------------------------------------
    def trial(self, fault: Fault, work: Path) -> Trial:
        t = Trial(self.runbook, fault)
        before = self.lab.temp_folders()
        work.mkdir(parents=True)
        proj = self.setup(work)
        try:
            if not self.inject(proj, fault):
                t.outcome = NOT_REACHED
                return t
            run_id = self.run_id(proj)
            t.outcome, t.detail = self.recover(proj, fault, run_id)
        except Exception as exc:  # the bench records it; one trial never stops the suite
            t.outcome, t.detail = STRANDED, f"{type(exc).__name__}: {exc}"
        finally:
            t.leaks = self.lab.leaks(self.canaries(proj), proj.outputs, self.written(proj),
                                     before)
            self.teardown(proj)
        return t

    def inject(self, proj: CliProject, fault: Fault) -> bool:
        """SIGKILL at the boundary, then take the service away when the fault says so. False
        when the run ended before reaching the boundary."""
        try:
            proj.kill_at(fault.point, *self.args(), *fault.extra)
        except AssertionError as exc:
            if "before" in str(exc):
                return False
            raise
        if fault.away is not None:
            fault.away(self, proj)
        return True

    def recover(self, proj: CliProject, fault: Fault, run_id: str) -> tuple[str, str]:
        """Resume; when a service was taken away, resume first without it (the run must end
        in a known state and say how to go on), then bring it back and resume again."""
        if fault.away is not None:
            try:
                r = proj.resume(run_id)
            finally:
                assert fault.back is not None
                fault.back(self, proj)  # always: the next trial needs the service
            said = r.stdout + r.stderr
            if r.returncode == 0:
                return STRANDED, f"resume without the service claimed success:\n{said[-800:]}"
            # A way forward: told to resume, or put back to where it started ("failed (what it
            # had changed was undone)"; the journal's status word is "rolled back").
            if "Traceback" in said or not ("resume" in said or "was undone" in said
                                           or "rolled back" in said):
                return STRANDED, f"resume without the service gave no way forward:\n{said[-800:]}"
        if fault.then == "undo":
            r = proj.run("runs.undo", run_id, "--yes")
            if r.returncode == 2 and "finish the run instead" in r.stdout + r.stderr:
                # Nothing it applied has an undo (a rotation, a lockout's disable): breakglass
                # refuses to pretend, touches nothing and says to resume: as a person would.
                r = proj.resume(run_id)
        else:
            # As a person would: resume until it succeeds or says there is nothing to resume
            # (a run put back while the service was away is re-planned by the next resume).
            for _ in range(MAX_RESUMES):
                r = proj.resume(run_id)
                if r.returncode == 0 or "nothing to resume" in r.stdout + r.stderr:
                    break
        if r.returncode == 2 or "Traceback" in r.stdout + r.stderr:
            return STRANDED, f"ended {r.returncode}:\n{(r.stdout + r.stderr)[-1200:]}"
        wrong = self.check(proj, run_id)
        return (STRANDED, wrong) if wrong else (CONSISTENT, "")

    def run_id(self, proj: CliProject) -> str:
        runs = sorted(p.stem for p in (proj.state / "runs").glob("*.jsonl"))
        if len(runs) != 1:
            raise AssertionError(f"expected one run, found {runs}")
        return runs[0]



def status_of(proj: CliProject, run_id: str) -> str:
    """The run's final status as breakglass reports it (what the end state is checked against)."""
    import json

    r = proj.run("runs.show", run_id, "--json")
    return str(json.loads(r.stdout).get("status")) if r.stdout.lstrip().startswith("{") else "?"


# -- the registry -----------------------------------------------------------------------------
SCENARIOS: dict[str, type[Scenario]] = {}


def register(cls: type[Scenario]) -> type[Scenario]:
    SCENARIOS[cls.runbook] = cls
    return cls
