"""A project folder for `breakglass rotate` of an env_file secret: sshd hosts, each running the
tiny service of tests/rotate/service.py that reads ~/.env, driven through the real CLI in a
subprocess (RotateProject: SIGKILL, resume, the canary check over every output)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from breakglass.runbooks.rotate import dotenv_format
from tests.rotate.aws_project import RotateProject
from tests.rotate.service import Service, install_service
from tests.servers.sshd import SshdFactory, SshdServer

OLD = "old-secret-key-Vw93kLq0ZpX7rT2m"
ENV = f"# app settings\nDEBUG=false\nSECRET_KEY={OLD}\nOTHER=kept # a note\n"


@dataclass
class EnvProject(RotateProject):
    services: list[Service] = field(default_factory=list)

    def write(self, secrets: str, extra: str = "", **host_settings: dict[str, str]) -> None:
        """The config: one [hosts.webN] per service (settings overridden per host), then
        `extra` and `secrets`."""
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            f"{self.hosts_toml(**host_settings)}{extra}\n{secrets}\n")

    def hosts_toml(self, **override: dict[str, str]) -> str:
        out = []
        for i, svc in enumerate(self.services, start=1):
            s = svc.server
            settings = {"address": f'"{s.host}"', "port": str(s.port), "user": f'"{s.user}"',
                        "key": f'"file:{s.key_path}"', "known_hosts": f'"{s.known_hosts}"',
                        "restart": f'"{svc.restart_template}"',
                        "health_url": f'"{svc.health_url}"', **override.get(f"web{i}", {})}
            out.append(f"[hosts.web{i}]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        return "\n".join(out)

    def env(self, **more: str) -> dict[str, str]:
        return {**os.environ, **more}

    def values(self, key: str = "SECRET_KEY") -> list[str | None]:
        return [dotenv_format.read_value(s.env_file.read_text(), key) for s in self.services]

    def backups(self) -> list[Path]:
        return sorted(p for s in self.services for p in s.home.glob(".env.breakglass-*.bak"))

    def leaks(self, *values: str, sink: Any = None) -> list[str]:
        found = super().leaks(*values, sink=sink)
        # The hosts' sshd logs and the services' logs are outputs too.
        for s in self.services:
            for log in (s.server.base_dir / "sshd.log", s.home / "app.log"):
                text = log.read_text(errors="replace") if log.exists() else ""
                found += [f"{log}: {v[:6]}…" for v in values if v and v in text]
        return found


def secret_toml(**keys: str) -> str:
    """`[secrets.APP_KEY]`: SECRET_KEY in ~/.env (each test host's $HOME is its own dir)."""
    body = {"kind": '"env_file"', "path": '"~/.env"', "key": '"SECRET_KEY"',
            "consumers": '["web1:app", "web2:app"]', **keys}
    return "[secrets.APP_KEY]\n" + "".join(f"{k} = {v}\n" for k, v in body.items())


@pytest.fixture(scope="module")
def hosts(sshd_factory: SshdFactory) -> list[SshdServer]:
    """Two sshd hosts (one per module: each test installs its services afresh)."""
    return sshd_factory.start(2)


@pytest.fixture
def env_project(hosts: list[SshdServer], tmp_path: Path) -> Iterator[EnvProject]:
    services = [install_service(s, ENV) for s in hosts]
    proj = EnvProject(tmp_path, None, services=services)  # type: ignore[arg-type]  # no AWS
    try:
        yield proj
    finally:
        proj.stop_started()  # only what this test started
        for svc in services:
            svc.stop()
            for leftover in svc.home.glob(".env*"):
                leftover.unlink()
