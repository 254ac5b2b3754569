"""`drill.restore` of a real backup (taken with `backup.take` from the lab's PostgreSQL) into
the `local` disposable PostgreSQL.

Faults: SIGKILL after the disposable cluster is up, mid-fetch, mid-restore, before and after
validation, before teardown; the store's volume gone before the fetch (then back).

The end state: the run passed and its history line is there, and nothing of the drill is left —
no disposable cluster folder, no process started from one (read from /proc, not from
breakglass). Canary: the source database password.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import ClassVar

from bench._faults.backup_take import BackupProject, make_database, store_back, store_gone
from bench._faults.scenario import Fault, Scenario, register, status_of
from tests.cli_project import CliProject

POINTS = ("environment.after_apply", "fetch.mid", "restore.mid", "validate.before_apply",
          "validate.after_verify", "teardown.before_apply")


class DrillProject(BackupProject):
    command: ClassVar[tuple[str, ...]] = ("drill.restore",)

    def write(self) -> DrillProject:
        super().write()
        with self.config.open("a") as f:
            f.write('\n[drills.restore]\nbackup = "shop"\nrto = "30m"\n')
        return self


@register
class DrillRestoreScenario(Scenario):
    runbook = "drill.restore"

    def setup(self, work: Path) -> CliProject:
        proj = DrillProject(work, dsn=make_database(self.lab.postgres())).write()
        r = proj.run("backup.take", "--yes")
        if r.returncode != 0:
            raise RuntimeError(f"backup.take for the drill failed: {r.stdout[-500:]}")
        # Only the drill's run is the trial's: the backup's journal moves aside.
        for p in (proj.state / "runs").glob("*"):
            p.rename(proj.root / p.name)
        return proj

    @classmethod
    def faults(cls, quick: bool) -> list[Fault]:
        if quick:
            return [Fault("sigkill", "restore.mid"), Fault("sigkill", "teardown.before_apply")]
        return [*(Fault("sigkill", p) for p in POINTS),
                Fault("store gone", "fetch.before_apply", store_gone, store_back)]

    def check(self, proj: CliProject, run_id: str) -> str | None:
        if (status := status_of(proj, run_id)) != "succeeded":
            return f"the run ended {status!r}"
        history = proj.state / "drills" / "history.jsonl"
        lines = history.read_text().splitlines() if history.exists() else []
        if not any(json.loads(x).get("run_id") == run_id for x in lines):
            return "no history line for the run"
        left = leftovers(run_id)
        return f"left behind: {left}" if left else None

    def canaries(self, proj: CliProject) -> list[str]:
        return [self.lab.postgres().password]


def leftovers(run_id: str) -> list[str]:
    """Folders of this drill in the temp dir, and live processes whose command line names one."""
    tmp = Path(tempfile.gettempdir())
    found = [str(p) for p in tmp.glob(f"bg-drill-{run_id}-*")]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"bg-drill-{run_id}-" in cmd:
            found.append(f"pid {proc.name}: {cmd[:120]}")
    return found
