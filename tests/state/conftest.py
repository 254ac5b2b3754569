"""Fixtures for the shared-state tests: S3 (moto, one request at a time) behind a fault proxy,
a fresh bucket per test, and two "machines" sharing it.

``serial_moto`` (session)   SerialMoto (tests/state/s3servers.py)
``s3proxy`` (session)       the FaultProxy in front of it; ``faults`` (function) clears it
``bucket`` (function)       a fresh bucket on moto: ``name``, ``url`` (s3://NAME/team/),
                            ``client`` (boto3 straight to moto, no retries: the independent
                            reader every test checks the end state with)
``machines`` (function)     (a, b): two project folders, each with its own state_dir, HOME and
                            host name (a UTS namespace: the lease holder names its machine),
                            one shared marker folder (the system the test runbook changes), the
                            same `[project] state` and `lease_ttl = "3s"`, `[aws] endpoint_url`
                            at the proxy. Commands run the real CLI through
                            tests/engine/driver.py (the `markers` test runbook).
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from breakglass.engine import journal as jr
from tests.cli_project import CliProject
from tests.servers.moto import REGION, MotoServer
from tests.state.s3servers import FaultProxy, SerialMoto

DRIVER = Path(__file__).resolve().parents[1] / "engine" / "driver.py"
PREFIX = "team/"


@pytest.fixture(scope="session")
def serial_moto() -> Iterator[SerialMoto]:
    server = SerialMoto()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3proxy(serial_moto: SerialMoto) -> Iterator[FaultProxy]:
    proxy = FaultProxy(serial_moto.endpoint_url.removeprefix("http://"))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def faults(s3proxy: FaultProxy) -> FaultProxy:
    s3proxy.clear()
    return s3proxy


@dataclass
class StateBucket:
    name: str
    client: Any

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{PREFIX}"

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=PREFIX + key)["Body"].read())

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=PREFIX + key, Body=body)

    def keys(self, sub: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=PREFIX + sub)
        return [o["Key"][len(PREFIX):] for p in pages for o in p.get("Contents", ())]

    def run_ids(self) -> list[str]:
        return sorted(k[len("runs/"):-len(".jsonl")] for k in self.keys("runs/")
                      if k.endswith(".jsonl"))

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.get(f"runs/{run_id}.jsonl").splitlines()]

    def versioned(self) -> None:
        self.client.put_bucket_versioning(Bucket=self.name,
                                          VersioningConfiguration={"Status": "Enabled"})


def chain_problems(body: bytes, where: Path) -> list[str]:
    """What breakglass.engine.journal.verify says of `body` as a whole journal (S3 replaces the
    object at once, so its last event is its head)."""
    path = where / "check.jsonl"
    path.write_bytes(body)
    lines = body.splitlines()
    if lines:
        last = json.loads(lines[-1])
        jr.head_path(path).write_text(jr.canonical({"seq": last["seq"], "hash": last["hash"]}))
    else:
        jr.head_path(path).unlink(missing_ok=True)
    return jr.verify(path)


@pytest.fixture
def bucket(serial_moto: SerialMoto) -> StateBucket:
    client = MotoServer(serial_moto.endpoint_url).client("s3")
    name = f"state-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name)
    return StateBucket(name, client)


@dataclass
class Machine(CliProject):
    host: str = field(default="", kw_only=True)
    markers: Path = field(default=Path(), kw_only=True)

    def write(self, state_url: str, endpoint_url: str, lease_ttl: str = "3s") -> None:
        (self.root / "home").mkdir(exist_ok=True, mode=0o700)
        self.config.write_text(
            f'[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n'
            f'state = "{state_url}"\nlease_ttl = "{lease_ttl}"\n\n'
            f'[aws]\nendpoint_url = "{endpoint_url}"\nregion = "{REGION}"\n')

    def add_owner(self) -> None:
        """alice owns the test runbooks' responsibility (else the owner check is a finding of
        every read-only run); her notices go to a closed port (a failed notice is not fatal)."""
        self.config.write_text(self.config.read_text() + (
            '\n[owners]\nincident_response = ["alice"]\n\n'
            '[people.alice]\nnotify = ["json://127.0.0.1:9/"]\n'))

    def env(self, **more: str) -> dict[str, str]:
        return super().env(HOME=str(self.root / "home"), **more)

    def argv(self, *args: str) -> list[str]:
        # Its own host name, in a new UTS namespace (root, as in CI): the lease holder names
        # its machine, and a holder on another host is never checked by pid. unshare and sh
        # exec, so the pid is the breakglass process's.
        return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.host,
                sys.executable, str(DRIVER), *args, "--config", str(self.config)]

    def markers_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("markers", "--dir", str(self.markers), "--yes", *args)

    def start_paused(self, pause: str, *args: str) -> subprocess.Popen[str]:
        """A `markers --yes` run stopped at the test runbook's pause point `pause` (it waits
        there to be killed)."""
        self.pause_file.unlink(missing_ok=True)
        proc = subprocess.Popen(
            self.argv("markers", "--dir", str(self.markers), "--yes", "--pause", pause,
                      "--pause-file", str(self.pause_file), *args),
            env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.started.append(proc)
        deadline = time.monotonic() + 60
        while not self.pause_file.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"run ended ({proc.returncode}) before {pause}:\n{out}{err}")
            assert time.monotonic() < deadline, f"never paused at {pause}"
            time.sleep(0.05)
        return proc

    def kill(self, proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        self.outputs["killed"] = out + err

    def local_runs(self) -> list[str]:
        return sorted(p.stem for p in (self.state / "runs").glob("*.jsonl"))

    def applied(self) -> list[str]:
        log = self.markers / "applied.log"
        return log.read_text().split() if log.exists() else []

    def list_json(self) -> dict[str, str]:
        """run id -> status, as `runs.list --json` shows them on this machine."""
        r = self.run("runs.list", "--json")
        assert r.returncode == 0, r.stderr
        return {row["run_id"]: row["status"] for row in json.loads(r.stdout)["runs"]}


@pytest.fixture
def machines(tmp_path: Path, bucket: StateBucket, faults: FaultProxy
             ) -> Iterator[tuple[Machine, Machine]]:
    markers = tmp_path / "markers"
    markers.mkdir()
    pair = []
    for host in ("machine-a", "machine-b"):
        root = tmp_path / host
        root.mkdir()
        m = Machine(root, host=host, markers=markers)
        m.write(bucket.url, faults.endpoint_url)
        pair.append(m)
    a, b = pair
    yield a, b
    for m in pair:
        m.stop_started()


def one_line(text: str) -> str:
    """The single line a refused command prints (asserting there is exactly one)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll `check` until true; a timeout is a test failure, never a measured assertion."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.2)
