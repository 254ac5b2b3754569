"""What the rotate scenarios share; one module per kind (rotate_<kind>.py) fills it in.

A kind's scenario says how to set up a project whose secret lives on real servers, which
boundaries a normal and a `--leaked` run reach, which service can go away or refuse a
permission, and how to read — with clients independent of breakglass (boto3 against moto,
psycopg, SFTP, the Stripe fake's own state) — what is stored, what is live and whether the old
value still works. The trial is the same for every kind:

    fault     `breakglass rotate NAME --yes [--leaked]` SIGKILLed at the boundary, then maybe a
              service taken away (moto's endpoint, PostgreSQL, a host's sshd, the Stripe fake)
              or a permission refused; `runs.resume` without it must not claim success and
              must say how to go on; then with it back, resumed until done — or `runs.undo`
    check     succeeded: the stored value is the live one and works, the old one is refused
              (and, with --leaked, the run's first finding says the leaked value is dead);
              undone: the old value still works and what consumers read still works. No
              rotation step has an undo, so `runs.undo` refuses (touching nothing) and the
              person resumes, as it says; always: no `.env.breakglass-*.bak` left on a host
    leaks     the old and new values and every credential breakglass uses: in no output, no
              journal or report, no host's sshd or app log
"""

from __future__ import annotations

import json
import os
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from bench._faults.scenario import Fault, Scenario, status_of
from tests.cli_project import CliProject
from tests.servers._util import free_port
from tests.servers.moto import AuthedMoto, AwsKey
from tests.servers.sshd import SshdServer

#: boundaries of a step that applies something; a step that plans nothing (verify_new,
#: verify_old, a revoke done by promotion) reaches only `after_verify`
APPLIED = ("before_apply", "after_apply", "after_verify")
CHECKED = ("after_verify",)
#: a step that reports progress part-way (an IAM key made, not yet stored) also reaches `mid`
WITH_MID = ("before_apply", "mid", "after_apply", "after_verify")
LEAKED = ("--leaked",)
ENTRY = "KEY"  # every scenario's [secrets.KEY]

#: a Fault's `away` or `back`
Hook = Callable[[Scenario, CliProject], None]
Steps = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass
class RotateProject(CliProject):
    """A project whose `[secrets.KEY]` lives on the lab's servers. `body` is the config after
    [project] and [aws] (hosts, databases, the secret); `aws_down` points breakglass's AWS
    endpoint at a closed port (moto gone, as far as breakglass can tell)."""

    body: str = ""
    aws: AuthedMoto | None = None
    key: AwsKey | None = None  # the credentials breakglass runs with (the lab's admin)
    aws_down: bool = False
    closed_port: int = field(default_factory=free_port)
    more_env: dict[str, str] = field(default_factory=dict)
    servers: list[SshdServer] = field(default_factory=list)
    #: the trial runs with --leaked (set by the scenario's inject)
    leaked: bool = False

    def write(self) -> None:
        aws = ""
        if self.aws is not None:
            aws = (f'[aws]\nregion = "{self.aws.server.region}"\n'
                   f'endpoint_url = "{self.endpoint}"\n\n')
        self.config.write_text(
            '[project]\nname = "acme"\nenvironment = "test"\nstate_dir = "state"\n\n'
            '[owners]\nkey_rotation = ["alice"]\nincident_response = ["bob"]\n\n'
            '[people.alice]\nnotify = []\n\n[people.bob]\nnotify = []\n\n'
            f"{aws}{self.body}")

    @property
    def endpoint(self) -> str:
        assert self.aws is not None
        return (f"http://127.0.0.1:{self.closed_port}" if self.aws_down
                else self.aws.server.endpoint_url)

    def env(self, **more: str) -> dict[str, str]:
        aws: dict[str, str] = {}
        if self.aws is not None:
            aws = {**self.aws.server.env(self.key or self.aws.admin),
                   "AWS_ENDPOINT_URL": self.endpoint}
        return {**os.environ, **aws, **self.more_env, **more}


class RotateScenario(Scenario):
    """`rotate KEY` of one kind under faults. Subclasses set the boundaries and fill in
    setup, `outages`, `rotated`, `kept` and `values`."""

    #: (step, boundaries it reaches) in a normal run, in run order; `leaked_steps`: those of a
    #: --leaked run where it differs (revoke moved up, its proof, delete at once, promotion)
    steps: ClassVar[Steps]
    leaked_steps: ClassVar[Steps]
    #: the boundary after which `runs.undo` is tried instead of a resume
    undo_at: ClassVar[str] = "create.after_verify"
    #: labels of the faults `--quick` tries (tests/bench/test_faults.py)
    quick: ClassVar[tuple[str, ...]]

    @classmethod
    def faults(cls, quick: bool) -> list[Fault]:
        every = [*(Fault("sigkill", f"{s}.{p}") for s, ps in cls.steps for p in ps),
                 *(Fault("sigkill", f"{s}.{p}", extra=LEAKED)
                   for s, ps in cls.leaked_steps for p in ps),
                 Fault("sigkill", cls.undo_at, then="undo"),
                 *cls.outages()]
        return [f for f in every if f.label in cls.quick] if quick else every

    @classmethod
    @abstractmethod
    def outages(cls) -> list[Fault]:
        """The kind's services going away after a kill, and its permissions refused."""

    def args(self) -> tuple[str, ...]:
        return ("rotate", ENTRY)

    def inject(self, proj: CliProject, fault: Fault) -> bool:
        assert isinstance(proj, RotateProject)
        proj.leaked = "--leaked" in fault.extra
        return super().inject(proj, fault)

    def check(self, proj: CliProject, run_id: str) -> str | None:
        assert isinstance(proj, RotateProject)
        status = status_of(proj, run_id)
        if status == "succeeded":
            wrong = self.rotated(proj)
            first = _findings(proj, run_id)[:1]
            if proj.leaked and [f.get("code") for f in first] != ["LEAKED_DEAD"]:
                wrong.append(f"the leaked run's first finding is {first}, not LEAKED_DEAD")
        elif status == "undone":
            wrong = self.kept(proj)
            said = [o for k, o in proj.outputs.items() if k.startswith("runs.undo")]
            if not said or "NO UNDO" not in said[-1]:  # rotation steps have none: say so
                wrong.append("runs.undo did not name the steps it left applied")
        else:
            wrong = [f"the run ended {status!r}"]
        wrong += [f"{name} left on {s.home}" for s in proj.servers for name in backups(s)]
        return "; ".join(wrong) or None

    @abstractmethod
    def rotated(self, proj: RotateProject) -> list[str]:
        """What is wrong with a finished rotation: the stored value must be the live one and
        work, the old one must be refused (read with independent clients)."""

    @abstractmethod
    def kept(self, proj: RotateProject) -> list[str]:
        """What is wrong after `runs.undo`: the old value must still work, and what consumers
        read must work."""

    @abstractmethod
    def values(self, proj: RotateProject) -> list[str]:
        """Every secret of the trial as it stands now: old, new, breakglass's credentials."""

    def canaries(self, proj: CliProject) -> list[str]:
        assert isinstance(proj, RotateProject)
        return self.values(proj)

    def written(self, proj: CliProject) -> Iterable[Path]:
        assert isinstance(proj, RotateProject)
        logs = [p for s in proj.servers
                for p in (s.base_dir / "sshd.log", s.home / "app.log")]
        return [*super().written(proj), *logs]


def _findings(proj: CliProject, run_id: str) -> list[dict[str, object]]:
    r = proj.run("runs.show", run_id, "--json")
    found = json.loads(r.stdout).get("findings") if r.stdout.lstrip().startswith("{") else None
    return list(found or [])


# -- hosts, read over SFTP (not through breakglass) ----------------------------------------------

def sftp_read(server: SshdServer, path: Path) -> str:
    with server.connect() as client, client.open_sftp() as sftp, sftp.open(str(path)) as f:
        return str(f.read().decode())


def backups(server: SshdServer) -> list[str]:
    """The env-file backups breakglass makes (`.env.breakglass-RUN.bak`), listed over SFTP."""
    with server.connect() as client, client.open_sftp() as sftp:
        return sorted(n for n in sftp.listdir(str(server.home))
                      if n.startswith(".env.breakglass-"))


def host_toml(name: str, server: SshdServer, restart: str, health: str) -> str:
    """`[hosts.NAME]` for an sshd host of the lab; `health` is a full `key = value` line."""
    return (f'[hosts.{name}]\naddress = "{server.host}"\nport = {server.port}\n'
            f'user = "{server.user}"\nkey = "file:{server.key_path}"\n'
            f'known_hosts = "{server.known_hosts}"\nrestart = "{restart}"\n{health}\n\n')


def sshd_away(index: int) -> tuple[Hook, Hook]:
    """(away, back) for a Fault: the scenario's host `index` stops its sshd, then starts it."""
    def away(scenario: Scenario, proj: CliProject) -> None:
        assert isinstance(proj, RotateProject)
        proj.servers[index].stop()

    def back(scenario: Scenario, proj: CliProject) -> None:
        assert isinstance(proj, RotateProject)
        proj.servers[index].start()

    return away, back


def aws_away(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, RotateProject)
    proj.aws_down = True
    proj.write()


def aws_back(scenario: Scenario, proj: CliProject) -> None:
    assert isinstance(proj, RotateProject)
    proj.aws_down = False
    proj.write()


def denied_key(aws: AuthedMoto, user: str, *actions: str) -> AwsKey:
    """Credentials for breakglass that may do everything but `actions` (IAM action names)."""
    iam = aws.client("iam")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="rotate", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": list(actions), "Resource": "*"}]}))
    made = iam.create_access_key(UserName=user)["AccessKey"]
    return AwsKey(made["AccessKeyId"], made["SecretAccessKey"])


def deny(*actions: str) -> tuple[Hook, Hook]:
    """(away, back) for a Fault: breakglass's AWS credentials lose `actions`, then get the
    admin's back."""
    def away(scenario: Scenario, proj: CliProject) -> None:
        assert isinstance(proj, RotateProject) and proj.aws is not None
        proj.key = denied_key(proj.aws, f"bg-denied-{os.urandom(4).hex()}", *actions)

    def back(scenario: Scenario, proj: CliProject) -> None:
        assert isinstance(proj, RotateProject)
        proj.key = None

    return away, back
