"""Time to containment, measured (issue 15): the seconds from a command's start to the moment
the service refuses the credential, breakglass against the same steps by hand, same run.

    .venv/bin/python bench/containment.py [--repeat 5] [--only account,aws]

(a) A compromised account: `breakglass lockout EMAIL --yes` of a user of the real Django app
of the lockout tests (PostgreSQL, sessions in Redis), vs by hand: psycopg `UPDATE auth_user SET
is_active = false` + redis-py `DEL` of the session's key. Refused = the row is inactive AND the
session's key is gone, read by a thread with its own psycopg and redis connections.
(b) A leaked AWS key: `breakglass rotate KEY --leaked --yes` of an aws_iam_key on moto checking
signatures, vs by hand with boto3: `update-access-key --status Inactive` + `delete-access-key`
(moto still accepts an Inactive key, so it refuses the key only once it is deleted; on AWS the
first call alone would do). Refused = STS `GetCallerIdentity` with the leaked key fails, polled
by a thread.

Each round does one of each, alternating, on a fresh user/key. The steps by hand run as a
Python script of their own (psycopg + redis-py, or boto3), so both sides include a process
start, as `psql`/`redis-cli`/`aws` would. Prints the medians, the ratio ours/hand
(goal <= 1.5) and, for the account, when the first change landed. Exits 1 when a ratio is over
the goal.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import botocore.exceptions
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._faults.lab import Lab
from bench._faults.lockout import CACHE_KEY, LockoutProject, LockoutScenario
from bench._faults.rotate import ENTRY
from bench._faults.rotate_aws_iam_key import IamKeyScenario, IamProject
from tests.cli_project import CliProject
from tests.servers.moto import AwsKey

GOAL = 1.5
POLL = 0.005  # seconds between two probes of the service


class Watch(threading.Thread):
    """Probes the service from its own connections until every condition holds; `seen` has
    each one's seconds since `t0` (set by `begin`, right before the command starts)."""

    def __init__(self, checks: dict[str, Callable[[], bool]]) -> None:
        super().__init__(daemon=True)
        self.checks, self.seen = checks, dict[str, float]()
        self.t0 = 0.0
        self._go, self._halt = threading.Event(), threading.Event()
        self.start()

    def begin(self) -> float:
        self.t0 = time.perf_counter()
        self._go.set()
        return self.t0

    def run(self) -> None:
        self._go.wait()
        while not self._halt.is_set() and len(self.seen) < len(self.checks):
            for name, check in self.checks.items():
                if name not in self.seen and check():
                    self.seen[name] = time.perf_counter() - self.t0
            time.sleep(POLL)

    def finish(self, timeout: float = 60) -> dict[str, float]:
        self.join(timeout)
        self._halt.set()
        missing = set(self.checks) - set(self.seen)
        if missing:
            raise SystemExit(f"never seen: {', '.join(sorted(missing))}")
        return self.seen


#: the steps by hand: a script a person runs, its own process like `psql` or `aws` would be;
#: what it needs (DSNs, keys) comes on stdin, never in argv
HAND_ACCOUNT = """
import json, sys, psycopg, redis
a = json.load(sys.stdin)
with psycopg.connect(a["dsn"], autocommit=True) as conn:
    conn.execute("update auth_user set is_active = false where email = %s", [a["email"]])
redis.Redis.from_url(a["redis"]).delete(a["key"])
"""
HAND_KEY = """
import json, sys, boto3
a = json.load(sys.stdin)
iam = boto3.client("iam", endpoint_url=a["endpoint"], region_name=a["region"],
                   aws_access_key_id=a["admin"], aws_secret_access_key=a["admin_secret"])
iam.update_access_key(UserName=a["user"], AccessKeyId=a["key_id"], Status="Inactive")
iam.delete_access_key(UserName=a["user"], AccessKeyId=a["key_id"])
"""


def by_hand(script: str, given: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-c", script], input=json.dumps(given), text=True,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"the steps by hand failed:\n{r.stderr[-1500:]}")


def breakglass(proj: CliProject, *args: str) -> Callable[[], None]:
    """Starts `breakglass ARGS --yes`; the returned function waits for it and checks its exit."""
    child = subprocess.Popen(proj.argv(*args, "--yes"), env=proj.env(), text=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)

    def done() -> None:
        out, _ = child.communicate(timeout=120)
        if child.returncode != 0:
            raise SystemExit(f"`{' '.join(args)}` exited {child.returncode}:\n{out[-1500:]}")
    return done


# -- (a) a compromised account ------------------------------------------------------------------
class Account:
    def __init__(self, lab: Lab, work: Path) -> None:
        self.scenario = LockoutScenario(lab)
        work.mkdir(parents=True)
        proj = self.scenario.setup(work)
        assert isinstance(proj, LockoutProject) and proj.app is not None
        assert proj.store is not None
        self.proj, self.app, self.store = proj, proj.app, proj.store
        self.sql = psycopg.connect(self.app.dsn, autocommit=True)
        self.kv = redis.Redis.from_url(self.store.url, socket_timeout=5)

    def victim(self) -> tuple[str, str]:
        """A fresh user logged in: (email, the session's cache key)."""
        _, email, _ = self.app.signup(token=True)
        return email, CACHE_KEY.format(self.app.login(email))

    def watch(self, email: str, key: str) -> Watch:
        def disabled() -> bool:
            row = self.sql.execute("select is_active from auth_user where email = %s",
                                   [email]).fetchone()
            return row is not None and not row[0]
        return Watch({"first change": disabled,
                      "refused": lambda: disabled() and not self.kv.exists(key)})

    def ours(self) -> dict[str, float]:
        email, key = self.victim()
        watch = self.watch(email, key)
        watch.begin()
        breakglass(self.proj, "lockout", email, "--reason", "bench")()
        return watch.finish()

    def by_hand(self) -> dict[str, float]:
        email, key = self.victim()
        watch = self.watch(email, key)
        watch.begin()
        by_hand(HAND_ACCOUNT, {"dsn": self.app.dsn, "email": email, "redis": self.store.url,
                               "key": key})
        return watch.finish()

    def close(self) -> None:
        self.sql.close()
        self.scenario.teardown(self.proj)


# -- (b) a leaked AWS key -----------------------------------------------------------------------
class LeakedKey:
    def __init__(self, lab: Lab, work: Path) -> None:
        self.scenario, self.work, self.aws = IamKeyScenario(lab), work, lab.aws()
        self.n = 0

    def watch(self, key: AwsKey) -> Watch:
        sts = self.aws.client("sts", key)

        def refused() -> bool:
            try:
                sts.get_caller_identity()
            except botocore.exceptions.ClientError:
                return True
            return False
        return Watch({"refused": refused})

    def ours(self) -> dict[str, float]:
        self.n += 1
        (work := self.work / f"key{self.n}").mkdir(parents=True)
        proj = self.scenario.setup(work)
        assert isinstance(proj, IamProject) and proj.old is not None
        watch = self.watch(proj.old)
        watch.begin()
        breakglass(proj, "rotate", ENTRY, "--leaked")()
        return watch.finish()

    def by_hand(self) -> dict[str, float]:
        user = f"ci-hand-{secrets.token_hex(4)}"
        admin = self.aws.client("iam")
        admin.create_user(UserName=user)
        made = admin.create_access_key(UserName=user)["AccessKey"]
        watch = self.watch(AwsKey(made["AccessKeyId"], made["SecretAccessKey"]))
        admin_key = self.aws.admin
        watch.begin()
        by_hand(HAND_KEY, {"endpoint": self.aws.server.endpoint_url,
                           "region": self.aws.server.region, "user": user,
                           "key_id": made["AccessKeyId"], "admin": admin_key.access_key_id,
                           "admin_secret": admin_key.secret_access_key})
        return watch.finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="account,aws",
                        help="comma-separated: account, aws (default both)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if not only <= {"account", "aws"}:
        parser.error(f"--only takes account and/or aws, not {args.only!r}")
    over = False
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(Path(tmp) / "lab")
        account: Account | None = None
        try:
            cases: dict[str, Account | LeakedKey] = {}
            if "account" in only:
                cases["account (lockout)"] = account = Account(lab, Path(tmp) / "account")
            if "aws" in only:
                cases["leaked AWS key (rotate --leaked)"] = LeakedKey(lab, Path(tmp) / "aws")
            for name, case in cases.items():
                ours: list[dict[str, float]] = []
                hand: list[dict[str, float]] = []
                for _ in range(args.repeat):
                    ours.append(case.ours())
                    hand.append(case.by_hand())
                over |= report(name, ours, hand)
        finally:
            if account is not None:
                account.close()
            lab.close()
    return 1 if over else 0


def report(name: str, ours: list[dict[str, float]], hand: list[dict[str, float]]) -> bool:
    def med(runs: list[dict[str, float]], what: str) -> float:
        return statistics.median(r[what] for r in runs)
    a, b = med(ours, "refused"), med(hand, "refused")
    print(f"{name}, {len(ours)} rounds, median seconds from the start to the credential refused:")
    for who, runs, m in (("breakglass", ours, a), ("by hand   ", hand, b)):
        each = ", ".join(f"{r['refused']:.2f}" for r in runs)
        print(f"  {who} {m:.3f} s   (each: {each})")
    if "first change" in ours[0]:
        first = med(ours, "first change")
        print(f"  breakglass's first change (account disabled) at {first:.3f} s")
    print(f"  ratio ours/hand {a / b:.2f} (goal <= {GOAL})")
    return a / b > GOAL


if __name__ == "__main__":
    sys.exit(main())
