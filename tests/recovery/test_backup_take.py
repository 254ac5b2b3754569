"""`breakglass backup.take`: real pg_dump of a real PostgreSQL (16, and 18 from the bundled
servers) into file:// and moto S3 stores, driven through the CLI in a subprocess.

What is proved: the backup that lands is one `backup.verify` passes; the manifest's counts and
fingerprint are the database's; age and SSE-S3 are applied; a dry run changes nothing; a run
SIGKILLed mid-dump leaves no visible backup and `runs.resume` finishes with exactly one;
pruning spares the young and the newest; the database password reaches no child's argv or
environment and no output.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import psycopg
import pyrage
import pytest

from breakglass.config import AwsConfig
from breakglass.connectors import pgbin
from breakglass.recovery import archive, fingerprint
from breakglass.recovery.stores import open_store
from breakglass.recovery.stores import s3 as s3_store_mod
from tests.cli_project import CliProject
from tests.recovery.stores import FileTestStore, S3TestStore

DB = "bt_shop"
SCHEMA = """
create table tenants (id serial primary key, name text not null unique);
create table users (
    id bigint generated always as identity primary key,
    tenant_id int not null references tenants (id),
    email text not null,
    created_at timestamptz not null default now(),
    constraint users_email_at check (email like '%@%'));
create index users_tenant_idx on users (tenant_id);
create schema billing;
create table billing.invoices (id serial primary key, user_id bigint references users,
                               total numeric(10, 2), note text);
insert into tenants (name) select 't' || g from generate_series(1, 30) g;
insert into users (tenant_id, email) select 1 + g % 30, 'u' || g || '@example.test'
    from generate_series(1, 2000) g;
-- random text compresses poorly: the dump is large enough (~1 MB) that pg_dump is still
-- writing when the run pauses after its first chunk
insert into billing.invoices (user_id, total, note)
    select 1 + g % 2000, g * 1.25, md5(g::text) || md5((g * 7)::text) || md5(random()::text)
    from generate_series(1, 12000) g;
"""


# -- fixtures -------------------------------------------------------------------------------
@dataclass
class Shop:
    server: Any
    dsn: str
    extension: str | None

    def counts(self) -> dict[str, int]:
        with psycopg.connect(self.dsn) as conn:
            return fingerprint.row_counts(conn)


def _make_shop(server: Any, name: str) -> Shop:
    dsn = server.create_database(name)
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
        available = {r[0] for r in conn.execute("select name from pg_available_extensions")}
        ext = "vector" if "vector" in available else None
        if ext:
            conn.execute("create extension vector")
    return Shop(server, dsn, ext)


@pytest.fixture(scope="session")
def shop(pg_server: Any) -> Shop:
    return _make_shop(pg_server, DB)


@pytest.fixture(autouse=True)
def owner_channel(http_sink: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOB_NOTIFY_URL", http_sink.apprise_url)


@pytest.fixture
def file_store(tmp_path: Path) -> FileTestStore:
    root = tmp_path / "backups"
    root.mkdir()
    return FileTestStore(root)


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "file":
        return request.getfixturevalue("file_store")
    return S3TestStore(request.getfixturevalue("aws")).create()


@pytest.fixture(scope="session")
def identity() -> Any:
    return pyrage.x25519.Identity.generate()


@dataclass
class Project(CliProject):
    shop: Shop
    store: Any  # FileTestStore | S3TestStore (tests/recovery/stores.py)
    command: ClassVar[tuple[str, ...]] = ("backup.take",)

    def write(self, **backup: Any) -> Project:
        settings = {"store": self.store.url, "database": "main", "max_age": "26h",
                    "retention_days": 7, "encryption": "none", **backup}
        lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in settings.items())
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            '[owners]\nbackup_restore = ["bob"]\n\n'
            '[people.bob]\nnotify = ["env:BOB_NOTIFY_URL"]\n\n'
            + self.store.config_toml()
            + '\n[databases.main]\ndsn = "env:BT_DSN"\n\n[backups.main]\n' + lines + "\n")
        return self

    def env(self, **more: str) -> dict[str, str]:
        return super().env(**{"BT_DSN": self.shop.dsn, **more})

    def run(self, *args: str, env: dict[str, str] | None = None,  # type: ignore[override]
            timeout: float = 180) -> Result:
        return Result(super().run(*args, env=self.env(**(env or {})), timeout=timeout))

    def take(self, *args: str) -> Result:
        return self.run("backup.take", "--yes", "--json", *args)

    def backups(self) -> list[str]:
        return [o.key for o in open_store(self.store.url, _aws(self.store)).list_backups()]

    def everything_written(self) -> str:
        """Every file breakglass wrote under state_dir (journals, reports, history)."""
        return "\n".join(p.read_text(errors="replace") for p in self.state.rglob("*")
                         if p.is_file())


def _aws(store: Any) -> AwsConfig:
    """The [aws] table a project on this store has: moto's endpoint for an s3:// store."""
    server = getattr(store, "server", None)
    return AwsConfig(region="us-east-1", endpoint_url=server.endpoint_url if server else None)


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.doc: dict[str, Any] = {}
        if proc.stdout.lstrip().startswith("{"):
            self.doc = json.loads(proc.stdout)

    @property
    def codes(self) -> set[str]:
        return {f["code"] for f in self.doc.get("findings", [])}

    def __repr__(self) -> str:
        return f"rc={self.rc} codes={sorted(self.codes)} stdout={self.stdout[-1500:]!r} " \
               f"stderr={self.stderr[-1500:]!r}"


@pytest.fixture
def project(tmp_path: Path, shop: Shop, store: Any) -> Iterator[Project]:
    proj = Project(tmp_path, shop, store).write()
    yield proj
    for proc in proj.started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


@pytest.fixture
def file_project(tmp_path: Path, shop: Shop, file_store: FileTestStore) -> Iterator[Project]:
    proj = Project(tmp_path, shop, file_store).write()
    yield proj
    for proc in proj.started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def _manifest(proj: Project, key: str) -> Any:
    m = open_store(proj.store.url, _aws(proj.store)).read_manifest(key)
    assert m is not None
    return m


# -- the backup is one backup.verify accepts -------------------------------------------------
def test_a_taken_backup_passes_backup_verify(project: Project) -> None:
    r = project.take()
    assert r.rc == 0, r
    (key,) = project.backups()
    assert key.startswith("main-") and key.endswith(".dump")
    v = project.run("backup.verify", "--json")
    assert v.rc == 0, v
    assert "BACKUP_OK" in v.codes


def test_manifest_row_counts_equal_the_real_counts(file_project: Project) -> None:
    assert file_project.take().rc == 0
    (key,) = file_project.backups()
    m = _manifest(file_project, key)
    assert m.tables == file_project.shop.counts()
    assert m.tables["public.users"] == 2000 and m.tables["billing.invoices"] == 12000


def test_manifest_describes_the_dump_and_the_server(file_project: Project) -> None:
    assert file_project.take().rc == 0
    (key,) = file_project.backups()
    m = _manifest(file_project, key)
    obj = open_store(file_project.store.url).stat(key)
    assert (m.format, m.database, m.server_major, m.encryption) == (2, DB, 16, "none")
    assert m.size == obj.size and m.dump_size == obj.size and m.dump_sha256 == m.sha256
    assert m.started_at is not None and m.finished_at is not None
    assert m.created_at == m.started_at <= m.finished_at
    assert m.pg_dump_version is not None and "16" in m.pg_dump_version


def test_manifest_fingerprint_lists_the_schema(file_project: Project) -> None:
    assert file_project.take().rc == 0
    (key,) = file_project.backups()
    fp = _manifest(file_project, key).schema_
    assert fp is not None
    assert set(fp.tables) == {"public.tenants", "public.users", "billing.invoices"}
    assert fp.tables["public.users"]["email"].type == "text"
    assert fp.tables["public.users"]["email"].not_null
    assert fp.tables["billing.invoices"]["total"].type == "numeric(10,2)"
    assert {"public.users_tenant_idx", "public.users_pkey",
            "public.tenants_name_key"} <= set(fp.indexes)
    con = fp.constraints["public.users.users_email_at"]
    assert con.type == "check" and "'%@%'" in con.definition
    assert fp.constraints["billing.invoices.invoices_user_id_fkey"].type == "foreign key"
    assert fp.sequences["public.tenants_id_seq"].owned_by == "public.tenants.id"
    assert fp.sequences["public.users_id_seq"].owned_by == "public.users.id"  # identity
    if file_project.shop.extension:
        assert file_project.shop.extension in fp.extensions


def test_exclude_data_leaves_those_rows_out_of_the_dump(file_project: Project) -> None:
    # "invoices" names billing.invoices (any schema); "public.tenants" one table exactly
    assert file_project.write(exclude_data=["invoices", "public.tenants"]).take().rc == 0
    (key,) = file_project.backups()
    listing = subprocess.run([str(pgbin.find("pg_restore")), "--list",
                              str(file_project.store.root / key)],
                             capture_output=True, text=True, check=True).stdout
    data = {" ".join(line.split()[-3:-1]) for line in listing.splitlines()
            if " TABLE DATA " in line}
    assert data == {"public users"}  # the schema of every table is still there:
    assert "TABLE billing invoices" in listing and "TABLE public tenants" in listing
    v = file_project.run("backup.verify", "--json")
    assert v.rc == 0, v


def test_pg18_server_is_dumped_with_a_pg18_pg_dump(tmp_path: Path, pg_server_factory: Any,
                                                   file_store: FileTestStore) -> None:
    shop18 = _make_shop(pg_server_factory.start(18), "bt_shop18")
    proj = Project(tmp_path, shop18, file_store).write()
    assert (r := proj.take()).rc == 0, r
    (key,) = proj.backups()
    m = _manifest(proj, key)
    assert m.server_major == 18 and m.pg_dump_version and " 18." in m.pg_dump_version
    assert m.tables == shop18.counts()


# -- encryption --------------------------------------------------------------------------------
def test_age_backup_starts_with_the_header_and_decrypts_to_a_readable_archive(
        file_project: Project, identity: Any, tmp_path: Path) -> None:
    file_project.environ["BT_AGE_IDENTITY"] = str(identity)
    file_project.write(encryption="age", identity="env:BT_AGE_IDENTITY")
    assert (r := file_project.take()).rc == 0, r
    (key,) = file_project.backups()
    assert key.endswith(".dump.age")
    stored = file_store_path(file_project, key)
    assert stored.read_bytes().startswith(archive.AGE_MAGIC)
    plain = tmp_path / "plain.dump"
    assert archive.decrypt_age(stored, plain, [identity]) is None
    assert archive.check_archive(plain).ok
    m = _manifest(file_project, key)
    assert m.encryption == "age" and m.dump_size == plain.stat().st_size != m.size


def test_age_with_recipients_only_says_the_archive_was_not_read_back(
        file_project: Project, identity: Any) -> None:
    file_project.write(encryption="age", recipients=[str(identity.to_public())])
    r = file_project.take()
    assert r.rc == 0, r
    (key,) = file_project.backups()
    assert file_store_path(file_project, key).read_bytes().startswith(archive.AGE_MAGIC)
    assert "ARCHIVE_NOT_DECRYPTED" in r.codes


def test_identity_and_password_never_appear_in_output(file_project: Project,
                                                      identity: Any) -> None:
    file_project.environ["BT_AGE_IDENTITY"] = str(identity)
    file_project.write(encryption="age", identity="env:BT_AGE_IDENTITY")
    r = file_project.take()
    plain = file_project.run("backup.take", "--yes")  # the people's output too
    assert r.rc == 0 and plain.rc == 0, r
    written = file_project.everything_written()
    for secret in (str(identity), file_project.shop.server.password):
        for where in (r.stdout, r.stderr, plain.stdout, plain.stderr, written):
            assert secret not in where


def test_sse_s3_backup_is_stored_with_AES256(tmp_path: Path, shop: Shop, aws: Any) -> None:
    s3 = S3TestStore(aws).create()
    proj = Project(tmp_path, shop, s3).write(encryption="sse-s3")
    assert (r := proj.take()).rc == 0, r
    (key,) = proj.backups()
    head = s3.s3.head_object(Bucket=s3.bucket, Key=s3.prefix + key)
    assert head["ServerSideEncryption"] == "AES256"


def test_sse_on_a_file_store_is_a_usage_error(file_project: Project) -> None:
    file_project.write(encryption="sse-s3")
    r = file_project.take()
    assert r.rc == 2, r
    assert "s3://" in r.stderr and "Traceback" not in r.stderr


# -- plan, dry run, failures -------------------------------------------------------------------
def test_dry_run_prints_the_plan_and_changes_nothing(file_project: Project) -> None:
    r = file_project.run("backup.take", "--dry-run")
    assert r.rc == 0, r
    assert "dump main (PostgreSQL 16." in r.stdout
    assert file_project.store.url.removeprefix("file://") in r.stdout.replace("\n", "")
    assert list(Path(file_project.store.url.removeprefix("file://")).iterdir()) == []


def test_unreachable_database_could_not_verify(file_project: Project) -> None:
    r = file_project.run("backup.take", "--yes", "--json",
                         env={"BT_DSN": "postgresql://u:hunter2secret@127.0.0.1:1/x"})
    assert r.rc == 3, r
    assert "DATABASE_UNREACHABLE" in r.codes
    assert "hunter2secret" not in r.stdout + r.stderr


def test_sigkill_mid_dump_leaves_no_backup_and_resume_finishes_with_one(
        project: Project) -> None:
    project.kill(project.start_paused("backups.main.mid"))
    assert project.backups() == []  # the partial upload is not a backup
    if isinstance(project.store, FileTestStore):  # killed with bytes written to the temp name
        (partial,) = project.store.root.iterdir()
        assert partial.name.startswith(".main-") and partial.name.endswith(".dump.partial")
    (run_id,) = project.run_ids()
    r = project.run("runs.resume", run_id, "--yes")
    assert r.rc == 0, r
    (key,) = project.backups()
    assert key.startswith("main-")
    if isinstance(project.store, FileTestStore):  # the stale partial was cleaned up
        assert sorted(p.name for p in project.store.root.iterdir()) == [
            key, key + ".manifest.json"]
    assert project.run("backup.verify", "--json").rc == 0


# -- names: one object per run; an undo deletes only what its run wrote -------------------------
def test_two_runs_in_the_same_second_get_two_names() -> None:
    from breakglass.recovery.take import backup_key

    one = backup_key("main", "20261207T162319000001-ab12", "none")
    two = backup_key("main", "20261207T162319999999-cd34", "age")
    assert one == "main-20261207T162319Z-20261207T162319000001-ab12.dump"
    assert two == "main-20261207T162319Z-20261207T162319999999-cd34.dump.age"


def test_two_takes_at_once_from_two_state_dirs_write_two_intact_backups(
        tmp_path: Path, shop: Shop, file_store: FileTestStore) -> None:
    projects = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        projects.append(Project(tmp_path / name, shop, file_store).write())
    procs = [subprocess.Popen(p.argv("backup.take", "--yes", "--json"), text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=p.env()) for p in projects]
    results = [Result(subprocess.CompletedProcess(proc.args, proc.wait(timeout=180),
                                                  *proc.communicate())) for proc in procs]
    for r in results:
        assert r.rc == 0, r
    taken = [next(f for f in r.doc["findings"] if f["code"] == "BACKUP_TAKEN")["evidence"]
             for r in results]
    assert taken[0]["key"] != taken[1]["key"]
    for ev in taken:  # each reported backup is there, with the bytes it reported
        data = (file_store.root / ev["key"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == ev["sha256"]
        doc = json.loads((file_store.root / (ev["key"] + ".manifest.json")).read_text())
        assert doc["sha256"] == ev["sha256"]


def test_undo_leaves_an_object_its_run_did_not_write(file_project: Project) -> None:
    file_project.kill(file_project.start_paused("backups.main.after_apply"))
    (key,) = file_project.backups()
    path = file_project.store.root / key
    theirs = b"PGDMP bytes another writer put under this name"
    path.write_bytes(theirs)
    (run_id,) = file_project.run_ids()
    r = file_project.run("runs.resume", run_id, "--yes", "--json")
    assert r.rc == 1, r
    assert r.codes & {"CHECKSUM_MISMATCH", "ARCHIVE_TRUNCATED"}  # the read-back failed
    assert path.read_bytes() == theirs  # and the undo left what it did not write


def test_undo_deletes_the_object_its_run_wrote(file_project: Project) -> None:
    file_project.kill(file_project.start_paused("backups.main.after_apply"))
    (key,) = file_project.backups()
    side = file_project.store.root / (key + ".manifest.json")
    doc = json.loads(side.read_text())
    doc["sha256"] = "0" * 64  # the read-back fails; the object is still the one written
    side.write_text(json.dumps(doc))
    (run_id,) = file_project.run_ids()
    r = file_project.run("runs.resume", run_id, "--yes", "--json")
    assert r.rc == 1, r
    assert "CHECKSUM_MISMATCH" in r.codes
    assert not (file_project.store.root / key).exists() and not side.exists()


def test_password_is_in_no_child_argv_or_environment(file_project: Project) -> None:
    proc = file_project.start_paused("backups.main.mid")
    password = file_project.shop.server.password.encode()
    children = _children(proc.pid)
    dumps = [pid for pid in children if b"pg_dump" in _read(f"/proc/{pid}/cmdline")]
    assert dumps, "pg_dump is still running while the run pauses after its first chunk"
    for pid in dumps:
        env = _read(f"/proc/{pid}/environ")
        assert b"PGPASSFILE=" in env and b"PGPASSWORD" not in env and password not in env
        passfile = next(v for v in env.split(b"\0") if v.startswith(b"PGPASSFILE="))
        mode = os.stat(passfile.split(b"=", 1)[1]).st_mode & 0o777
        assert mode == 0o600
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        assert password not in _read(str(cmdline))
    file_project.kill(proc)


def test_a_killed_take_leaves_a_password_folder_that_the_next_take_removes_and_pg_dump_dies(
        file_project: Project) -> None:
    canary = "canaryAws4Rt"
    file_project.environ.update(AWS_SECRET_ACCESS_KEY=canary, SENTRY_DSN=f"http://{canary}@h/1")
    proc = file_project.start_paused("backups.main.mid")
    (folder,) = Path(tempfile.gettempdir()).glob(f"breakglass-libpq-{proc.pid}-*")
    dumps = [pid for pid in _children(proc.pid) if b"pg_dump" in _read(f"/proc/{pid}/cmdline")]
    assert dumps
    assert not any(canary.encode() in _read(f"/proc/{pid}/environ") for pid in dumps)
    file_project.kill(proc)
    assert (folder / "pgpass").is_file()  # a SIGKILL runs no `finally`
    deadline = time.monotonic() + 30  # pg_dump dies with it (PR_SET_PDEATHSIG)
    while any(Path(f"/proc/{pid}").exists() and b") Z" not in _read(f"/proc/{pid}/stat")
              for pid in dumps):
        assert time.monotonic() < deadline, "pg_dump outlived the killed backup.take"
        time.sleep(0.05)
    r = file_project.take()
    assert r.rc == 0, r
    assert not folder.exists()


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _read(str(stat)).rsplit(b")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


# -- pruning -----------------------------------------------------------------------------------
def _old(days: int) -> str:
    t = datetime.now(UTC) - timedelta(days=days)
    return f"main-{t.strftime('%Y%m%dT%H%M%SZ')}.dump"


def test_prune_deletes_only_backups_older_than_retention(file_project: Project) -> None:
    old, young = _old(30), _old(2)
    for key in (old, young):
        file_project.store.put(key, b"PGDMP old", manifest=b"{}")
    file_project.store.put("other-20200101T000000Z.dump", b"PGDMP not ours")
    r = file_project.take("--prune")
    assert r.rc == 0, r
    keys = file_project.backups()
    assert old not in keys and young in keys and "other-20200101T000000Z.dump" in keys
    assert not (file_project.store.root / (old + ".manifest.json")).exists()
    assert len([k for k in keys if k.startswith("main-")]) == 2


def test_prune_never_deletes_the_newest_backup(file_project: Project) -> None:
    """Every backup is past retention (backups stopped a month ago): the newest one stays."""
    from breakglass.config import load_config
    from breakglass.recovery.take import PruneBackups

    old, older = _old(30), _old(40)
    for key in (old, older):
        file_project.store.put(key, b"PGDMP old")
    config = load_config(str(file_project.config))
    ctx = SimpleNamespace(config=config)
    observed = PruneBackups("main", config.backups["main"]).observe(ctx)  # type: ignore[arg-type]
    assert [e["key"] for e in observed["expired"]] == [older]
    assert observed["newest"] == old


def file_store_path(proj: Project, key: str) -> Path:
    return Path(proj.store.url.removeprefix("file://")) / key


# -- the S3 write API --------------------------------------------------------------------------
def test_s3_multipart_backup_is_invisible_until_complete(aws: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_store_mod, "PART_SIZE", 5 << 20)  # S3's minimum part size
    s3 = S3TestStore(aws).create()
    store = open_store(s3.url, _aws(s3))
    data = os.urandom(11 << 20)
    with store.begin("main-20260101T000000Z.dump") as up:
        up.write(data)
        assert store.list_backups() == []
        assert store.partials("main-20260101T000000Z.dump") == 1
        obj = up.commit()
    assert obj.size == len(data) and store.partials("main-20260101T000000Z.dump") == 0
    assert [o.key for o in store.list_backups()] == ["main-20260101T000000Z.dump"]


def test_s3_upload_aborted_by_an_error_leaves_nothing(aws: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_store_mod, "PART_SIZE", 5 << 20)
    s3 = S3TestStore(aws).create()
    store = open_store(s3.url, _aws(s3))
    with pytest.raises(RuntimeError), store.begin("main-20260101T000000Z.dump") as up:
        up.write(os.urandom(11 << 20))
        raise RuntimeError("pg_dump died")
    assert store.list_backups() == [] and store.partials("main-20260101T000000Z.dump") == 0


def test_s3_discard_partial_aborts_a_killed_upload(aws: Any) -> None:
    s3 = S3TestStore(aws).create()
    s3.s3.create_multipart_upload(Bucket=s3.bucket, Key=s3.prefix + "main-x.dump")
    store = open_store(s3.url, _aws(s3))
    assert store.discard_partial("main-x.dump") == 1
    assert store.partials("main-x.dump") == 0


def test_file_upload_aborted_by_an_error_leaves_no_partial(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/")
    with pytest.raises(RuntimeError), store.begin("main-x.dump") as up:
        up.write(b"PGDMP")
        assert (tmp_path / ".main-x.dump.partial").stat().st_mode & 0o777 == 0o600
        raise RuntimeError("pg_dump died")
    assert list(tmp_path.iterdir()) == []


# -- progress ---------------------------------------------------------------------------------
def test_dump_progress_reports_the_bytes_written(file_project: Project, identity: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The dump's progress counts the stored bytes (after age), ending at the object's size."""
    from breakglass.config import load_config
    from breakglass.engine.executor import new_run_id
    from breakglass.engine.progress import ProgressEvent
    from breakglass.engine.redaction import Redactor
    from breakglass.engine.runbook import StepContext
    from breakglass.recovery.take import BackupTake
    from breakglass.secrets import Secrets

    file_project.write(encryption="age", recipients=[str(identity.to_public())])
    monkeypatch.setenv("BT_DSN", file_project.shop.dsn)
    config = load_config(file_project.config)
    redactor = Redactor()
    events: list[ProgressEvent] = []
    ctx = StepContext(run_id=new_run_id(), runbook="backup.take", config=config, params={},
                      state_dir=file_project.state, redactor=redactor,
                      secrets=Secrets(config, redactor), progress_sink=events.append)
    (step,) = BackupTake(config, {}).steps()
    result = step.apply(ctx, step.plan(step.observe(ctx)))
    written = [e.done for e in events if e.unit == "bytes"]
    size = (file_project.store.root / result["key"]).stat().st_size  # read by the test
    assert written == sorted(written) and written[-1] == size
    assert len(written) > 1  # reported while it streams, not once at the end
    assert any(e.unit == "phase" and "count the rows" in e.label for e in events)
