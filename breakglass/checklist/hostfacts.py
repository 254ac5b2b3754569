"""What the host checks know about each audited host, gathered once per check run.

    facts = host_facts(ctx)          # {name: HostFacts | CouldNotVerify}, memoized in ctx.fact
    facts["web1"].section("sshd")    # Section(status, exit, output) of `sshd -T`

One SSH connection per host runs one small POSIX sh script (`script()`) that prints four
sections between markers carrying a random nonce (so no command output can forge a marker):

    sshd      sshd -T -f [checklist.hosts] sshd_config   (root: it loads the host keys)
    ss        ss -H -tlnp      (root shows every socket's process; else the user's own)
    ss_plain  ss -H -tln       (only when `ss -p` failed: addresses without process names)
    ufw       ufw status verbose (root)
    nft       nft list ruleset   (root)

With hosts.NAME.sudo each privileged command is prefixed by `sudo -n` (never prompts), so the
login user needs sudo for exactly those command lines (docs/checks/hosts.md gives the sudoers
line) and not a root shell. Every host is asked at the same time, at most [checklist.hosts]
max_parallel at once (connectors/ssh.py run_on_hosts); an unreachable host is that host's
CouldNotVerify and the other hosts are still judged.
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from breakglass.errors import BreakglassError, CouldNotVerify

if TYPE_CHECKING:
    from breakglass.checklist.model import CheckContext
    from breakglass.config.checklist import HostChecks
    from breakglass.connectors.ssh import Connection, SSHHost

Status = Literal["ok", "failed", "missing", "absent"]

@dataclass(frozen=True)
class Section:
    """One command's result: `ok` (exit 0), `failed` (ran, non-zero exit: refused by sudo,
    not root, a bad config), `missing` (the tool is not installed), `absent` (not run)."""

    status: Status
    exit: int | None
    output: str

    def tail(self, limit: int = 240) -> str:
        return self.output.strip()[-limit:]


@dataclass(frozen=True)
class HostFacts:
    """One host's answers, and when it was asked (epoch seconds, from the pool taking the host
    — before the SSH handshake — to the answer: evidence that the hosts were asked concurrently,
    and for how long)."""

    name: str
    label: str
    sudo: bool
    started: float
    finished: float
    sections: Mapping[str, Section] = field(default_factory=dict)

    def section(self, name: str) -> Section:
        return self.sections.get(name, Section("absent", None, ""))

    def window(self) -> dict[str, Any]:
        return {"started": round(self.started, 6), "finished": round(self.finished, 6)}


def script(nonce: str, *, sudo: bool, sshd_config: str) -> str:
    """The sh script run on a host. PATH gets the sbin directories (a login user's PATH often
    lacks them, and sshd/nft live there); LC_ALL=C keeps the tools' output parseable."""
    pre = ["sudo", "-n"] if sudo else []

    def line(name: str, tool: str, argv: list[str]) -> str:
        return f"sec {name} {tool} {shlex.join(argv)}"

    return "\n".join([
        'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH; LC_ALL=C; export LC_ALL',
        f"M='@@breakglass-{nonce}'",
        'sec() { n=$1; t=$2; shift 2; echo "$M begin $n"',
        # `[ -x ]` too: dash's `command -v` also returns a non-executable file
        '  if p=$(command -v "$t" 2>/dev/null) && [ -x "$p" ]; then "$@" 2>&1 </dev/null; '
        'rc=$?; else rc=missing; fi',
        '  echo; echo "$M end $n $rc"; }',
        line("sshd", "sshd", [*pre, "sshd", "-T", "-f", sshd_config]),
        line("ss", "ss", [*pre, "ss", "-H", "-tlnp"]),
        # Without root (or sudo for it), `ss -p` may be refused; addresses alone still judge.
        'if [ "$rc" != 0 ]; then ' + line("ss_plain", "ss", ["ss", "-H", "-tln"]) + "; fi",
        line("ufw", "ufw", [*pre, "ufw", "status", "verbose"]),
        line("nft", "nft", [*pre, "nft", "list", "ruleset"]),
        "exit 0",
    ]) + "\n"


def parse(output: str, nonce: str) -> dict[str, Section]:
    """Split the script's output into sections; a section without its end marker (the script
    was cut short) is not returned, so it reads as `absent`."""
    begin, end = f"@@breakglass-{nonce} begin ", f"@@breakglass-{nonce} end "
    found: dict[str, Section] = {}
    current: str | None = None
    buf: list[str] = []
    for raw in output.splitlines():
        if raw.startswith(begin):
            current, buf = raw[len(begin):].strip(), []
        elif raw.startswith(end) and current is not None:
            name, _, rc = raw[len(end):].strip().partition(" ")
            text = "\n".join(buf[:-1] if buf and buf[-1] == "" else buf)
            if name == current:
                if rc == "missing":
                    found[name] = Section("missing", None, "")
                else:
                    code = int(rc) if rc.lstrip("-").isdigit() else -1
                    found[name] = Section("ok" if code == 0 else "failed", code, text)
            current = None
        elif current is not None:
            buf.append(raw)
    return found


def _ask(conn: Connection, settings: HostChecks) -> HostFacts:
    started = time.time()
    nonce = secrets.token_hex(8)
    res = conn.run(script(nonce, sudo=conn.host.sudo, sshd_config=settings.sshd_config))
    sections = parse(res.stdout, nonce)
    if not sections:
        raise CouldNotVerify(f"{conn.host.label}: the audit script printed nothing usable "
                             f"(exit {res.exit}: {res.tail(200)})", code="HOST_SCRIPT_FAILED",
                             action="check that the login shell runs POSIX sh scripts")
    return HostFacts(conn.host.name, conn.host.label, conn.host.sudo, started, time.time(),
                     sections)


def audited(ctx: CheckContext) -> list[str]:
    """The [hosts.NAME] audited: [checklist.hosts] hosts, else every configured host."""
    names = ctx.config.checklist.hosts.hosts
    return list(names) if names is not None else sorted(ctx.config.hosts)


def host_facts(ctx: CheckContext) -> dict[str, HostFacts | BreakglassError]:
    """Every audited host's facts (or why it could not be asked), gathered once per check run
    however many host checks ask."""
    names = audited(ctx)
    return ctx.fact("hosts.facts:" + ",".join(names), lambda: _gather(ctx, names))


def _gather(ctx: CheckContext, names: list[str]) -> dict[str, HostFacts | BreakglassError]:
    from breakglass.connectors.ssh import SSHHost, run_on_hosts

    settings = ctx.config.checklist.hosts
    result: dict[str, HostFacts | BreakglassError] = {}
    hosts: list[SSHHost] = []
    for name in names:
        try:  # one host's unresolvable key reference is that host's problem only
            hosts.append(SSHHost.from_config(name, ctx.config.hosts[name], ctx.secrets))
        except BreakglassError as exc:
            result[name] = exc
    ctx.note(f"asking {len(hosts)} host(s), {settings.max_parallel} at a time")
    for outcome in run_on_hosts(hosts, lambda conn: _ask(conn, settings),
                                max_parallel=settings.max_parallel):
        if outcome.value is not None:
            # The window starts when the pool took the host, before the SSH handshake.
            result[outcome.host.name] = replace(outcome.value, started=outcome.started)
        else:
            result[outcome.host.name] = outcome.error or CouldNotVerify("no answer")
    return {name: result[name] for name in names}


def asked(ctx: CheckContext, facts: Mapping[str, HostFacts | BreakglassError]
          ) -> dict[str, Any]:
    """Evidence of how the hosts were asked: the pool size and each host's time window."""
    return {"max_parallel": ctx.config.checklist.hosts.max_parallel,
            "windows": {name: f.window() for name, f in facts.items()
                        if isinstance(f, HostFacts)}}
