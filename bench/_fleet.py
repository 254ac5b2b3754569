"""What the fleet benchmarks (fleet.py, check_hosts.py) share: N real sshd hosts on loopback,
their [hosts.*] tables, and "1 host vs N hosts" timed alternately with medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from tests.servers.sshd import SshdServer

GOAL = 2.5


def hosts_toml(servers: list[SshdServer], extra: str = "") -> str:
    """A [project] table and one [hosts.webN] per server (`extra`: more lines for each)."""
    parts = ['[project]\nname = "bench"\nenvironment = "bench"\nstate_dir = "state"\n']
    for i, s in enumerate(servers, start=1):
        parts.append(f'[hosts.web{i}]\naddress = "{s.host}"\nport = {s.port}\n'
                     f'user = "{s.user}"\nkey = "file:{s.key_path}"\n'
                     f'known_hosts = "{s.known_hosts}"\n{extra}')
    return "\n".join(parts)


def one_vs_many(time_one: Callable[[Path], float], one: Path, many: Path,
                rounds: int) -> tuple[list[float], list[float]]:
    """Time `one` and `many` alternately, after one warm-up of each (imports, first
    handshakes), so that load on the machine hits both alike."""
    time_one(one), time_one(many)
    ones, manys = [], []
    for _ in range(rounds):
        ones.append(time_one(one))
        manys.append(time_one(many))
    return ones, manys


def line(label: str, samples: list[float]) -> str:
    return (f"{label} median {statistics.median(samples) * 1000:7.1f} ms  "
            f"({', '.join(f'{x * 1000:.0f}' for x in samples)})")
