"""`backup.take` of a real PostgreSQL (tests/servers/postgres.py) into a file:// store.

Faults: SIGKILL at each boundary of the backup step (before the dump, mid-upload, after the
upload, after its verification); after a kill mid-upload, the database going away (stopped, then
started again on the same port) or the store's volume (its folder gone, then back).

The end state is read from the store folder itself: exactly one backup and its manifest, no
partial upload, the file's sha256 the manifest's, and `pg_restore --list` reading it. Canary:
the database password (the DSN is an `env:` secret).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bench._faults.scenario import Fault, Scenario, register, status_of
from tests.cli_project import CliProject
from tests.servers.postgres import PostgresServer

SCHEMA = """
create table users (id serial primary key, email text not null unique);
create table invoices (id serial primary key, user_id int references users, note text);
insert into users (email) select 'u' || g || '@example.test' from generate_series(1, 3000) g;
-- random text compresses poorly: pg_dump is still writing when the run pauses mid-upload
insert into invoices (user_id, note) select 1 + g % 3000, md5(g::text) || md5(random()::text)
    from generate_series(1, 20000) g;
"""
POINTS = ("before_apply", "mid", "after_apply", "after_verify")


@dataclass
class BackupProject(CliProject):
    dsn: str = ""
    command: ClassVar[tuple[str, ...]] = ("backup.take",)

    @property
    def store(self) -> Path:
        return self.root / "store"

    def env(self, **more: str) -> dict[str, str]:
        # Wide enough that rich does not wrap a finding across lines (the output is searched).
        return {**os.environ, "SHOP_DSN": self.dsn, "COLUMNS": "400", **more}

    def write(self) -> BackupProject:
        self.store.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            '[owners]\nbackup_restore = ["bob"]\n\n[people.bob]\nnotify = []\n\n'
            '[databases.shop]\ndsn = "env:SHOP_DSN"\n\n'
            f'[backups.shop]\nstore = "file://{self.store}/"\ndatabase = "shop"\n'
            'max_age = "26h"\nencryption = "none"\n')
        return self


def _stop(scenario: Scenario, proj: CliProject) -> None:
    scenario.lab.postgres().stop()


def _start(scenario: Scenario, proj: CliProject) -> None:
    server = scenario.lab.postgres()
    server._start(server.port)  # the same port: the DSN in the config stays right


def store_gone(scenario: Scenario, proj: CliProject) -> None:
    """The store's volume goes away (unmounted): its folder is no longer there."""
    assert isinstance(proj, BackupProject)
    proj.store.rename(proj.root / "store.away")


def store_back(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, BackupProject)
    (proj.root / "store.away").rename(proj.store)


def make_database(server: PostgresServer) -> str:
    import psycopg

    dsn = server.create_database(f"faults_{secrets.token_hex(4)}")
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
    return dsn


@register
class BackupTakeScenario(Scenario):
    runbook = "backup.take"

    def setup(self, work: Path) -> CliProject:
        return BackupProject(work, dsn=make_database(self.lab.postgres())).write()

    @classmethod
    def faults(cls, quick: bool) -> list[Fault]:
        if quick:
            return [Fault("sigkill", "backups.shop.mid"),
                    Fault("sigkill", "backups.shop.after_apply")]
        return [*(Fault("sigkill", f"backups.shop.{p}") for p in POINTS),
                Fault("sigkill", "backups.shop.after_apply", then="undo"),
                Fault("database down", "backups.shop.mid", _stop, _start),
                Fault("store gone", "backups.shop.mid", store_gone, store_back)]

    def check(self, proj: CliProject, run_id: str) -> str | None:
        assert isinstance(proj, BackupProject)
        status = status_of(proj, run_id)
        if status == "succeeded":
            return one_good_backup(proj.store, self.lab.postgres())
        if status in ("rolled back", "undone"):  # claims nothing is left: no backup, no partial
            left = sorted(p.name for p in proj.store.iterdir())
            return f"rolled back, yet the store holds {left}" if left else None
        return f"the run ended {status!r}"

    def canaries(self, proj: CliProject) -> list[str]:
        return [self.lab.postgres().password]


def one_good_backup(store: Path, server: PostgresServer) -> str | None:
    """None when `store` holds exactly one backup, its manifest, and nothing else, and the
    backup is the archive its manifest describes."""
    names = sorted(p.name for p in store.iterdir())
    dumps = [n for n in names if n.endswith(".dump")]
    if len(dumps) != 1 or names != [dumps[0], dumps[0] + ".manifest.json"]:
        return f"the store holds {names}"
    data = (store / dumps[0]).read_bytes()
    manifest = json.loads((store / (dumps[0] + ".manifest.json")).read_text())
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        return f"{dumps[0]}: sha256 differs from its manifest"
    listed = subprocess.run([str(server.bin_dir / "pg_restore"), "--list", str(store / dumps[0])],
                            capture_output=True, text=True, timeout=60)
    if listed.returncode != 0 or "TABLE DATA public invoices" not in listed.stdout:
        return f"pg_restore --list: {listed.stderr.strip()[-300:] or 'no invoices data'}"
    return None
