"""The test servers really answer, and really refuse what they must refuse: later tests trust
these fixtures to tell a working credential from a dead one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import paramiko
import psycopg
import pytest
import redis
from botocore.exceptions import ClientError
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.servers.moto import AuthedMoto, AwsKey, MotoServer
from tests.servers.postgres import PostgresFactory, PostgresServer
from tests.servers.redis import RedisFactory, RedisServer
from tests.servers.sshd import SshdFactory, SshdServer

# --- PostgreSQL ------------------------------------------------------------------------------


def test_postgres_answers_sql_with_the_superuser_password(pg_server: PostgresServer) -> None:
    with psycopg.connect(pg_server.dsn()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        version = conn.execute("show server_version_num").fetchone()
    assert version is not None and int(version[0]) // 10000 == pg_server.major == 16


def test_postgres_refuses_a_wrong_password(pg_server: PostgresServer) -> None:
    wrong = pg_server.dsn().replace(pg_server.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_postgres_unix_socket_also_requires_the_password(pg_server: PostgresServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            host=str(pg_server.socket_dir),
            port=pg_server.port,
            user=pg_server.superuser,
            password="not-the-password",
            dbname="postgres",
        )


def test_postgres_create_database_returns_a_working_dsn(pg_server: PostgresServer) -> None:
    dsn = pg_server.create_database("harness-db")  # a dash needs quoting: sql.Identifier
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select current_database()").fetchone()
    assert row == ("harness-db",)


def test_postgres_bundled_client_tools_run_with_env_password(pg_server: PostgresServer) -> None:
    done = subprocess.run(
        [str(pg_server.bin_dir / "psql"), "-tAc", "select 40 + 2"],
        env=pg_server.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "42"), done.stderr


def test_postgres_factory_gives_postgres_18(pg_server_factory: PostgresFactory) -> None:
    server = pg_server_factory.start(18)
    with psycopg.connect(server.dsn()) as conn:
        version = conn.execute("show server_version_num").fetchone()
    assert version is not None and int(version[0]) // 10000 == 18


# --- Redis -----------------------------------------------------------------------------------


def test_redis_answers_ping(redis_server: RedisServer) -> None:
    assert redis.Redis.from_url(redis_server.url).ping() is True


def test_redis_with_password_refuses_a_wrong_one(redis_server_factory: RedisFactory) -> None:
    server = redis_server_factory.start_with_random_password()
    assert redis.Redis.from_url(server.url).ping() is True
    # No retries: redis-py 8 retries a refused AUTH with backoff for ~5 s by default.
    no_retry = Retry(NoBackoff(), retries=0)
    wrong = redis.Redis(
        host=server.host, port=server.port, password="not-the-password", retry=no_retry
    )
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()


# --- OpenSSH ---------------------------------------------------------------------------------


def test_sshd_runs_a_command_over_a_verified_host_key(sshd_server: SshdServer) -> None:
    status, out, _ = sshd_server.run("echo ok; whoami")
    assert (status, out.split()) == (0, ["ok", sshd_server.user])


def test_sshd_sessions_get_the_hosts_own_home(sshd_server: SshdServer) -> None:
    status, out, _ = sshd_server.run('printf %s "$HOME"')
    assert (status, out) == (0, str(sshd_server.home))


def test_ssh_client_refuses_an_unknown_host_key(sshd_server: SshdServer) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())  # empty known_hosts
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(
            sshd_server.host,
            port=sshd_server.port,
            username=sshd_server.user,
            key_filename=str(sshd_server.key_path),
            look_for_keys=False,
            allow_agent=False,
        )
    client.close()


def test_sshd_refuses_a_key_it_does_not_authorise(sshd_server: SshdServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    stranger = paramiko.Ed25519Key.from_private_key_file(str(other))
    client = paramiko.SSHClient()
    client.load_host_keys(str(sshd_server.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(
            sshd_server.host,
            port=sshd_server.port,
            username=sshd_server.user,
            pkey=stranger,
            look_for_keys=False,
            allow_agent=False,
        )
    client.close()


def test_sshd_factory_starts_independent_hosts(sshd_factory: SshdFactory) -> None:
    hosts = sshd_factory.start(3)
    assert len({h.port for h in hosts}) == len({h.host_key for h in hosts}) == 3
    for host in hosts:
        host.run(f"echo {host.port} > ~/whoami-port")
    assert [(h.home / "whoami-port").read_text().strip() for h in hosts] == [
        str(h.port) for h in hosts
    ]


# --- AWS (moto) ------------------------------------------------------------------------------


def test_moto_s3_stores_and_returns_an_object(aws: MotoServer) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="harness")
    s3.put_object(Bucket="harness", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="harness", Key="a/b.txt")["Body"].read() == b"hello"


def test_aws_fixture_starts_each_test_from_empty_state(aws: MotoServer) -> None:
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_moto_env_points_a_default_boto3_client_at_the_server(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws.env().items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="via-env")
    assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == ["via-env"]


def test_moto_auth_server_accepts_the_bootstrapped_admin(aws_auth: AuthedMoto) -> None:
    arn = aws_auth.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith(":user/bg-admin")


def test_moto_auth_server_refuses_an_unknown_key(aws_auth: AuthedMoto) -> None:
    unknown = AwsKey("AKIAUNKNOWNUNKNOWN00", "not-a-secret")
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        aws_auth.client("sts", unknown).get_caller_identity()


def test_moto_auth_server_refuses_a_deleted_key(aws_auth: AuthedMoto) -> None:
    iam = aws_auth.client("iam")
    iam.create_user(UserName="app")
    created = iam.create_access_key(UserName="app")["AccessKey"]
    key = AwsKey(created["AccessKeyId"], created["SecretAccessKey"])
    iam.delete_access_key(UserName="app", AccessKeyId=key.access_key_id)
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        aws_auth.client("sts", key).get_caller_identity()
