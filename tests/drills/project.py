"""A drill project for the tests: a source database on a real PostgreSQL, a breakglass.toml, real
backups (`backup.take`), and the real CLI in a subprocess."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from breakglass.connectors.pgcluster import find_roots
from tests.cli_project import CliProject

KEY = "shop-20260101T030000Z.dump"


def seed(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute("create table users (id serial primary key, email text not null unique)")
        conn.execute("create table orders (id serial primary key, user_id int references "
                     "users, total numeric(10,2))")
        conn.execute("insert into users (email) select 'u' || g || '@example.test' "
                     "from generate_series(1, 3000) g")
        conn.execute("insert into orders (user_id, total) select 1 + g % 3000, g * 1.5 "
                     "from generate_series(1, 5000) g")


def restamp(manifest: bytes, data: bytes) -> bytes:
    """The manifest with sha256/size of `data` (a deliberately changed backup that must pass the
    checksum, so that a later rung is what catches it)."""
    doc = json.loads(manifest)
    doc.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return json.dumps(doc).encode()


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.doc.get("findings", []))

    @property
    def codes(self) -> set[str]:
        return {f["code"] for f in self.findings}

    @property
    def failing(self) -> set[str]:
        return {f["code"] for f in self.findings
                if f["severity"] != "info" or f["outcome"] == "unverified"}

    def step_result(self, name: str) -> dict[str, Any]:
        return next(s for s in self.doc["steps"] if s["step"] == name)["result"] or {}

    def __repr__(self) -> str:  # shown when an assertion fails
        return (f"rc={self.rc} codes={sorted(self.codes)} status={self.doc.get('status')} "
                f"stdout={self.stdout[-600:]!r} stderr={self.stderr[-800:]!r}")


@dataclass
class DrillProject(CliProject):
    # repr=False: pytest prints the project on failure, and the DSN holds the test password
    source_dsn: str = field(repr=False)
    command: ClassVar[tuple[str, ...]] = ("drill.restore",)

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    def write_config(self, *, store: str | None = None, backup: str = "", drill: str = "",
                     extra: str = "") -> None:
        self.store_dir.mkdir(exist_ok=True)
        self.environ["SHOP_DSN"] = self.source_dsn
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            '[owners]\nbackup_restore = ["bob"]\n\n'
            '[people.bob]\nnotify = ["env:BOB_NOTIFY_URL"]\n\n'
            '[databases.shop]\ndsn = "env:SHOP_DSN"\n\n' + extra +
            f'\n[backups.shop]\nstore = "{store or f"file://{self.store_dir}/"}"\n'
            f'database = "shop"\nmax_age = "26h"\n{backup}\n'
            f'[drills.restore]\nbackup = "shop"\nrto = "30m"\n{drill}\n')

    def run(self, *args: str, env: dict[str, str] | None = None,  # type: ignore[override]
            timeout: float = 180) -> Result:
        proc = super().run(*args, env=self.env(**(env or {})), timeout=timeout)
        doc = json.loads(proc.stdout) if proc.stdout.lstrip().startswith("{") else {}
        return Result(proc.returncode, proc.stdout, proc.stderr, doc)

    def drill(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.run("drill.restore", "--yes", "--json", *args, env=env)

    def take(self) -> None:
        res = self.run("backup.take", "--yes", "--json")
        assert res.rc == 0, res

    def put(self, data: bytes, manifest: bytes | None, key: str = KEY) -> None:
        (self.store_dir / key).write_bytes(data)
        side = self.store_dir / (key + ".manifest.json")
        if manifest is not None:
            side.write_bytes(manifest)
        else:
            side.unlink(missing_ok=True)

    def leftovers_of(self, run_id: str) -> list[str]:
        """Clusters and fetched files of `run_id` still on disk."""
        left = [str(p) for p in find_roots(f"drill-{run_id}-")]
        folder = self.state / "drills" / run_id
        if folder.exists():
            left += [str(p) for p in folder.iterdir()]
        return left
