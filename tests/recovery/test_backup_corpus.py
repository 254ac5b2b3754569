"""The corpus of damaged and wrong backups (tests/recovery/corpus.py, real pg_dump) through
`backup.verify` and `drill.restore`: each one fails both with exit 1 and a code that names what
is wrong — 0 false passes — while the good backup passes both.

Two witnesses of what the configured database looks like: production reachable (its catalog),
and production unreachable (its DSN still names the dbname) with an earlier good backup and
manifest in the store (the set's last known shape).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.recovery.corpus import NAMES, SPECS, Case, Databases, Made, build, good
from tests.drills.project import DrillProject, Result

EARLIER = "shop-20251231T030000Z.dump"
MODES = ("production", "store")
#: the cases whose verdict depends on what is known of the configured database: the drill runs
#: them under both witnesses; the others (damage, rows left out) judge the archive alone, and a
#: drill (an embedded cluster each) under one witness proves them
BY_REFERENCE = {"ARCHIVE_WRONG_DATABASE", "TABLE_MISSING", "MANIFEST_IMPLAUSIBLE"}
#: `backup.verify` takes every case; the drill (an embedded cluster each, ~10 s) takes one case
#: per distinct verdict per witness, which keeps the suite near its 10 minutes — the whole
#: corpus through the drill is `BREAKGLASS_CORPUS=all` (bench/faults.py's backup figures)
_ALL = [(mode, s) for s in SPECS for mode in MODES
        if mode == "production" or s.codes & BY_REFERENCE]
DRILLS = [(mode, s.name) for mode, s in _ALL] if os.environ.get("BREAKGLASS_CORPUS") == "all" \
    else list({(mode, s.codes): (mode, s.name) for mode, s in reversed(_ALL)}.values())


@pytest.fixture(autouse=True)
def owner_channel(http_sink: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOB_NOTIFY_URL", http_sink.apprise_url)


@pytest.fixture(scope="session")
def made(pg_server: Any, pg_server_factory: Any) -> Made:
    return Made(Databases.create(pg_server, pg_server_factory.start(18), prefix="corpus"))


def _project(tmp_path: Path, made: Made, mode: str) -> DrillProject:
    shop = made.dbs.shop
    if mode == "production":
        proj = DrillProject(tmp_path, shop.dsn)
    else:  # nothing listens on port 1: production is unreachable, its DSN names the dbname
        proj = DrillProject(tmp_path, f"postgresql://postgres:unused@127.0.0.1:1/{shop.name}")
    proj.write_config()
    if mode == "store":
        long_ago = time.time() - 3600
        made_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(long_ago - 60))
        earlier = shop.manifest(made.whole, created_at=made_at, started_at=made_at,
                                finished_at=made_at)
        proj.put(made.whole, earlier, key=EARLIER)
        os.utime(proj.store_dir / EARLIER, (long_ago, long_ago))
    return proj


@pytest.fixture(params=MODES)
def project(request: pytest.FixtureRequest, tmp_path: Path,
            made: Made) -> Iterator[DrillProject]:
    proj = _project(tmp_path, made, request.param)
    yield proj
    proj.stop_started()


def _caught(res: Result, case: Case) -> None:
    assert res.rc == 1, res
    assert res.failing & case.codes, res


@pytest.mark.parametrize("name", NAMES)
def test_backup_verify_fails_every_damaged_or_wrong_backup(project: DrillProject, made: Made,
                                                           name: str) -> None:
    (case,) = build(made, (name,))
    project.put(case.data, case.manifest)
    _caught(project.run("backup.verify", "--json"), case)


@pytest.mark.parametrize(("mode", "name"), DRILLS)
def test_drill_restore_fails_every_damaged_or_wrong_backup(tmp_path: Path, made: Made,
                                                           mode: str, name: str) -> None:
    (case,) = build(made, (name,))
    project = _project(tmp_path, made, mode)
    project.put(case.data, case.manifest)
    res = project.drill()
    _caught(res, case)
    assert project.leftovers_of(res.doc["run_id"]) == []


def test_the_good_backup_passes_both(project: DrillProject, made: Made) -> None:
    case = good(made)
    project.put(case.data, case.manifest)
    verify = project.run("backup.verify", "--json")
    assert verify.rc == 0, verify
    drill = project.drill()
    assert drill.rc == 0, drill
    assert not drill.failing - {"NO_NOTICE_CHANNEL"}, drill


def test_declared_exclude_data_passes_both(tmp_path: Path, made: Made) -> None:
    proj = DrillProject(tmp_path, made.dbs.shop.dsn)
    proj.write_config(backup='exclude_data = ["sessions"]\n')
    data = made.no_sessions_data
    proj.put(data, made.dbs.shop.manifest(data))  # it counts sessions' rows: not compared
    verify = proj.run("backup.verify", "--json")
    assert verify.rc == 0, verify
    drill = proj.drill()
    assert drill.rc == 0, drill


def test_a_table_created_after_the_backup_is_a_note_not_a_failure(
        tmp_path: Path, pg_server: Any) -> None:
    import psycopg

    from tests.recovery.corpus import SHOP_SCHEMA, Database

    dsn = pg_server.create_database("corpus_drift")
    with psycopg.connect(dsn) as conn:
        conn.execute(SHOP_SCHEMA)
    db = Database(pg_server, "corpus_drift", dsn)
    data = db.dump()
    manifest = db.manifest(data)
    with psycopg.connect(dsn) as conn:  # a migration after the backup
        conn.execute("create table added_later (id int)")
    proj = DrillProject(tmp_path, dsn)
    proj.write_config()
    proj.put(data, manifest)
    r = proj.run("backup.verify", "--json")
    assert r.rc == 0, r
    note = next(f for f in r.findings if f["code"] == "SHAPE_CHANGED")
    assert note["evidence"]["tables"] == ["public.added_later"]
