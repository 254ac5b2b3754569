"""`breakglass doctor` against real servers: PostgreSQL, sshd, moto (S3 state) and an HTTP sink
(the notice channel). One line per thing; exit 0 when all answer, 1 when something is wrong,
3 when something cannot be reached. Each failure is checked with an independent client where
doctor could have changed something (known_hosts, the S3 marker, the sink's requests)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.result_schema import check_output
from tests.servers.postgres import PostgresServer
from tests.servers.sinks import HttpSink
from tests.servers.sshd import SshdServer

BUCKET = "bg-doctor-state"


@dataclass
class Setup:
    """A config whose every part answers; a test breaks one part, then runs doctor."""

    root: Path
    pg: PostgresServer
    sshd: SshdServer
    sink: HttpSink
    aws: Any
    values: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        store = self.root / "store"
        store.mkdir()
        (store / "20261201T030000Z-main.dump").write_bytes(b"PGDMP")
        self.aws.client("s3").create_bucket(Bucket=BUCKET)
        self.values = {
            "endpoint": self.aws.endpoint_url, "store": f"file://{store}/",
            "state": f"s3://{BUCKET}/bg/", "address": self.sshd.host,
            "port": str(self.sshd.port), "user": self.sshd.user,
            "key": str(self.sshd.key_path), "known_hosts": str(self.sshd.known_hosts),
            "notify": self.sink.apprise_url,
        }
        self.env = {**self.aws.env(), "BG_DOCTOR_DSN": self.pg.dsn()}

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        config = self.root / "breakglass.toml"
        config.write_text(CONFIG.format(**self.values))
        base = {k: v for k, v in os.environ.items() if k != "BG_DOCTOR_DSN"}
        r = subprocess.run([sys.executable, "-m", "breakglass", "doctor", "--config",
                            str(config), *extra], capture_output=True, text=True,
                           env={**base, **self.env}, timeout=120, check=False)
        check_output(extra, r.returncode, r.stdout)
        return r


CONFIG = """
[project]
name = "acme"
environment = "production"
state_dir = "state"
state = "{state}"
[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
[owners]
backup_restore = ["bob"]
[people.bob]
notify = ["{notify}"]
[databases.main]
dsn = "env:BG_DOCTOR_DSN"
[backups.main]
store = "{store}"
database = "main"
encryption = "none"
[hosts.web1]
address = "{address}"
port = {port}
user = "{user}"
key = "file:{key}"
known_hosts = "{known_hosts}"
"""


@pytest.fixture
def setup(tmp_path: Path, pg_server: PostgresServer, sshd_server: SshdServer,
          http_sink: HttpSink, aws: Any) -> Setup:
    http_sink.clear()
    return Setup(tmp_path, pg_server, sshd_server, http_sink, aws)


def line(result: subprocess.CompletedProcess[str], kind: str, name: str) -> str:
    found = [ln for ln in result.stdout.splitlines() if f" {kind} {name}: " in ln]
    assert len(found) == 1, result.stdout + result.stderr
    return found[0]


def test_everything_answering_is_exit_0_with_one_ok_line_per_thing(setup: Setup) -> None:
    result = setup.run()
    assert result.returncode == 0, result.stdout + result.stderr
    for kind, name in [("secret", "databases.main.dsn"), ("secret", "hosts.web1.key"),
                       ("database", "main"), ("store", "main"), ("host", "web1"),
                       ("state", f"s3://{BUCKET}/bg/")]:
        assert line(result, kind, name).startswith("ok "), result.stdout
    assert "pg_dump" in line(result, "database", "main")
    assert "1 backup(s), the newest 20261201T030000Z-main.dump" in line(result, "store", "main")
    assert setup.pg.password not in result.stdout + result.stderr
    # The test notice arrived (the sink's own record) and the marker is there (boto3).
    assert any(b"test notice" in r.decoded for r in setup.sink.requests)
    keys = [o["Key"] for o in setup.aws.client("s3").list_objects_v2(
        Bucket=BUCKET, Prefix="bg/").get("Contents", [])]
    assert "bg/breakglass-state.json" in keys


def test_json_carries_the_same_lines(setup: Setup) -> None:
    import json

    result = setup.run("--json")
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == result.returncode == 0
    assert {(c["kind"], c["status"]) for c in doc["checks"]} >= {
        ("database", "ok"), ("store", "ok"), ("host", "ok"), ("state", "ok"), ("notice", "ok")}


def test_a_database_that_is_down_is_exit_3(setup: Setup) -> None:
    setup.env["BG_DOCTOR_DSN"] = (f"postgresql://u:pw@127.0.0.1:{setup.sink.down_port}/app")
    result = setup.run()
    assert result.returncode == 3, result.stdout + result.stderr
    assert line(result, "database", "main").startswith("?? ")
    assert "cannot connect to PostgreSQL" in line(result, "database", "main")
    assert line(result, "host", "web1").startswith("ok ")  # the others are still checked


def test_a_refused_database_password_is_exit_3_without_the_password(setup: Setup) -> None:
    setup.env["BG_DOCTOR_DSN"] = setup.pg.dsn().replace(setup.pg.password, "Wr0ng-canary-pw")
    result = setup.run()
    assert result.returncode == 3, result.stdout + result.stderr
    assert line(result, "database", "main").startswith("?? ")
    assert "Wr0ng-canary-pw" not in result.stdout + result.stderr


def test_a_role_that_cannot_read_a_table_is_exit_1(setup: Setup) -> None:
    import uuid

    import psycopg
    from psycopg import sql

    db, role = f"doctor_{uuid.uuid4().hex[:8]}", f"reader_{uuid.uuid4().hex[:8]}"
    dsn = setup.pg.create_database(db)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table invoices (id int)")
        conn.execute(sql.SQL("create role {} login password {}").format(
            sql.Identifier(role), sql.Literal("Reader-pw-1")))
    setup.env["BG_DOCTOR_DSN"] = (f"postgresql://{role}:Reader-pw-1@{setup.pg.host}:"
                                  f"{setup.pg.port}/{db}")
    result = setup.run()
    assert result.returncode == 1, result.stdout + result.stderr
    assert line(result, "database", "main").startswith("FAIL ")
    assert "permission denied for table invoices" in line(result, "database", "main")
    assert "Reader-pw-1" not in result.stdout + result.stderr


def test_an_unset_secret_reference_is_exit_1(setup: Setup) -> None:
    del setup.env["BG_DOCTOR_DSN"]
    result = setup.run()
    assert result.returncode == 1, result.stdout + result.stderr
    assert line(result, "secret", "databases.main.dsn").startswith("FAIL ")
    assert "BG_DOCTOR_DSN is not set" in line(result, "secret", "databases.main.dsn")


def test_a_store_that_does_not_exist_is_exit_3(setup: Setup) -> None:
    setup.values["store"] = f"file://{setup.root}/unmounted/"
    result = setup.run()
    assert result.returncode == 3, result.stdout + result.stderr
    assert line(result, "store", "main").startswith("?? ")
    assert "does not exist" in line(result, "store", "main")


def test_a_host_that_is_down_is_exit_3(setup: Setup) -> None:
    setup.values["port"] = str(setup.sink.down_port)
    result = setup.run()
    assert result.returncode == 3, result.stdout + result.stderr
    assert line(result, "host", "web1").startswith("?? ")
    assert "cannot connect" in line(result, "host", "web1")


def test_an_unknown_host_key_is_refused_and_never_added(setup: Setup) -> None:
    empty = setup.root / "known_hosts"
    empty.write_text("")
    setup.values["known_hosts"] = str(empty)
    result = setup.run()
    assert result.returncode == 3, result.stdout + result.stderr
    assert "is not in" in line(result, "host", "web1")
    assert empty.read_text() == ""


def test_a_key_the_host_refuses_is_exit_3(setup: Setup, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    setup.values["key"] = str(other)
    result = setup.run()
    assert result.returncode == 3, result.stdout + result.stderr
    assert "login refused" in line(result, "host", "web1")


def test_a_state_bucket_that_does_not_exist_is_exit_1(setup: Setup) -> None:
    setup.values["state"] = "s3://bg-doctor-no-such-bucket/bg/"
    result = setup.run()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "does not exist" in line(result, "state", "s3://bg-doctor-no-such-bucket/bg/")


def test_a_state_prefix_holding_other_objects_is_exit_1_and_left_alone(setup: Setup) -> None:
    s3 = setup.aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key="bg/someone-else.txt", Body=b"x")
    result = setup.run()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "holds other objects" in line(result, "state", f"s3://{BUCKET}/bg/")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="bg/")["Contents"]]
    assert keys == ["bg/someone-else.txt"]


def test_unreachable_s3_state_is_exit_3(setup: Setup) -> None:
    setup.values["endpoint"] = setup.sink.down_url.rstrip("/")
    setup.env["AWS_ENDPOINT_URL"] = setup.values["endpoint"]
    result = setup.run()
    assert result.returncode == 3, result.stdout + result.stderr
    assert line(result, "state", f"s3://{BUCKET}/bg/").startswith("?? ")


def test_a_notice_channel_that_refuses_is_exit_1(setup: Setup) -> None:
    setup.values["notify"] = setup.sink.apprise_url_status(500)
    result = setup.run()
    assert result.returncode == 1, result.stdout + result.stderr
    notice = [ln for ln in result.stdout.splitlines() if " notice bob " in ln]
    assert len(notice) == 1 and notice[0].startswith("FAIL "), result.stdout


def test_a_bad_config_is_exit_2_before_anything_is_contacted(setup: Setup) -> None:
    setup.values["port"] = "70000"
    result = setup.run()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "hosts.web1.port" in result.stderr
    assert setup.sink.requests == []
