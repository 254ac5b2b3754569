"""`breakglass backup.verify`: each situation gives its documented finding code and exit code,
on a file:// store and on S3 (moto), through the CLI and the engine.

Archives are real: `pg_dump -Fc` of a small database on the `pg_server` fixture, encrypted with
real age (pyrage) where a test needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyrage
import pytest

from tests.recovery.stores import (
    AGE_MAGIC,
    FileTestStore,
    S3TestStore,
    StoreUnderTest,
    manifest_bytes,
)
from tests.result_schema import check_output

KEY = "shop-20240501T0300Z.dump"


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def owner_channel(http_sink: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """bob's notices go to the HTTP sink (the subprocess inherits the environment)."""
    monkeypatch.setenv("BOB_NOTIFY_URL", http_sink.apprise_url)


@pytest.fixture(scope="session")
def shop_dsn(pg_server: Any) -> str:
    dsn: str = pg_server.create_database("bv_shop")
    return dsn


@pytest.fixture(scope="session")
def dump(pg_server: Any, shop_dsn: str) -> bytes:
    """One real custom-format dump (a few tables, a few thousand rows), made once."""
    import psycopg

    dsn = shop_dsn
    with psycopg.connect(dsn) as conn:
        conn.execute("create table users (id serial primary key, email text not null)")
        conn.execute("create table orders (id serial primary key, user_id int references "
                     "users, total numeric(10,2))")
        conn.execute("insert into users (email) select 'u' || g || '@example.test' "
                     "from generate_series(1, 3000) g")
        conn.execute("insert into orders (user_id, total) select 1 + g % 3000, g * 1.5 "
                     "from generate_series(1, 5000) g")
    out = subprocess.run([str(pg_server.bin_dir / "pg_dump"), "-Fc", "-d", "bv_shop"],
                         env={**os.environ, **pg_server.env()}, capture_output=True, check=True)
    assert out.stdout.startswith(b"PGDMP")
    return out.stdout


@pytest.fixture(scope="session")
def identity() -> Any:
    return pyrage.x25519.Identity.generate()


def age_encrypt(data: bytes, identity: Any) -> bytes:
    return bytes(pyrage.encrypt(data, [identity.to_public()]))


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "file":
        root = tmp_path / "backups"
        root.mkdir()
        return FileTestStore(root)
    return S3TestStore(request.getfixturevalue("aws")).create()


@pytest.fixture
def file_store(tmp_path: Path) -> FileTestStore:
    root = tmp_path / "backups"
    root.mkdir()
    return FileTestStore(root)


@pytest.fixture
def s3_store(aws: Any) -> S3TestStore:
    return S3TestStore(aws).create()


Verify = Callable[..., "Result"]


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.doc: dict[str, Any] = {}
        if proc.stdout.lstrip().startswith("{"):
            self.doc = json.loads(proc.stdout)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.doc.get("findings", []))

    @property
    def codes(self) -> set[str]:
        return {f["code"] for f in self.findings}

    def finding(self, code: str) -> dict[str, Any]:
        return next(f for f in self.findings if f["code"] == code)

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"rc={self.rc} codes={sorted(self.codes)} stderr={self.stderr[-800:]!r}"


def write_config(tmp_path: Path, store: StoreUnderTest | None = None, *, url: str | None = None,
                 extra_toml: str = "", production: bool = False, **backup: Any) -> Path:
    """`production`: backups.shop is [databases.shop], whose DSN is $BV_DSN."""
    settings = {"store": url or (store.url if store else ""), "max_age": "26h",
                "retention_days": 7, "encryption": "none", **backup}
    if production:
        settings["database"] = "shop"
        extra_toml += '\n[databases.shop]\ndsn = "env:BV_DSN"\n'

    lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    # backup_restore has an owner: without one the engine's owner check is a finding.
    text = ('[project]\nname = "acme"\nenvironment = "test"\n\n'
            '[owners]\nbackup_restore = ["bob"]\n\n'
            '[people.bob]\nnotify = ["env:BOB_NOTIFY_URL"]\n\n'
            + (store.config_toml() if store else "") + extra_toml
            + "\n[backups.shop]\n" + "\n".join(lines) + "\n")
    path = tmp_path / "breakglass.toml"
    path.write_text(text)
    return path


def run_verify(config: Path, *args: str, env: dict[str, str] | None = None,
               json_out: bool = True) -> Result:
    argv = [sys.executable, "-m", "breakglass", "backup.verify", "--config", str(config),
            *(["--json"] if json_out else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    check_output(argv, proc.returncode, proc.stdout)
    return Result(proc)


# -- freshness and presence -----------------------------------------------------------------
def test_fresh_intact_backup_passes(store: StoreUnderTest, tmp_path: Path, dump: bytes,
                                    shop_dsn: str) -> None:
    store.put(KEY, dump, manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, store, production=True), env={"BV_DSN": shop_dsn})
    assert r.rc == 0, r
    ok = r.finding("BACKUP_OK")["evidence"]
    assert ok["key"] == KEY and ok["table_data_entries"] == 2
    assert "manifest" in ok["checked_against"]
    assert r.codes == {"BACKUP_OK"}


def test_s3_upload_checksum_is_compared_too(s3_store: S3TestStore, tmp_path: Path,
                                            dump: bytes) -> None:
    s3_store.put(KEY, dump, manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, s3_store))
    assert r.finding("BACKUP_OK")["evidence"]["checked_against"] == \
        "manifest + S3 ChecksumSHA256"


def test_backup_without_manifest_passes_with_a_note(file_store: FileTestStore, tmp_path: Path,
                                                    dump: bytes) -> None:
    file_store.put(KEY, dump)
    r = run_verify(write_config(tmp_path, file_store))
    assert r.rc == 0, r
    assert r.finding("MANIFEST_MISSING")["severity"] == "info"
    # no database configured and no earlier manifest: the note says what was not compared
    assert r.finding("SHAPE_NOT_COMPARED")["severity"] == "info"


def test_stale_backup_is_BACKUP_STALE(store: StoreUnderTest, tmp_path: Path,
                                      dump: bytes) -> None:
    store.put(KEY, dump, manifest=manifest_bytes(dump))
    max_age = store.make_stale()
    r = run_verify(write_config(tmp_path, store, max_age=max_age))
    assert r.rc == 1, r
    stale = r.finding("BACKUP_STALE")
    assert stale["evidence"]["age_seconds"] > stale["evidence"]["max_age_seconds"]
    assert max_age in stale["message"]


def test_age_is_the_manifests_start_time_not_the_objects_mtime(
        file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    # a 3-day-old backup copied today: the copy's mtime is fresh, its data is not
    three_days = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    file_store.put(KEY, dump, manifest=manifest_bytes(dump, created_at=three_days))
    r = run_verify(write_config(tmp_path, file_store))
    assert r.rc == 1, r
    stale = r.finding("BACKUP_STALE")["evidence"]
    assert stale["clock"] == "manifest" and stale["age_seconds"] > 3 * 86400 - 60


def test_a_manifest_from_the_future_is_implausible_and_not_the_clock(
        file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put(KEY, dump, manifest=manifest_bytes(dump, created_at="2030-01-01T00:00:00Z"))
    hour_ago = time.time() - 3600  # the object only: set_age would age the manifest too
    os.utime(file_store.root / KEY, (hour_ago, hour_ago))
    r = run_verify(write_config(tmp_path, file_store, max_age="30m"))
    assert r.rc == 1, r
    assert "in the future" in r.finding("MANIFEST_IMPLAUSIBLE")["message"]
    stale = r.finding("BACKUP_STALE")["evidence"]
    assert stale["clock"] == "object" and stale["age_seconds"] >= 3600


def test_empty_store_is_NO_BACKUPS(store: StoreUnderTest, tmp_path: Path) -> None:
    store.put("notes.txt", b"not a backup")
    r = run_verify(write_config(tmp_path, store))
    assert r.rc == 1, r
    assert r.codes == {"NO_BACKUPS"}


# -- the store cannot be read: exit 3, never "no backups" -----------------------------------
def test_missing_directory_is_STORE_UNREACHABLE(tmp_path: Path) -> None:
    r = run_verify(write_config(tmp_path, url=f"file://{tmp_path}/not-mounted/"))
    assert r.rc == 3, r
    assert r.codes == {"STORE_UNREACHABLE"}
    assert r.finding("STORE_UNREACHABLE")["outcome"] == "unverified"


def test_missing_bucket_is_STORE_UNREACHABLE(aws: Any, tmp_path: Path) -> None:
    store = S3TestStore(aws, bucket="no-such-bucket")  # never created
    r = run_verify(write_config(tmp_path, store))
    assert r.rc == 3, r
    assert r.codes == {"STORE_UNREACHABLE"}
    assert "NoSuchBucket" in r.finding("STORE_UNREACHABLE")["message"]


def test_endpoint_with_nothing_listening_is_STORE_UNREACHABLE(aws: Any, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write_config(tmp_path, url="s3://acme-backups/pg/",
                       extra_toml=f'[aws]\nendpoint_url = "http://127.0.0.1:{port}"\n')
    r = run_verify(cfg)
    assert r.rc == 3, r
    assert r.codes == {"STORE_UNREACHABLE"}


# -- damaged archives -----------------------------------------------------------------------
def test_truncated_dump_is_ARCHIVE_TRUNCATED(store: StoreUnderTest, tmp_path: Path,
                                             dump: bytes) -> None:
    # No manifest: only reading every data block can tell (the TOC at the start is intact).
    store.put(KEY, dump[: len(dump) - 200])
    r = run_verify(write_config(tmp_path, store))
    assert r.rc == 1, r
    assert "ARCHIVE_TRUNCATED" in r.codes
    assert "BACKUP_OK" not in r.codes


def test_truncated_dump_with_manifest_is_ARCHIVE_TRUNCATED_by_size(
        file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put(KEY, dump[:-10], manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, file_store))
    assert r.rc == 1, r
    ev = r.finding("ARCHIVE_TRUNCATED")["evidence"]
    assert ev["manifest_size"] - ev["size"] == 10


def test_bit_flipped_dump_is_CHECKSUM_MISMATCH(store: StoreUnderTest, tmp_path: Path,
                                               dump: bytes) -> None:
    flipped = bytearray(dump)
    flipped[len(dump) // 2] ^= 0x01
    store.put(KEY, bytes(flipped), manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, store))
    assert r.rc == 1, r
    mismatch = r.finding("CHECKSUM_MISMATCH")
    assert mismatch["evidence"]["manifest_sha256"] != mismatch["evidence"]["sha256"]


def test_bytes_changed_in_s3_after_upload_is_CHECKSUM_MISMATCH(
        s3_store: S3TestStore, tmp_path: Path, dump: bytes) -> None:
    s3_store.put(KEY, dump)  # no manifest: the S3 ChecksumSHA256 is the only reference
    flipped = bytearray(dump)
    flipped[100] ^= 0x01
    s3_store.tamper(KEY, bytes(flipped))
    r = run_verify(write_config(tmp_path, s3_store))
    assert r.rc == 1, r
    assert "s3_sha256" in r.finding("CHECKSUM_MISMATCH")["evidence"]


def test_garbage_named_dump_is_ARCHIVE_UNREADABLE(store: StoreUnderTest, tmp_path: Path) -> None:
    garbage = os.urandom(4096)
    store.put(KEY, garbage, manifest=manifest_bytes(garbage))
    r = run_verify(write_config(tmp_path, store))
    assert r.rc == 1, r
    assert r.codes == {"ARCHIVE_UNREADABLE"}


def test_invalid_manifest_is_MANIFEST_INVALID(file_store: FileTestStore, tmp_path: Path,
                                              dump: bytes) -> None:
    file_store.put(KEY, dump, manifest=b'{"sha256": "nope"}')
    r = run_verify(write_config(tmp_path, file_store))
    assert r.rc == 1, r
    assert r.codes - {"SHAPE_NOT_COMPARED"} == {"MANIFEST_INVALID"}


def test_all_reads_every_backup(file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put("shop-1.dump", dump[:-300])
    file_store.set_age("shop-1.dump", 3600)
    file_store.put("shop-2.dump", dump, manifest=manifest_bytes(dump))
    cfg = write_config(tmp_path, file_store)
    assert run_verify(cfg).rc == 0  # by default only the newest is read to the end
    r = run_verify(cfg, "--all")
    assert r.rc == 1, r
    assert r.finding("ARCHIVE_TRUNCATED")["evidence"]["key"] == "shop-1.dump"


# -- encryption -----------------------------------------------------------------------------
def test_plaintext_where_age_required_is_ENCRYPTION_MISSING(
        store: StoreUnderTest, tmp_path: Path, dump: bytes, identity: Any) -> None:
    store.put(KEY, dump, manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, store, encryption="age",
                                recipients=[str(identity.to_public())]))
    assert r.rc == 1, r
    assert r.finding("ENCRYPTION_MISSING")["evidence"]["keys"] == [KEY]


def test_age_encrypted_backup_is_decrypted_and_read(
        file_store: FileTestStore, tmp_path: Path, dump: bytes, identity: Any) -> None:
    enc = age_encrypt(dump, identity)
    assert enc.startswith(AGE_MAGIC)
    file_store.put(KEY + ".age", enc, manifest=manifest_bytes(enc, database="bv_shop"))
    cfg = write_config(tmp_path, file_store, encryption="age", identity="env:BV_AGE_IDENTITY")
    r = run_verify(cfg, env={"BV_AGE_IDENTITY": str(identity)})
    assert r.rc == 0, r
    assert r.finding("BACKUP_OK")["evidence"]["table_data_entries"] == 2


def test_age_identity_never_reaches_output_or_journal(
        file_store: FileTestStore, tmp_path: Path, dump: bytes, identity: Any) -> None:
    enc = age_encrypt(dump, identity)
    file_store.put(KEY + ".age", enc)
    cfg = write_config(tmp_path, file_store, encryption="age", identity="env:BV_AGE_IDENTITY")
    secret = str(identity)
    r = run_verify(cfg, env={"BV_AGE_IDENTITY": secret}, json_out=False)
    assert r.rc == 0, r
    written = [p.read_text() for p in (tmp_path / ".breakglass").rglob("*") if p.is_file()]
    assert written
    for text in (r.stdout, r.stderr, *written):
        assert secret not in text
        assert secret[15:40] not in text


def test_encrypted_backup_without_identity_is_ARCHIVE_NOT_CHECKED(
        file_store: FileTestStore, tmp_path: Path, dump: bytes, identity: Any) -> None:
    enc = age_encrypt(dump, identity)
    file_store.put(KEY + ".age", enc, manifest=manifest_bytes(enc, database="bv_shop"))
    r = run_verify(write_config(tmp_path, file_store, encryption="age",
                                recipients=[str(identity.to_public())]))
    assert r.rc == 3, r
    nc = r.finding("ARCHIVE_NOT_CHECKED")
    assert nc["outcome"] == "unverified"
    assert "identity" in nc["action"]


def test_unresolvable_identity_ref_is_ARCHIVE_NOT_CHECKED(
        file_store: FileTestStore, tmp_path: Path, dump: bytes, identity: Any) -> None:
    file_store.put(KEY + ".age", age_encrypt(dump, identity))
    cfg = write_config(tmp_path, file_store, encryption="age", identity="env:BV_UNSET_IDENTITY")
    r = run_verify(cfg)
    assert r.rc == 3, r
    assert "BV_UNSET_IDENTITY" in r.finding("ARCHIVE_NOT_CHECKED")["message"]


def test_backup_for_other_recipients_is_DECRYPT_FAILED(
        file_store: FileTestStore, tmp_path: Path, dump: bytes, identity: Any) -> None:
    other = pyrage.x25519.Identity.generate()
    file_store.put(KEY + ".age", age_encrypt(dump, other))
    cfg = write_config(tmp_path, file_store, encryption="age", identity="env:BV_AGE_IDENTITY")
    r = run_verify(cfg, env={"BV_AGE_IDENTITY": str(identity)})
    assert r.rc == 1, r
    assert "DECRYPT_FAILED" in r.codes


def test_unencrypted_s3_object_where_sse_required_is_ENCRYPTION_MISSING(
        s3_store: S3TestStore, tmp_path: Path, dump: bytes) -> None:
    s3_store.put(KEY, dump, manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, s3_store, encryption="sse-kms"))
    assert r.rc == 1, r
    assert r.finding("ENCRYPTION_MISSING")["evidence"]["keys"] == [KEY]


def test_sse_s3_by_bucket_default_passes(s3_store: S3TestStore, tmp_path: Path,
                                         dump: bytes) -> None:
    s3_store.s3.put_bucket_encryption(Bucket=s3_store.bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3_store.put(KEY, dump, manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, s3_store, encryption="sse-s3"))
    assert r.rc == 0, r


# -- retention ------------------------------------------------------------------------------
def test_lifecycle_shorter_than_retention_is_RETENTION_SHORT(
        s3_store: S3TestStore, tmp_path: Path, dump: bytes) -> None:
    s3_store.s3.put_bucket_lifecycle_configuration(
        Bucket=s3_store.bucket, LifecycleConfiguration={"Rules": [{
            "ID": "expire-pg", "Status": "Enabled", "Filter": {"Prefix": "pg/"},
            "Expiration": {"Days": 3}}]})
    s3_store.put(KEY, dump, manifest=manifest_bytes(dump))
    r = run_verify(write_config(tmp_path, s3_store, retention_days=35))
    assert r.rc == 1, r
    ev = r.finding("RETENTION_SHORT")["evidence"]
    assert (ev["lifecycle_days"], ev["retention_days"]) == (3, 35)


def test_lifecycle_for_another_prefix_is_ignored(s3_store: S3TestStore, tmp_path: Path,
                                                 dump: bytes) -> None:
    s3_store.s3.put_bucket_lifecycle_configuration(
        Bucket=s3_store.bucket, LifecycleConfiguration={"Rules": [{
            "ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
            "Expiration": {"Days": 1}}]})
    s3_store.put(KEY, dump, manifest=manifest_bytes(dump))
    assert run_verify(write_config(tmp_path, s3_store, retention_days=35)).rc == 0


def test_backup_deleted_inside_retention_is_RETENTION_SHORT_next_run(
        file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put("shop-old.dump", dump)
    file_store.set_age("shop-old.dump", 2 * 86400)
    file_store.put("shop-new.dump", dump)
    cfg = write_config(tmp_path, file_store, retention_days=7)
    first = run_verify(cfg)
    assert first.rc == 0, first  # a new setup: young backups only, no finding
    (file_store.root / "shop-old.dump").unlink()  # something deletes a 2-day-old backup
    r = run_verify(cfg)
    assert r.rc == 1, r
    assert r.finding("RETENTION_SHORT")["evidence"]["key"] == "shop-old.dump"


def test_renamed_backup_is_not_RETENTION_SHORT(file_store: FileTestStore, tmp_path: Path,
                                               dump: bytes) -> None:
    file_store.put("shop-old.dump", dump)
    file_store.set_age("shop-old.dump", 2 * 86400)
    cfg = write_config(tmp_path, file_store, retention_days=7, max_age="3d")
    assert run_verify(cfg).rc == 0
    (file_store.root / "shop-old.dump").rename(file_store.root / "shop-2d.dump")  # keeps mtime
    r = run_verify(cfg)
    assert r.rc == 0, r


# -- CLI ------------------------------------------------------------------------------------
def test_unknown_backup_name_exits_2(file_store: FileTestStore, tmp_path: Path) -> None:
    r = run_verify(write_config(tmp_path, file_store), "--backup", "nope")
    assert r.rc == 2, r
    assert "--backup 'nope': no [backups.nope]" in r.stderr
    assert "Traceback" not in r.stderr


def test_backup_names_the_target(file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put(KEY, dump)
    r = run_verify(write_config(tmp_path, file_store), "--backup", "shop")
    assert r.rc == 0, r
    assert r.doc["target"] == "shop"


def test_the_old_only_spelling_still_works_with_a_one_line_note(
        file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put(KEY, dump)
    r = run_verify(write_config(tmp_path, file_store), "--only", "shop")
    assert r.rc == 0, r
    assert r.doc["target"] == "shop"
    notes = [ln for ln in r.stderr.splitlines() if "--only" in ln]
    assert len(notes) == 1 and "--only is now --backup" in notes[0], r.stderr
    both = run_verify(write_config(tmp_path, file_store), "--only", "shop", "--backup", "shop")
    assert both.rc == 2 and "give --backup only" in both.stderr, both


def test_people_get_a_table_with_the_code_and_verdict(
        file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put(KEY, dump[:-200])
    r = run_verify(write_config(tmp_path, file_store), json_out=False)
    assert r.rc == 1, r
    assert "ARCHIVE_TRUNCATED" in r.stdout
    assert "failed (exit 1)" in r.stdout


def test_temporary_copies_are_removed(file_store: FileTestStore, tmp_path: Path,
                                      dump: bytes, identity: Any) -> None:
    file_store.put(KEY + ".age", age_encrypt(dump, identity))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    cfg = write_config(tmp_path, file_store, encryption="age", identity="env:BV_AGE_IDENTITY")
    r = run_verify(cfg, env={"BV_AGE_IDENTITY": str(identity), "TMPDIR": str(tmpdir)})
    assert r.rc == 0, r
    assert list(tmpdir.iterdir()) == []


# -- PostgreSQL binaries --------------------------------------------------------------------
def test_newest_pg_restore_is_chosen_and_a_missing_major_cannot_verify() -> None:
    from breakglass.connectors import pgbin
    from breakglass.errors import CouldNotVerify

    majors = [i.major for i in pgbin.installations()]
    assert majors == sorted(majors, reverse=True) and 18 in majors
    assert pgbin.find("pg_restore") == pgbin.find("pg_restore", major=majors[0])
    with pytest.raises(CouldNotVerify):
        pgbin.find("pg_restore", major=9)


def test_dump_from_a_newer_server_is_read(pg_server_factory: Any, file_store: FileTestStore,
                                          tmp_path: Path) -> None:
    import psycopg

    pg18 = pg_server_factory.start(18)
    with psycopg.connect(pg18.create_database("bv_new")) as conn:
        conn.execute("create table t (id int)")
    out = subprocess.run([str(pg18.bin_dir / "pg_dump"), "-Fc", "-d", "bv_new"],
                         env={**os.environ, **pg18.env()}, capture_output=True, check=True)
    file_store.put(KEY, out.stdout, manifest=manifest_bytes(out.stdout, server_version="18"))
    r = run_verify(write_config(tmp_path, file_store))
    assert r.rc == 0, r
    assert r.finding("BACKUP_OK")["evidence"]["dumped_from"].startswith("18.")


# -- advice that names the way out, numbers for machines -----------------------------------
def test_a_truncated_encrypted_backup_names_the_newest_backup_that_still_verifies(
        file_store: FileTestStore, tmp_path: Path, dump: bytes, identity: Any) -> None:
    good, older, newest = ("shop-20240429T0300Z.dump.age", "shop-20240430T0300Z.dump.age",
                           "shop-20240501T0300Z.dump.age")
    whole = age_encrypt(dump, identity)
    file_store.put(good, whole)
    file_store.put(older, whole[: len(whole) // 3])
    file_store.put(newest, whole[: len(whole) // 2])
    for key, age in ((good, 3 * 3600), (older, 2 * 3600), (newest, 3600)):
        file_store.set_age(key, age)
    cfg = write_config(tmp_path, file_store, encryption="age", identity="env:BV_AGE_IDENTITY")
    r = run_verify(cfg, env={"BV_AGE_IDENTITY": str(identity)})
    assert r.rc == 1, r
    (damaged,) = [f for f in r.findings if f["outcome"] == "failed"]
    # Cut short inside age's authenticated stream: damaged data, not a wrong identity, and not
    # "take a new backup with pg_dump -Fc" (it is one).
    assert damaged["code"] == "ARCHIVE_DAMAGED", damaged
    assert newest in damaged["message"]
    assert "recipients" not in damaged["action"] and "pg_dump -Fc" not in damaged["action"]
    assert f"the newest backup that still verifies is {good}" in damaged["action"]
    assert f"`breakglass drill.restore --archive {good}`" in damaged["action"]
    assert damaged["evidence"]["last_good_backup"] == good
    (measured,) = r.doc["measures"]
    assert measured["subject"] == "backups.shop" and measured["key"] is None


def test_verify_measures_the_newest_backups_age_and_size_as_numbers(
        file_store: FileTestStore, tmp_path: Path, dump: bytes) -> None:
    file_store.put(KEY, dump)
    file_store.set_age(KEY, 7200)
    r = run_verify(write_config(tmp_path, file_store))
    assert r.rc == 0, r
    assert r.finding("BACKUP_OK")["outcome"] == "ok"
    (m,) = r.doc["measures"]
    assert m["key"] == KEY and m["bytes"] == len(dump)
    assert 7200 <= m["rpo_seconds"] < 7200 + 120 and m["rpo_target_seconds"] == 26 * 3600


# -- progress ---------------------------------------------------------------------------------
def test_every_phase_of_a_verify_is_shown_in_a_log(
        file_store: FileTestStore, tmp_path: Path, dump: bytes, identity: Any) -> None:
    """Piped (a cron log), with a heartbeat line per report: listing the store, the download
    in bytes, decrypting, reading the archive and comparing it are each named while they run;
    with --json they go to stderr and stdout stays one JSON document."""
    import re

    enc = age_encrypt(dump, identity)
    file_store.put(KEY + ".age", enc, manifest=manifest_bytes(enc, database="bv_shop"))
    cfg = write_config(tmp_path, file_store, encryption="age", identity="env:BV_AGE_IDENTITY")
    r = run_verify(cfg, env={"BV_AGE_IDENTITY": str(identity), "BREAKGLASS_HEARTBEAT": "0"})
    assert r.rc == 0 and r.doc["status"] == "passed", r
    beats = [ln for ln in r.stderr.splitlines() if ln.startswith("backup.verify: backups.shop ")]
    log = "\n".join(beats)
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    assert f"list {file_store.url}" in log, log
    assert "1/1 backups' first bytes read (age or not)" in log, log
    assert re.search(rf"download {re.escape(KEY)}\.age \d+(\.\d)? KB of \d+(\.\d)? KB", log), log
    for phase in (f"read the manifest of {KEY}.age", "decrypt the backup (age)",
                  "read the archive to the end (pg_restore --list)",
                  f"compare {KEY}.age with its manifest, earlier backups and the database"):
        assert phase in log, (phase, log)
    assert log.index("decrypt the backup") < log.index("read the archive to the end"), log
