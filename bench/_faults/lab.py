"""The real servers the scenarios run against — the test fixtures of tests/servers/, started
outside pytest, once, when a scenario first asks — and the canary search.

Everything the lab starts it stops in `close()` (bench/faults.py calls it in a `finally`, also
on SIGTERM), by the handles it kept: never by a process name.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.servers.moto import (
    AuthedMoto,
    MotoAuthServer,
    bootstrap_admin,
    start_moto_auth_server,
)
from tests.servers.postgres import PostgresServer, start_postgres
from tests.servers.sshd import SshdFactory, SshdServer


class Lab:
    """The servers of one suite run. Tests pass their session fixtures' servers in; the lab
    then starts nothing and `close()` leaves those to their fixtures."""

    def __init__(self, work: Path, sshd: SshdFactory | None = None,
                 postgres: PostgresServer | None = None,
                 moto: MotoAuthServer | None = None) -> None:
        self.work = work
        self._sshd = sshd
        self._hosts: list[SshdServer] = []
        self._pg = postgres
        self._moto: MotoAuthServer | None = moto
        self._aws: AuthedMoto | None = None
        self._owns_sshd, self._owns_pg, self._owns_moto = (sshd is None, postgres is None,
                                                            moto is None)

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

    def aws(self) -> AuthedMoto:
        """moto checking signatures and IAM policies (an old IAM key is provably refused, a
        permission can be denied), with an admin user of its own. Every trial names its IAM
        users, secrets and parameters afresh: the server is never reset under a trial."""
        if self._aws is None:
            if self._moto is None:
                self._moto = start_moto_auth_server()
            # A user of its own: a fixture's server may hold another test's bg-admin.
            admin = bootstrap_admin(self._moto, f"bg-faults-{secrets.token_hex(4)}")
            self._aws = AuthedMoto(self._moto, admin)
        return self._aws

    def close(self) -> None:
        if self._moto is not None and self._owns_moto:
            self._moto.close()
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
