"""SSHHost values for the sshd fixtures (tests/servers/sshd.py), the way a runbook builds them
from `[hosts.NAME]` plus the resolved key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breakglass.connectors.ssh import SSHHost
from tests.servers.sshd import SshdServer


def ssh_host(server: SshdServer, name: str = "web1", *, known_hosts: Path | None = None,
             **extra: Any) -> SSHHost:
    return SSHHost(name=name, address=server.host, port=server.port, user=server.user,
                   key_ref=f"file:{server.key_path}",
                   known_hosts=known_hosts or server.known_hosts,
                   key_text=server.key_path.read_text(), **extra)
