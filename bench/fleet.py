"""Fleet read benchmark (issue 5 "Speed"): the read phase of `breakglass rollback` — every
host's release layout listed over SSH — over 16 sshd hosts against one host, in the same run.

    .venv/bin/python bench/fleet.py                 # 16 hosts, 5 rounds
    .venv/bin/python bench/fleet.py --hosts 32 --rounds 3 --max-parallel 16

What it does:
1. starts N real sshd hosts on loopback with tests/servers/sshd.py's factory (as root the login
   user is `bgssh`), and lays out ~/app/releases/{r1,r2,r3} + ~/app/current on each;
2. writes a breakglass.toml naming them in [hosts.*] and [releases], loads it with the real
   loader, and times `Fleet.read_all` (breakglass/runbooks/rollback/fleet.py: run_on_hosts +
   one SSH connection, authentication and listing command per host) on the first host alone
   and on all N, alternating, after one warm-up of each (imports, key parsing);
3. prints the medians and their ratio: goal <= 2.5 (sequential would be N);
4. stops every sshd it started and removes its files, also on Ctrl-C.

Exit status: 0 when the goal is met, 1 when it is missed, 2 on a failure of the benchmark.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._fleet import GOAL, hosts_toml, line, one_vs_many  # noqa: E402
from breakglass.config import load_config  # noqa: E402
from breakglass.engine.redaction import Redactor  # noqa: E402
from breakglass.engine.runbook import StepContext  # noqa: E402
from breakglass.runbooks.rollback.fleet import Fleet  # noqa: E402
from breakglass.secrets import Secrets  # noqa: E402
from tests.servers._util import chown_tree, is_root  # noqa: E402
from tests.servers.sshd import SshdFactory, SshdServer  # noqa: E402


def lay_out(server: SshdServer) -> None:
    base = server.home / "app"
    for release in ("r1", "r2", "r3"):
        (base / "releases" / release).mkdir(parents=True, exist_ok=True)
    current = base / "current"
    if not current.is_symlink():
        current.symlink_to(base / "releases" / "r3")
    if is_root():
        import pwd

        chown_tree(server.home, pwd.getpwnam(server.user))


def write_config(path: Path, servers: list[SshdServer], max_parallel: int | None) -> None:
    names = ", ".join(f'"web{i}"' for i in range(1, len(servers) + 1))
    limit = f"max_parallel = {max_parallel}\n" if max_parallel else ""
    path.write_text(hosts_toml(servers, 'health_url = "http://127.0.0.1:9/healthz"\n')
                    + f'\n[releases]\nhosts = [{names}]\npath = "~/app"\nrestart = "true"\n'
                      f"{limit}")


def time_read(config_path: Path) -> float:
    """One read phase, as a rollback run does it: a fresh Fleet (fresh connections)."""
    config = load_config(str(config_path))
    redactor = Redactor()
    ctx = StepContext(run_id="bench", runbook="rollback", config=config, params={},
                      state_dir=config.project.state_dir, redactor=redactor,
                      secrets=Secrets(config, redactor))
    fleet = Fleet(config, {})
    fleet.hosts(ctx)  # resolving the key refs is config work, not the read phase
    start = time.perf_counter()
    reads = fleet.read_all(ctx)
    took = time.perf_counter() - start
    bad = [r for r in reads if r.error is not None or r.releases is None
           or r.releases.current != "r3"]
    if bad:
        raise SystemExit(f"bench: read failed on {bad[0].host}: {bad[0].error}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-parallel", type=int, default=None,
                    help="[releases] max_parallel (default: the config's default)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bg-bench-fleet-"))
    factory = SshdFactory(work)
    try:
        t0 = time.perf_counter()
        servers = factory.start(args.hosts)
        for s in servers:
            lay_out(s)
        print(f"started {len(servers)} sshd hosts in {time.perf_counter() - t0:.1f}s "
              f"({os.cpu_count()} CPUs)")
        one, many = work / "one.toml", work / "many.toml"
        write_config(one, servers[:1], args.max_parallel)
        write_config(many, servers, args.max_parallel)
        ones, manys = one_vs_many(time_read, one, many, args.rounds)
        t1, tn = statistics.median(ones), statistics.median(manys)
        ratio = tn / t1
        print(line("read phase, 1 host:  ", ones))
        print(line(f"read phase, {args.hosts} hosts:", manys) + ", max_parallel "
              f"{load_config(str(many)).releases.max_parallel}")  # type: ignore[union-attr]
        verdict = "met" if ratio <= GOAL else "MISSED"
        print(f"ratio {args.hosts} hosts / 1 host = {ratio:.2f}x (goal <= {GOAL}x, sequential "
              f"would be ~{args.hosts}x): {verdict}")
        return 0 if ratio <= GOAL else 1
    except KeyboardInterrupt:
        return 2
    finally:
        factory.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
