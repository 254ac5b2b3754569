"""The real servers the scenarios run against — the test fixtures of tests/servers/, started
outside pytest, once, when a scenario first asks — and the canary search.

Everything the lab starts it stops in `close()` (bench/faults.py calls it in a `finally`, also
on SIGTERM), by the handles it kept: never by a process name.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.servers.postgres import PostgresServer, start_postgres
from tests.servers.sshd import SshdFactory, SshdServer


class Lab:
    """The servers of one suite run. Tests pass their session fixtures' servers in; the lab
    then starts nothing and `close()` leaves those to their fixtures."""

    def __init__(self, work: Path, sshd: SshdFactory | None = None,
                 postgres: PostgresServer | None = None) -> None:
        self.work = work
        self._sshd = sshd
        self._hosts: list[SshdServer] = []
        self._pg = postgres
        self._owns_sshd, self._owns_pg = sshd is None, postgres is None

    def hosts(self, n: int) -> list[SshdServer]:
        """`n` sshd hosts, shared by every trial (each trial lays out its own files)."""
        if self._sshd is None:
            (self.work / "sshd-client").mkdir(parents=True, exist_ok=True)
            self._sshd = SshdFactory(self.work / "sshd-client")
        if len(self._hosts) < n:
            self._hosts += self._sshd.start(n - len(self._hosts))
        return self._hosts[:n]

    def postgres(self) -> PostgresServer:
        if self._pg is None:
            self._pg = start_postgres()
        return self._pg

    def close(self) -> None:
        if self._pg is not None and self._owns_pg:
            self._pg.close()
        if self._sshd is not None and self._owns_sshd:
            self._sshd.close()

    @staticmethod
    def temp_folders() -> set[Path]:
        """The temp folders breakglass makes (breakglass-libpq-*, breakglass-verify-*, …)."""
        return set(Path(tempfile.gettempdir()).glob("breakglass-*"))

    @staticmethod
    def leaks(canaries: Iterable[str], outputs: Mapping[str, str], files: Iterable[Path],
              before: set[Path]) -> list[str]:
        """Where any canary appears: each command's output, each file written, and the temp
        folders breakglass made since `before` (a libpq password file a kill left behind
        counts; one an earlier trial left does not count twice)."""
        found: list[str] = []
        marks = [c for c in canaries if c]
        if not marks:
            return found
        for name, text in outputs.items():
            found += [f"output of `{name}`" for c in marks if c in text]
        new = Lab.temp_folders() - before
        for path in [*files, *(p for d in new for p in _files(d))]:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found += [str(path) for c in marks if c.encode() in data]
        return sorted(set(found))


def _files(root: Path) -> list[Path]:
    return [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
