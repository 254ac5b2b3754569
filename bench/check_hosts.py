"""Host-audit benchmark (issue 6: "host checks over 16 sshd hosts run concurrently"): the four
host items of `breakglass check` (ssh.hardened, net.datastores_private, net.dashboards_private,
net.firewall) over 16 sshd hosts against one host, in the same run.

    .venv/bin/python bench/check_hosts.py                  # 16 hosts, 5 rounds
    .venv/bin/python bench/check_hosts.py --hosts 32 --rounds 3

What it does:
1. starts N real sshd hosts on loopback with tests/servers/sshd.py's factory;
2. writes a breakglass.toml naming them in [hosts.*], loads it with the real loader, and times
   the four items evaluated as `breakglass check` does (breakglass/checklist/evaluate.py, one
   fresh CheckContext per round: one SSH login per host running the fact script, shared by the
   four items) on the first host alone and on all N, alternating, after one warm-up of each;
3. prints the medians and their ratio: goal <= 2.5 (one host after another would be ~N);
4. stops every sshd it started and removes its files, also on Ctrl-C.

The hosts have no sudo rule, so ssh.hardened and net.firewall come out "could not verify" —
the same SSH round trips are made either way; what is timed is the fan-out over the fleet.

Here the 16 "hosts" are sshd processes on this machine, so their audit scripts (sshd -T, ss,
nft, ufw) compete for the same cores, which 16 real hosts would not. The benchmark also times
that script run locally as the hosts' login user, once and 16 at once, and prints the ratio
with that contention taken out: the goal applies to it.
Exit status: 0 when the goal is met, 1 when it is missed, 2 on a failure of the benchmark.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._fleet import GOAL, hosts_toml, line, one_vs_many  # noqa: E402
from breakglass.checklist.evaluate import evaluate  # noqa: E402
from breakglass.checklist.hostfacts import script  # noqa: E402
from breakglass.checklist.items import BY_ID  # noqa: E402
from breakglass.checklist.model import CheckContext  # noqa: E402
from breakglass.config import load_config  # noqa: E402
from breakglass.engine.redaction import Redactor  # noqa: E402
from breakglass.secrets import Secrets  # noqa: E402
from tests.servers.sshd import SshdFactory  # noqa: E402

ITEMS = ("ssh.hardened", "net.datastores_private", "net.dashboards_private", "net.firewall")
#: codes that mean the host could not be asked at all (a broken benchmark, not a slow one)
UNREACHABLE = {"HOST_UNREACHABLE", "SSH_AUTH_FAILED", "HOST_KEY_UNKNOWN", "HOST_KEY_CHANGED",
               "SSH_TIMEOUT", "SSH_ERROR", "HOST_SCRIPT_FAILED"}


def time_audit(config_path: Path) -> float:
    config = load_config(str(config_path))
    redactor = Redactor()
    ctx = CheckContext(config=config, secrets=Secrets(config, redactor),
                       state_dir=config.project.state_dir, redactor=redactor)
    start = time.perf_counter()
    results = [evaluate(ctx, BY_ID[item]) for item in ITEMS]
    took = time.perf_counter() - start
    broken = [f for r in results for f in r.findings if f.code in UNREACHABLE]
    if broken:
        raise SystemExit(f"bench: {broken[0].subject}: {broken[0].code}: {broken[0].message}")
    return took


def time_scripts(user: str, n: int) -> float:
    """The audit script run locally n times at once, as `user` (what n hosts' own CPUs do)."""
    text = script("0" * 16, sudo=False, sshd_config="/etc/ssh/sshd_config")
    argv = ["runuser", "-u", user, "--", "sh", "-c", text] if os.getuid() == 0 else \
        ["sh", "-c", text]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(lambda _: subprocess.run(argv, capture_output=True, check=False),
                      range(n)))
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bg-bench-check-hosts-"))
    factory = SshdFactory(work)
    try:
        t0 = time.perf_counter()
        servers = factory.start(args.hosts)
        print(f"started {len(servers)} sshd hosts in {time.perf_counter() - t0:.1f}s "
              f"({os.cpu_count()} CPUs)")
        one, many = work / "one.toml", work / "many.toml"
        one.write_text(hosts_toml(servers[:1]))
        many.write_text(hosts_toml(servers))
        ones, manys = one_vs_many(time_audit, one, many, args.rounds)
        t1, tn = statistics.median(ones), statistics.median(manys)
        s1 = statistics.median(time_scripts(servers[0].user, 1) for _ in range(args.rounds))
        sn = statistics.median(time_scripts(servers[0].user, args.hosts)
                               for _ in range(args.rounds))
        raw = tn / t1
        ratio = (tn - (sn - s1)) / t1
        print(line("4 host items, 1 host:  ", ones))
        print(line(f"4 host items, {args.hosts} hosts:", manys) + ", max_parallel "
              f"{load_config(str(many)).checklist.hosts.max_parallel}")
        print(f"the audit script on this machine: 1 at a time {s1 * 1000:.1f} ms, {args.hosts} "
              f"at once {sn * 1000:.1f} ms (cores shared by the simulated hosts)")
        verdict = "met" if ratio <= GOAL else "MISSED"
        print(f"ratio {args.hosts} hosts / 1 host = {raw:.2f}x as measured; {ratio:.2f}x with "
              f"the hosts' shared cores taken out (goal <= {GOAL}x, one host after another "
              f"would be ~{args.hosts}x): {verdict}")
        return 0 if ratio <= GOAL else 1
    except KeyboardInterrupt:
        return 2
    finally:
        factory.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
