"""`breakglass drill.restore` end to end: real PostgreSQL 16 and 18 (source and embedded drill
clusters), real backups from `backup.take`, moto S3, the HTTP sink for Sentry check-ins, and the
real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyrage
import pytest

from breakglass.connectors.pgcluster import MARKER, cluster_parent, find_roots
from breakglass.drills import history, validate
from breakglass.recovery.environments import safe_run_id
from breakglass.state.local import LocalState
from tests.drills.project import KEY, DrillProject, restamp, seed

EXPECT = ('[[drills.restore.expect]]\nsql = "select count(*) from users"\nmin = 1000\n'
          'max = 3000\n[[drills.restore.expect]]\nsql = "select email from users where id = 1"'
          '\nequals = "u1@example.test"\n')


@pytest.fixture(autouse=True)
def owner_channel(http_sink: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOB_NOTIFY_URL", http_sink.apprise_url)


@pytest.fixture(scope="session")
def source_dsn(pg_server: Any) -> str:
    dsn: str = pg_server.create_database("drill_shop")
    seed(dsn)
    return dsn


@pytest.fixture
def project(tmp_path: Path, source_dsn: str) -> Iterator[DrillProject]:
    proj = DrillProject(tmp_path, source_dsn)
    proj.write_config(drill=EXPECT)
    yield proj
    proj.stop_started()


@pytest.fixture(scope="session")
def backup(tmp_path_factory: pytest.TempPathFactory, source_dsn: str) -> tuple[bytes, bytes]:
    """One real backup (dump, manifest) from `backup.take`, reused by the damage tests."""
    proj = DrillProject(tmp_path_factory.mktemp("take"), source_dsn)
    proj.write_config()
    proj.environ["BOB_NOTIFY_URL"] = "json://127.0.0.1:9/"
    proj.take()
    (dump,) = proj.store_dir.glob("*.dump")
    return dump.read_bytes(), Path(str(dump) + ".manifest.json").read_bytes()


# -- the good path -------------------------------------------------------------------------------
def test_good_backup_passes_and_leaves_nothing_behind(project: DrillProject) -> None:
    project.take()
    res = project.drill()
    assert res.rc == 0, res
    assert {"STRUCTURE_OK", "ROW_COUNTS_OK", "SEQUENCES_OK", "EXPECT_OK"} <= res.codes
    # a passing check is "ok" in the JSON, never "failed"
    assert {f["outcome"] for f in res.findings if f["code"].endswith("_OK")} == {"ok"}
    assert not res.failing - {"NO_NOTICE_CHANNEL"}
    assert project.leftovers_of(res.doc["run_id"]) == []
    # what was measured, as numbers
    (m,) = res.doc["measures"]
    rows = next(f["evidence"]["rows"] for f in res.findings if f["code"] == "ROW_COUNTS_OK")
    assert m["subject"] == "backups.shop" and m["rows"] == rows > 0
    assert 0 < m["rto_seconds"] <= m["wall_seconds"] and m["rto_target_seconds"] == 1800
    assert m["rpo_seconds"] >= 0 and m["bytes"] > 0


def test_history_grows_and_the_trend_has_an_svg_chart(project: DrillProject) -> None:
    project.take()
    assert project.drill().rc == 0
    second = project.drill()
    assert second.rc == 0, second
    lines = (project.state / "drills" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2
    # each line counts for backups.restore_tested: its drill's journal backs it
    assert [len(x) for x in history.backed(LocalState(project.state))] == [2, 0]
    report = second.step_result("report")
    assert set(report["stages"]) == {"fetch", "verify", "environment", "restore", "validate",
                                     "teardown"}
    assert report["rto_seconds"] == pytest.approx(sum(report["stages"].values()), abs=0.01)
    html = Path(report["trend"]).read_text()
    assert "<svg" in html and "<polyline" in html and KEY[:4] in html


def test_dry_run_plans_every_stage_and_creates_nothing(project: DrillProject) -> None:
    project.take()
    res = project.run("drill.restore", "--dry-run")
    assert res.rc == 0, res
    for words in ("no leftovers of earlier drills", "download", "embedded PostgreSQL 16",
                  "pg_restore --jobs=", "validate:", "DESTRUCTIVE destroy"):
        assert words in res.stdout
    assert not (project.state / "drills").exists()


def test_s3_source_works(project: DrillProject, aws: Any, backup: tuple[bytes, bytes]) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="acme-backups")
    dump, manifest = backup
    s3.put_object(Bucket="acme-backups", Key="pg/" + KEY, Body=dump)
    s3.put_object(Bucket="acme-backups", Key="pg/" + KEY + ".manifest.json", Body=manifest)
    project.write_config(store="s3://acme-backups/pg/", drill=EXPECT,
                         extra=f'[aws]\nendpoint_url = "{aws.endpoint_url}"\n'
                               'region = "us-east-1"\n')
    res = project.drill()
    assert res.rc == 0, res
    assert res.step_result("select")["store"] == "s3://acme-backups/pg/"


def test_age_encrypted_backup_restores_with_its_identity(project: DrillProject,
                                                         backup: tuple[bytes, bytes]) -> None:
    ident = pyrage.x25519.Identity.generate()
    dump, manifest = backup
    sealed = bytes(pyrage.encrypt(dump, [ident.to_public()]))
    project.put(sealed, restamp(manifest, sealed), key=KEY + ".age")
    project.write_config(backup='encryption = "age"\nidentity = "env:AGE_ID"\n', drill=EXPECT)
    res = project.drill(env={"AGE_ID": str(ident)})
    assert res.rc == 0, res
    assert res.step_result("fetch")["encrypted"] is True


def test_a_pg18_dump_restores_into_a_pg18_environment(tmp_path: Path,
                                                      pg_server_factory: Any) -> None:
    pg18 = pg_server_factory.start(18)
    dsn = pg18.create_database("drill_shop18")
    seed(dsn)
    proj = DrillProject(tmp_path, dsn)
    proj.write_config(drill=EXPECT)
    proj.environ["BOB_NOTIFY_URL"] = "json://127.0.0.1:9/"
    proj.take()
    res = proj.drill()
    assert res.rc == 0, res
    assert res.step_result("environment")["target"]["major"] == 18
    assert res.step_result("restore")["target_major"] == 18


# -- damaged backups: each fails with its code, never passes, and leaves nothing ------------------
def _truncated(dump: bytes, manifest: bytes) -> tuple[bytes, bytes | None]:
    return dump[: len(dump) * 2 // 3], manifest


def _bit_flipped(dump: bytes, manifest: bytes) -> tuple[bytes, bytes | None]:
    i = len(dump) // 2
    return dump[:i] + bytes([dump[i] ^ 0x01]) + dump[i + 1:], manifest


def _garbage(dump: bytes, manifest: bytes) -> tuple[bytes, bytes | None]:
    return os.urandom(4096), None


def _empty(dump: bytes, manifest: bytes) -> tuple[bytes, bytes | None]:
    return b"", None


def _truncated_without_manifest(dump: bytes, manifest: bytes) -> tuple[bytes, bytes | None]:
    return dump[: len(dump) * 9 // 10], None


@pytest.mark.parametrize(("damage", "code", "rc"), [
    (_truncated, "ARCHIVE_TRUNCATED", 1),
    (_bit_flipped, "CHECKSUM_MISMATCH", 1),
    (_garbage, "ARCHIVE_UNREADABLE", 1),
    (_empty, "ARCHIVE_EMPTY", 1),
    (_truncated_without_manifest, "ARCHIVE_TRUNCATED", 1),
])
def test_damaged_backup_fails_with_its_code_and_is_torn_down(
        project: DrillProject, backup: tuple[bytes, bytes], damage: Any, code: str,
        rc: int) -> None:
    project.put(*damage(*backup))
    res = project.drill()
    assert res.rc == rc, res
    assert code in res.failing
    assert project.leftovers_of(res.doc["run_id"]) == []
    (found,) = [f for f in res.findings if f["code"] == code]
    assert "there is no earlier backup" in found["action"]  # nothing to fall back to


def test_a_damaged_backup_names_the_newest_backup_that_still_verifies(
        project: DrillProject, backup: tuple[bytes, bytes]) -> None:
    good = "shop-20251231T030000Z.dump"
    project.put(backup[0], None, key=good)
    day_ago = time.time() - 86400
    os.utime(project.store_dir / good, (day_ago, day_ago))
    project.put(*_truncated(*backup))
    res = project.drill()
    assert res.rc == 1, res
    (found,) = [f for f in res.findings if f["code"] == "ARCHIVE_TRUNCATED"]
    assert f"the newest backup that still verifies is {good}" in found["action"]
    assert f"`breakglass drill.restore --archive {good}`" in found["action"]
    assert found["evidence"]["last_good_backup"] == good
    # Stopped at the fetch: no RTO (null, not 0), the RPO of the backup it selected
    (m,) = res.doc["measures"]
    assert m["key"] == KEY and m["rto_seconds"] is None and m["rpo_seconds"] >= 0
    # the advised command restores that archive, not the newest one
    advised = project.drill("--archive", good)
    assert advised.rc == 0, advised
    (m,) = advised.doc["measures"]
    assert m["key"] == good and m["rto_seconds"] is not None


def test_encrypted_backup_without_identity_could_not_be_verified(
        project: DrillProject, backup: tuple[bytes, bytes]) -> None:
    ident = pyrage.x25519.Identity.generate()
    dump, manifest = backup
    sealed = bytes(pyrage.encrypt(dump, [ident.to_public()]))
    project.put(sealed, restamp(manifest, sealed), key=KEY + ".age")
    project.write_config(backup=f'encryption = "age"\nrecipients = ["{ident.to_public()}"]\n',
                         drill=EXPECT)
    res = project.drill()
    assert res.rc == 3, res
    assert "ARCHIVE_NOT_CHECKED" in res.failing


def test_dump_missing_table_data_restores_with_exit_0_but_fails_on_row_counts(
        project: DrillProject, backup: tuple[bytes, bytes], pg_server: Any) -> None:
    # A dump whose orders data is cut out: pg_restore is perfectly happy with it.
    cut = subprocess.run([str(pg_server.bin_dir / "pg_dump"), "-Fc", "-d", "drill_shop",
                          "--exclude-table-data=public.orders"],
                         env={**os.environ, **pg_server.env()}, capture_output=True,
                         check=True).stdout
    project.put(cut, restamp(backup[1], cut))
    res = project.drill()
    assert res.rc == 1, res
    assert res.step_result("restore")["exit_code"] == 0
    assert "ROWS_MISSING" in res.failing
    missing = next(f for f in res.findings if f["code"] == "ROWS_MISSING")
    assert missing["evidence"]["table"] == "public.orders"


def test_a_manifest_from_the_future_fails_and_rpo_uses_the_objects_clock(
        project: DrillProject, backup: tuple[bytes, bytes]) -> None:
    doc = json.loads(backup[1])
    doc.update(created_at="2030-01-01T00:00:00+00:00", started_at="2030-01-01T00:00:00+00:00")
    project.put(backup[0], json.dumps(doc).encode())
    res = project.drill()
    assert res.rc == 1, res
    assert "MANIFEST_IMPLAUSIBLE" in res.failing
    assert res.step_result("select")["clock"] == "object"
    assert res.step_result("report")["rpo_seconds"] >= 0


def test_without_manifest_the_drill_runs_and_says_what_it_could_not_check(
        project: DrillProject, backup: tuple[bytes, bytes]) -> None:
    project.put(backup[0], None)
    res = project.drill()
    assert res.rc == 0, res
    note = next(f for f in res.findings if f["code"] == "MANIFEST_MISSING")
    assert note["evidence"]["not_checked"] == ["structure", "row counts"]


# -- RTO, expect, resume, monitors -------------------------------------------------------------
def test_tiny_rto_is_exceeded_and_still_recorded(project: DrillProject) -> None:
    project.config.write_text(project.config.read_text().replace('rto = "30m"', 'rto = "1s"'))
    project.take()
    res = project.drill()
    assert res.rc == 1, res
    assert "RTO_EXCEEDED" in res.failing
    lines = (project.state / "drills" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"RTO_EXCEEDED"' in lines[0]


def test_sigkill_mid_restore_then_resume_finishes_and_cleans_up(project: DrillProject) -> None:
    project.take()
    proc = project.start_paused("restore.mid")
    project.kill(proc)
    run_id = project.run_ids()[-1]
    assert project.leftovers_of(run_id)  # a cluster and the fetched dump are left
    res = project.run("runs.resume", run_id, "--yes", "--json")
    assert res.rc == 0, res
    assert project.leftovers_of(run_id) == []
    assert res.doc["status"] == "succeeded"


def test_the_next_drill_removes_what_a_killed_one_left(project: DrillProject) -> None:
    project.take()
    project.kill(project.start_paused("restore.mid"))
    killed = project.run_ids()[-1]
    res = project.drill()
    assert res.rc == 0, res
    assert project.leftovers_of(killed) == []
    assert res.step_result("leftovers")["removed"]


CANARIES = {"AWS_SECRET_ACCESS_KEY": "canaryAws7Kq", "DATABASE_URL": "postgresql://u:canaryDb3x@h/d",
            "SENTRY_DSN": "http://canarySentry5m@127.0.0.1:9/1",
            "ALICE_NOTIFY_URL": "json://canaryNotify2z@127.0.0.1:9/"}


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def _descendants(pid: int) -> dict[int, bytes]:
    """pid -> command line of every live process below `pid` (any depth)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _read(str(stat)).rsplit(b")", 1)[-1].split()
        if len(fields) > 1:
            parents[int(stat.parent.name)] = int(fields[1])
    found: dict[int, bytes] = {}
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found[child] = _read(f"/proc/{child}/cmdline")
                frontier.append(child)
    return found


def _gone(pids: list[int], within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while any(_read(f"/proc/{p}/stat") and b") Z" not in _read(f"/proc/{p}/stat")
              for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_drills_children_hold_none_of_breakglass_environment_and_die_with_it(
        project: DrillProject) -> None:
    project.take()
    project.environ.update(CANARIES)
    proc = project.start_paused("restore.mid")
    children = _descendants(proc.pid)
    postmasters = [p for p, cmd in children.items() if b"postgres\0-D" in cmd]
    assert postmasters, children
    for pid in children:  # pg_restore too, when it has not finished yet
        environ = _read(f"/proc/{pid}/environ")
        assert not any(v.encode() in environ for v in CANARIES.values()), children[pid]
    # From SQL inside the drill database, where a restored dump's own SQL runs as superuser:
    # a program run by the server gets the server's environment.
    (root,) = find_roots(f"drill-{project.run_ids()[-1]}-")
    with psycopg.connect(host=str(root / "sock"), dbname="drill", user="postgres") as conn:
        conn.execute("create temp table seen (line text)")
        conn.execute("copy seen from program 'env'")
        seen = "\n".join(r[0] for r in conn.execute("select line from seen").fetchall())
    assert "PATH=" in seen
    assert not any(v in seen for v in CANARIES.values())
    project.kill(proc)
    assert _gone(list(children)), "a child of the killed drill is still running"


def test_a_drill_killed_after_the_restore_resumes_on_the_same_data(project: DrillProject) -> None:
    project.take()
    project.kill(project.start_paused("validate.before_apply"))
    run_id = project.run_ids()[-1]
    res = project.run("runs.resume", run_id, "--yes", "--json")
    assert res.rc == 0, res
    assert res.doc["status"] == "succeeded"
    assert project.leftovers_of(run_id) == []


def test_the_next_drill_removes_unmarked_folders_and_passwords_of_killed_runs(
        project: DrillProject) -> None:
    project.take()
    project.kill(project.start_paused("restore.mid"))
    killed = project.run_ids()[-1]
    (root,) = find_roots(f"drill-{killed}-")
    # As a kill in the middle of an older version's removal left it: rows, no marker.
    (root / MARKER).unlink()
    foreign = cluster_parent() / "bg-drill-20990101T000000000000-ffff-abcd1234"
    foreign.mkdir()
    stale = Path(tempfile.gettempdir()) / f"breakglass-libpq-{_dead_pid()}-abcd1234"
    stale.mkdir(mode=0o700)
    (stale / "pgpass").write_text("*:*:*:*:production-password\n")
    try:
        res = project.drill()
        assert res.rc == 0, res
        assert not root.exists() and not stale.exists()
        assert foreign.exists()  # not a run of this project
        removed = res.step_result("leftovers")["removed"]
        # (another test's breakglass may have removed the password folder first: any run does)
        assert any(str(root) in r for r in removed)
    finally:
        shutil.rmtree(foreign, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_checkins_reach_the_sentry_sink(project: DrillProject, http_sink: Any) -> None:
    project.write_config(drill=EXPECT, extra='[sentry]\ndsn = "env:SENTRY_DSN"\n')
    project.environ["SENTRY_DSN"] = http_sink.sentry_dsn
    project.take()
    http_sink.clear()
    res = project.drill()
    assert res.rc == 0, res
    checkins = [item.json() for env in http_sink.sentry_envelopes()
                for item in env.of_type("check_in")]
    assert [c["status"] for c in checkins] == ["in_progress", "ok"]
    assert {c["monitor_slug"] for c in checkins} == {"breakglass-drill-restore-acme-shop"}
    # The first check-in creates/updates the monitor with the drill's schedule.
    assert checkins[0]["monitor_config"]["schedule"] == {"type": "crontab",
                                                         "value": "0 3 1 * *"}


# -- expect rungs against a real server ----------------------------------------------------------
@pytest.fixture
def conn(source_dsn: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(source_dsn, autocommit=True) as c:
        yield c


@pytest.mark.parametrize(("check", "code"), [
    ({"min": 3000}, "EXPECT_OK"), ({"min": 3001}, "EXPECT_FAILED"),
    ({"max": 3000}, "EXPECT_OK"), ({"max": 2999}, "EXPECT_FAILED"),
    ({"equals": 3000}, "EXPECT_OK"), ({"equals": 12}, "EXPECT_FAILED"),
])
def test_expect_min_max_equals(conn: Any, check: dict[str, Any], code: str) -> None:
    from breakglass.config import ExpectConfig

    exp = ExpectConfig(sql="select count(*) from users", **check)
    (found,) = validate.expect([exp], conn)
    assert found.code == code
    if code == "EXPECT_FAILED":
        assert found.evidence["value"] == "3000"


def test_expect_sql_that_fails_is_expect_error(conn: Any) -> None:
    from breakglass.config import ExpectConfig

    (found,) = validate.expect([ExpectConfig(sql="select count(*) from nosuch", min=1)], conn)
    assert found.code == "EXPECT_ERROR" and "nosuch" in found.message


def test_expect_runs_read_only(conn: Any) -> None:
    from breakglass.config import ExpectConfig

    (found,) = validate.expect([ExpectConfig(sql="delete from users returning 1", min=1)],
                               conn)
    assert found.code == "EXPECT_ERROR"
    assert conn.execute("select count(*) from users").fetchone()[0] == 3000


# -- the server environment ---------------------------------------------------------------------
def test_server_environment_restores_into_a_scratch_database_and_drops_it(
        project: DrillProject, pg_server: Any, pg_server_factory: Any) -> None:
    import psycopg

    drill_server = pg_server_factory.start(18)  # not the production server (pg_server, 16)
    project.environ["DRILL_SERVER_DSN"] = drill_server.dsn()
    project.write_config(drill='environment = "server"\nserver = "env:DRILL_SERVER_DSN"\n'
                         + EXPECT)
    project.take()
    res = project.drill()
    assert res.rc == 0, res
    assert res.step_result("environment")["target"]["kind"] == "server"
    name = res.step_result("environment")["target"]["dbname"]
    assert name == f"drill_{safe_run_id(res.doc['run_id'])}"
    with psycopg.connect(drill_server.dsn()) as c:
        left = c.execute("select 1 from pg_database where datname = %s", (name,)).fetchall()
    assert left == []


def test_server_environment_refuses_a_production_database(project: DrillProject,
                                                          pg_server: Any) -> None:
    project.environ["DRILL_SERVER_DSN"] = pg_server.dsn()  # the server [databases.shop] lives on
    project.write_config(drill='environment = "server"\nserver = "env:DRILL_SERVER_DSN"\n'
                         + EXPECT)
    project.take()
    res = project.drill()
    assert res.rc == 1, res
    assert "DRILL_TARGET_IS_PRODUCTION" in res.failing
    assert "blocked by precondition" in res.doc["status"]
    assert "runs.resume" not in res.stdout + res.stderr  # a refusal: nothing to resume


# -- progress: counted when finished, against the table of contents ------------------------------
#: four tables of (id serial primary key, v text unique, n int) + an index on n, a child with a
#: foreign key, and an empty table: 6 TABLE DATA entries; 4 x 2 CONSTRAINT + 4 INDEX + 1 FK
PROGRESS_TABLES = {"t0": 3000, "t1": 3000, "t2": 3000, "t3": 3000, "child": 500, "empty_t": 0}
PROGRESS_INDEXES = 4 * 2 + 4  # indexes, constraint-backed ones included (pg_indexes)


@pytest.fixture(scope="session")
def progress_servers(pg_server: Any, pg_server_factory: Any,
                     tmp_path_factory: pytest.TempPathFactory) -> Any:
    """major -> (server, its pg_dump's dump of the progress schema), made once per major."""
    import psycopg

    made: dict[int, tuple[Any, Path]] = {}

    def get(major: int) -> tuple[Any, Path]:
        if major in made:
            return made[major]
        server = pg_server if major == pg_server.major else pg_server_factory.start(major)
        dsn = server.create_database("progress_src")
        with psycopg.connect(dsn) as c:
            for t in ("t0", "t1", "t2", "t3"):
                c.execute(f"create table {t} (id serial primary key, v text unique, n int)")
                c.execute(f"insert into {t} (v, n) select 'v' || g, g from "  # noqa: S608
                          f"generate_series(1, {PROGRESS_TABLES[t]}) g")
                c.execute(f"create index {t}_n on {t} (n)")
            c.execute("create table child (id int references t0 (id), w int)")
            c.execute("insert into child select g, g from generate_series(1, 500) g")
            c.execute("create table empty_t (id int)")
        dump = tmp_path_factory.mktemp("progress") / "progress.dump"
        subprocess.run([str(server.bin_dir / "pg_dump"), "-Fc", "-f", str(dump),
                        "progress_src"], env={**os.environ, **server.env()}, check=True)
        made[major] = (server, dump)
        return made[major]

    return get


def _loaded(conn: Any) -> int:
    """Tables whose rows have all arrived (COPY commits at its end: none is seen half-way)."""
    from psycopg import sql

    n = 0
    for table, rows in PROGRESS_TABLES.items():
        try:
            got = conn.execute(sql.SQL("select count(*) from {}").format(
                sql.Identifier(table))).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            continue
        n += got == rows
    return n


def _built(conn: Any) -> int:
    """Indexes and foreign keys that exist in the restored database."""
    row = conn.execute("select (select count(*) from pg_indexes where schemaname = 'public') + "
                       "(select count(*) from pg_constraint where contype = 'f')").fetchone()
    return int(row[0])


@pytest.mark.parametrize(("major", "jobs"), [(16, 1), (16, 2), (18, 1), (18, 3)])
def test_restore_progress_counts_finished_data_items_then_indexes(
        progress_servers: Any, major: int, jobs: int) -> None:
    from breakglass.drills import pgrestore

    pg_server, progress_dump = progress_servers(major)
    exe = pg_server.bin_dir / "pg_restore"
    totals = pgrestore.toc_totals(exe, progress_dump)
    assert totals == pgrestore.Totals(len(PROGRESS_TABLES), PROGRESS_INDEXES + 1)
    dsn = pg_server.create_database(f"progress_dst_j{jobs}")
    seen: list[tuple[str, float, float | None, int, int]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:

        def record(label: str, done: float, total: float | None) -> None:
            # what the database holds at the moment the count is reported, read independently
            seen.append((label, done, total, _loaded(conn), _built(conn)))

        outcome = pgrestore.run(exe, progress_dump, pg_server.dsn(), f"progress_dst_j{jobs}",
                                jobs, totals, record)
    assert outcome.returncode == 0 and not outcome.errors
    data = [(d, t, loaded) for label, d, t, loaded, _ in seen if label == pgrestore.DATA_LABEL]
    index = [(d, t, built) for label, d, t, _, built in seen if label == pgrestore.INDEX_LABEL]
    for stage, total in ((data, totals.data), (index, totals.index)):
        counts = [d for d, _, _ in stage]
        assert counts == sorted(counts), counts  # monotonic
        assert counts[0] == 0 and counts[-1] == total
        assert all(t == total for _, t, _ in stage)
    # never ahead of the database: a data item counts once its rows are all there, an index
    # or constraint once it exists — so a stage at its total is a stage that is done
    assert all(loaded >= d for d, _, loaded in data), data
    assert all(built >= d for d, _, built in index), index
    assert next(loaded for d, _, loaded in data if d == totals.data) == len(PROGRESS_TABLES)
    assert next(built for d, _, built in index if d == totals.index) == PROGRESS_INDEXES + 1
    assert (outcome.tables_processed, outcome.indexes_built) == (totals.data, totals.index)


def _beats(text: str, step: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(f"drill.restore: {step} ")]


def test_piped_drill_progress_prints_one_line_per_report_with_heartbeat_0(
        project: DrillProject) -> None:
    import re

    project.take()
    res = project.run("drill.restore", "--yes", env={"BREAKGLASS_HEARTBEAT": "0"})
    assert res.rc == 0, res
    assert "\r" not in res.stdout and "\x1b" not in res.stdout  # a log, not a redrawn bar
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("drill.restore: ")]
    order = [ln.split(" ")[1] for ln in lines]
    steps = ["fetch", "environment", "restore", "validate", "teardown"]
    firsts = [order.index(s) for s in steps]
    assert firsts == sorted(firsts), order  # in the order the steps run
    fetch = "\n".join(_beats(res.stdout, "fetch"))
    assert re.search(r"download \S+ \d+(\.\d)? KB of \d+(\.\d)? KB", fetch), fetch
    assert "read the table of contents" in fetch
    assert any("create the local drill environment (PostgreSQL 16)" in ln
               for ln in _beats(res.stdout, "environment"))
    assert any("validate: structure" in ln for ln in _beats(res.stdout, "validate"))
    counts = [tuple(int(x) for x in m.groups()) for ln in _beats(res.stdout, "restore")
              if (m := re.search(r" (\d+)/(\d+) data items, (\d+)/(\d+) indexes and "
                                 r"constraints", ln))]
    # users and orders: 2 data items; users_pkey, users_email_key, orders_pkey, the FK: 4
    assert counts[-1] == (2, 2, 4, 4), counts
    assert [c[0] for c in counts] == sorted(c[0] for c in counts)
    assert [c[2] for c in counts] == sorted(c[2] for c in counts)


def test_json_drill_progress_heartbeat_names_a_silent_phase_on_stderr(
        project: DrillProject) -> None:
    # Starting the embedded PostgreSQL reports nothing for seconds: the heartbeat (here every
    # 0.05 s) still says what is happening, one line at a time; with --json on stderr, so
    # stdout stays one JSON document.
    project.take()
    res = project.drill(env={"BREAKGLASS_HEARTBEAT": "0.05"})
    assert res.rc == 0 and res.doc["status"] == "succeeded", res
    assert "\r" not in res.stderr
    env_lines = _beats(res.stderr, "environment")
    assert env_lines, res.stderr
    assert all("create the local drill environment" in ln for ln in env_lines)


def test_a_bad_heartbeat_setting_progress_is_a_usage_error(project: DrillProject) -> None:
    res = project.run("drill.restore", "--yes", env={"BREAKGLASS_HEARTBEAT": "soon"})
    assert res.rc == 2, res
    assert "BREAKGLASS_HEARTBEAT" in res.stderr and "Traceback" not in res.stderr

