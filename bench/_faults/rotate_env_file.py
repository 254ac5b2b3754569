"""`rotate` of a value in `~/.env` on two sshd hosts (kind env_file), each running the tiny
service of tests/rotate/service.py that reads the file at start and reports a digest of the
SECRET_KEY it loaded.

Faults: SIGKILL at every boundary (normal and --leaked; `create.mid` is one host written, the
other not), once undone; web2's sshd stopped before the writes and before the restarts; web2's
home made read-only for the login user before the writes (no temp file, no backup).

Read over SFTP (each host's ~/.env) and HTTP (each service's loaded key): every host holds the
same new value, every service runs on it, no `.env.breakglass-*.bak` (which holds the old
value) is left. After `runs.undo`: every host holds one and the same value (never one host on
the new key and one on the old).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from bench._faults.rotate import (
    APPLIED,
    CHECKED,
    ENTRY,
    LEAKED,
    WITH_MID,
    RotateProject,
    RotateScenario,
    host_toml,
    sftp_read,
    sshd_away,
)
from bench._faults.scenario import Fault, Scenario, register
from breakglass.runbooks.rotate.dotenv_format import read_value
from tests.cli_project import CliProject
from tests.rotate.service import Service, digest, install_service

STEPS = (("pin", APPLIED), ("create", WITH_MID), ("consumers", APPLIED), ("verify_new", CHECKED),
         ("revoke", CHECKED), ("verify_old", CHECKED), ("delete", APPLIED))


@dataclass
class EnvProject(RotateProject):
    services: list[Service] = field(default_factory=list)
    old: str = ""

    def held(self) -> list[str | None]:
        return [read_value(sftp_read(s.server, s.env_file), "SECRET_KEY")
                for s in self.services]


@register
class EnvFileScenario(RotateScenario):
    runbook = "rotate.env_file"
    steps = STEPS
    leaked_steps = (("create", WITH_MID), ("revoke", CHECKED), ("consumers", APPLIED),
                    ("verify_old", CHECKED), ("delete", APPLIED))
    undo_at = "create.after_apply"
    quick = ("sigkill @ create.mid",)

    @classmethod
    def outages(cls) -> list[Fault]:
        return [Fault("host down", "create.before_apply", *sshd_away(1)),
                Fault("host down", "consumers.before_apply", *sshd_away(1)),
                Fault("permission refused", "create.before_apply", _read_only, _writable,
                      extra=LEAKED)]

    def setup(self, work: Path) -> CliProject:
        old = f"old-secret-key-{secrets.token_urlsafe(18)}"
        env = f"# app settings\nDEBUG=false\nSECRET_KEY={old}\nOTHER=kept # a note\n"
        servers = self.lab.hosts(2)
        proj = EnvProject(work, servers=servers, old=old,
                          services=[install_service(s, env) for s in servers])
        proj.body = "".join(host_toml(f"web{i}", svc.server, svc.restart_template,
                                      f'health_url = "{svc.health_url}"')
                            for i, svc in enumerate(proj.services, start=1))
        proj.body += (f'[secrets.{ENTRY}]\nkind = "env_file"\npath = "~/.env"\n'
                      'key = "SECRET_KEY"\ndjango = false\n'
                      'consumers = ["web1:app", "web2:app"]\n')
        proj.write()
        return proj

    def rotated(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, EnvProject)
        held = proj.held()
        if len(set(held)) != 1 or held[0] in (None, proj.old):
            return [f"the hosts hold {['old' if v == proj.old else 'new' for v in held]}"]
        assert held[0] is not None
        return [f"{s.server.home} serves another key" for s in proj.services
                if s.loaded_key_digest() != digest(held[0])]

    def kept(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, EnvProject)
        held = proj.held()
        return [] if len(set(held)) == 1 and held[0] else [
            f"the hosts hold {['old' if v == proj.old else 'new' for v in held]}"]

    def values(self, proj: RotateProject) -> list[str]:
        assert isinstance(proj, EnvProject)
        return [proj.old, *(v for v in proj.held() if v)]

    def teardown(self, proj: CliProject) -> None:
        super().teardown(proj)
        assert isinstance(proj, EnvProject)
        for svc in proj.services:
            svc.home.chmod(0o755)
            svc.stop()
            for leftover in svc.home.glob(".env*"):
                leftover.unlink()


def _read_only(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, EnvProject)
    proj.services[1].home.chmod(0o555)  # the login user cannot create a temp file or backup


def _writable(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, EnvProject)
    proj.services[1].home.chmod(0o755)
