"""AWS for tests: moto's server on a loopback port (S3, IAM, STS, Secrets Manager, SSM, RDS …).

Fixtures
--------
``moto_server`` (session)
    moto's ``ThreadedMotoServer`` in this process on 127.0.0.1:PORT. It accepts any
    credentials. Attributes: ``endpoint_url``, ``region`` ("us-east-1"), ``access_key_id`` /
    ``secret_access_key`` (dummies). Methods: ``client(name)`` -> boto3 client bound to the
    endpoint (S3 in path style, no retries so a failure shows at once); ``env()`` -> the
    AWS_* variables a subprocess (``breakglass …``) needs to reach the same server;
    ``reset()`` -> wipe all state.
``aws`` (function)
    ``moto_server`` after ``reset()``: every test starts from an empty account.
``moto_auth_server`` (session)
    A second moto server, in a subprocess, that *checks signatures and IAM policies*
    (``INITIAL_NO_AUTH_ACTION_COUNT=0``: moto reads it into a process-global setting, which is
    why this one cannot share our process with ``moto_server``). An unknown or deleted key is
    refused (InvalidClientTokenId / SignatureDoesNotMatch); a known one needs a policy. Known
    moto gap: an *Inactive* key is still accepted. Same attributes as ``moto_server``, plus
    ``allow_all()`` / ``enforce()`` to switch checking off and on.
``aws_auth`` (function)
    ``moto_auth_server`` reset, with an IAM user ``bg-admin`` holding an allow-all policy;
    yields ``AuthedMoto``: ``server``, ``admin`` (``AwsKey``), ``client(name, key=admin)``.
    Create further users/keys with the admin client; call with their key to prove it works.

Safety net: an autouse session fixture points AWS_* credentials and config files at dummies
for the whole test session, so code that forgets ``endpoint_url`` fails against real AWS with
a fake key instead of using a developer's real credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers._util import (
    LOOPBACK,
    ProcessBook,
    ServerStartError,
    private_tmpdir,
    remove_tree,
    retry_on_port_clash,
    teardown_on_sigterm,
    wait_until,
)

REGION = "us-east-1"
DUMMY_KEY = "testing"  # moto's documented dummy; never a real key id shape (AKIA…)


@dataclass(frozen=True)
class AwsKey:
    access_key_id: str
    secret_access_key: str


def _post(url: str, body: bytes = b"") -> bytes:
    # text/plain: with urllib's default form content type, Flask swallows the body into
    # request.form and moto's reset-auth handler reads an empty request.data.
    request = urllib.request.Request(  # noqa: S310 (our own loopback http endpoint)
        url, data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        data: bytes = response.read()
        return data


def _answers(endpoint_url: str) -> bool:
    with urllib.request.urlopen(f"{endpoint_url}/moto-api/data.json", timeout=2) as response:  # noqa: S310
        return bool(response.status == 200)


@dataclass
class MotoServer:
    endpoint_url: str
    region: str = REGION
    access_key_id: str = DUMMY_KEY
    secret_access_key: str = DUMMY_KEY

    def client(self, service_name: str, key: AwsKey | None = None, **kwargs: Any) -> Any:
        """A boto3 client for ``service_name`` on this server (``key`` defaults to the dummy)."""
        import boto3
        from botocore.config import Config

        key = key or AwsKey(self.access_key_id, self.secret_access_key)
        config = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            # Virtual-host addressing would put the bucket in front of 127.0.0.1.
            s3={"addressing_style": "path"},
        )
        return boto3.client(
            service_name,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=config,
            **kwargs,
        )

    def env(self, key: AwsKey | None = None) -> dict[str, str]:
        """AWS_* variables that send a subprocess's boto3 to this server."""
        key = key or AwsKey(self.access_key_id, self.secret_access_key)
        return {
            "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # Honoured by botocore >= 1.31 for every service (AWS SDK "service-specific
            # endpoints"); breakglass's own `[aws] endpoint_url` is the explicit path.
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def reset(self) -> None:
        """Delete every resource in every account/region of this server."""
        _post(f"{self.endpoint_url}/moto-api/reset")


@dataclass
class MotoAuthServer(MotoServer):
    """A moto server in a subprocess that enforces signatures and IAM policies."""

    base_dir: Path = field(default_factory=Path)
    _book: ProcessBook = field(default_factory=ProcessBook, repr=False)

    def allow_all(self) -> None:
        """Stop checking credentials (to bootstrap users after a reset)."""
        _post(f"{self.endpoint_url}/moto-api/reset-auth", b"inf")

    def enforce(self) -> None:
        """Check every request from now on."""
        _post(f"{self.endpoint_url}/moto-api/reset-auth", b"0")

    def close(self) -> None:
        self._book.stop_all()
        remove_tree(self.base_dir)


def start_moto_auth_server() -> MotoAuthServer:
    base = private_tmpdir("bg-moto-")
    log = base / "moto.log"
    book = ProcessBook()

    def start(port: int) -> MotoAuthServer:
        endpoint = f"http://{LOOPBACK}:{port}"
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0", "MOTO_PORT": str(port)}
        with log.open("ab") as sink:
            proc = book.add_popen(
                subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=base,
                    start_new_session=True,
                )
            )
        try:
            wait_until(lambda: _answers(endpoint), what="moto server (auth)", proc=proc, log=log)
        except ServerStartError:
            book.stop_all()
            raise
        return MotoAuthServer(endpoint_url=endpoint, base_dir=base, _book=book)

    try:
        return retry_on_port_clash(start)
    except BaseException:
        book.stop_all()
        remove_tree(base)
        raise


@dataclass(frozen=True)
class AuthedMoto:
    server: MotoAuthServer
    admin: AwsKey

    def client(self, service_name: str, key: AwsKey | None = None, **kwargs: Any) -> Any:
        return self.server.client(service_name, key or self.admin, **kwargs)


_ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def bootstrap_admin(server: MotoAuthServer, user: str = "bg-admin") -> AwsKey:
    """Create ``user`` with an allow-all policy and an access key, with checking paused."""
    server.allow_all()
    iam = server.client("iam")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="allow-all", PolicyDocument=_ALLOW_ALL)
    created = iam.create_access_key(UserName=user)["AccessKey"]
    server.enforce()
    return AwsKey(created["AccessKeyId"], created["SecretAccessKey"])


@pytest.fixture(scope="session", autouse=True)
def _no_real_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    empty = tmp_path_factory.mktemp("aws-config") / "none"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_KEY)
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    # Port 0: the kernel picks a free port at bind time, so there is no race to retry. (With a
    # taken port ThreadedMotoServer.start() would block forever: the bind error dies in its
    # thread and the "ready" event is never set.)
    teardown_on_sigterm()
    threaded = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    threaded.start()
    try:
        host, port = threaded.get_host_and_port()
        server = MotoServer(endpoint_url=f"http://{host}:{port}")
        wait_until(lambda: _answers(server.endpoint_url), what="moto server", timeout=5)
        yield server
    finally:
        threaded.stop()


@pytest.fixture
def aws(moto_server: MotoServer) -> MotoServer:
    moto_server.reset()
    return moto_server


@pytest.fixture(scope="session")
def moto_auth_server() -> Iterator[MotoAuthServer]:
    teardown_on_sigterm()
    server = start_moto_auth_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def aws_auth(moto_auth_server: MotoAuthServer) -> AuthedMoto:
    moto_auth_server.allow_all()
    moto_auth_server.reset()
    return AuthedMoto(moto_auth_server, bootstrap_admin(moto_auth_server))
