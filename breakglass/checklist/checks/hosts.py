"""Host checks over SSH (docs/checks/hosts.md): ssh.hardened, net.datastores_private,
net.dashboards_private, net.firewall.

All four judge the same facts (breakglass/checklist/hostfacts.py: one connection per host, one
script, every host at once with a bounded pool). Each host is judged on its own: a host that
could not be asked (HOST_UNREACHABLE, SSH_AUTH_FAILED, HOST_KEY_UNKNOWN…) or a command it
refused is UNVERIFIED for that host, and the other hosts' findings still stand.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from breakglass.checklist.hostfacts import HostFacts, Section, asked, audited, host_facts
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult, check, not_configured
from breakglass.engine.findings import Finding, Outcome, Severity, unverified
from breakglass.errors import BreakglassError, CouldNotVerify

Judged = tuple[list[Finding], dict[str, Any]]


def _finding(item_id: str, code: str, message: str, action: str, subject: str,
             severity: Severity | None = None, **evidence: Any) -> Finding:
    return Finding(code, message, action, severity or BY_ID[item_id].severity, Outcome.FAILED,
                   subject, evidence)


def _per_host(ctx: CheckContext, item_id: str,
              judge: Callable[[CheckContext, HostFacts], Judged]) -> CheckResult:
    if not audited(ctx):
        return not_configured(item_id, "no [hosts.NAME] in the configuration",
                              "add a [hosts.NAME] table per server (address, user, key, "
                              "known_hosts, sudo)")
    facts = host_facts(ctx)
    findings: list[Finding] = []
    per_host: dict[str, Any] = {}
    for name, fact in facts.items():
        if isinstance(fact, BreakglassError):
            code = fact.code if isinstance(fact, CouldNotVerify) else "HOST_CONFIG_INVALID"
            action = (fact.action if isinstance(fact, CouldNotVerify) and fact.action
                      else f"fix [hosts.{name}]")
            findings.append(unverified(code, f"{item_id} not checked on {name}: {fact}", action,
                                       name))
            per_host[name] = {"unverified": code}
            continue
        host_findings, evidence = judge(ctx, fact)
        findings += host_findings
        per_host[name] = evidence
    return CheckResult(findings, {"hosts": per_host, "asked": asked(ctx, facts)})


def _sudo_action(f: HostFacts, command: str) -> str:
    if f.sudo:
        return (f"allow the login user `{command}` without a password (sudoers NOPASSWD, "
                f"docs/checks/hosts.md), then run the check again")
    return (f"set hosts.{f.name}.sudo = true and allow the login user `{command}` without a "
            "password (docs/checks/hosts.md), or log in as root")


def _could_not_run(item_id: str, f: HostFacts, sec: Section, command: str, code: str
                   ) -> Finding:
    if sec.status == "absent":
        return unverified("HOST_SCRIPT_FAILED", f"{f.label}: `{command}` did not report "
                          "(the audit script was cut short)", "run the check again; check the "
                          "host's load and sshd log", f.name)
    return unverified(code, f"{item_id} not checked on {f.name}: `{command}` failed (exit "
                      f"{sec.exit}): {sec.tail()}", _sudo_action(f, command), f.name,
                      exit=sec.exit)


# -- ssh.hardened ---------------------------------------------------------------------------------

#: `sshd -T` keys judged (OpenSSH < 8.7 prints challengeresponseauthentication instead of
#: kbdinteractiveauthentication: the same setting under its old name, sshd_config(5))
SSHD_KEYS = ("passwordauthentication", "kbdinteractiveauthentication", "permitrootlogin",
             "pubkeyauthentication", "usepam")
#: PermitRootLogin values that let root in with a key only (`sshd -T` prints
#: prohibit-password under its old name without-password)
ROOT_BY_KEY = ("without-password", "prohibit-password", "forced-commands-only")


def parse_sshd_t(text: str) -> dict[str, str]:
    """`sshd -T` prints one lower-case `keyword value` per line (sshd(8) -T)."""
    settings: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and key == key.lower() and key not in settings:
            settings[key] = value.strip().lower()
    if "kbdinteractiveauthentication" not in settings and \
            "challengeresponseauthentication" in settings:
        settings["kbdinteractiveauthentication"] = settings["challengeresponseauthentication"]
    return settings


def judge_sshd(item_id: str, f: HostFacts, sshd_config: str) -> Judged:
    command = f"{'sudo -n ' if f.sudo else ''}sshd -T -f {sshd_config}"
    sec = f.section("sshd")
    if sec.status == "missing":
        return [unverified("SSHD_NOT_FOUND", f"{f.label}: no sshd in PATH or /usr/sbin",
                           "check that OpenSSH's server runs on this host (or remove it from "
                           "[checklist.hosts] hosts)", f.name)], {"sshd": "not found"}
    if sec.status != "ok":
        return [_could_not_run(item_id, f, sec, command, "SSHD_T_FAILED")], {"sshd": "failed"}
    settings = parse_sshd_t(sec.output)
    seen = {k: settings[k] for k in SSHD_KEYS if k in settings}
    if len(seen) < 4:
        return [unverified("SSHD_T_UNPARSEABLE", f"{f.label}: `{command}` printed no "
                           f"effective settings: {sec.tail()}", "run it on the host and "
                           "check its output", f.name)], {"sshd": seen}
    findings: list[Finding] = []

    def bad(code: str, message: str, action: str, severity: Severity | None = None) -> None:
        findings.append(_finding(item_id, code, f"{f.name}: {message}", action, f.name,
                                 severity, **seen))

    if seen.get("passwordauthentication") != "no":
        bad("SSH_PASSWORD_AUTH", "sshd accepts passwords (PasswordAuthentication "
            f"{seen.get('passwordauthentication')})",
            f"set `PasswordAuthentication no` in {sshd_config} and reload sshd")
    if seen.get("kbdinteractiveauthentication") != "no":
        # Keyboard-interactive is how PAM asks for a password: with UsePAM yes it is password
        # login by another name. Without PAM, Linux has no backend for it (sshd_config(5)) —
        # still worth closing, since turning UsePAM on would open it.
        pam = seen.get("usepam") == "yes"
        bad("SSH_KBD_INTERACTIVE", "sshd allows keyboard-interactive authentication"
            + (" through PAM (passwords)" if pam else " (no PAM: no password backend today)"),
            f"set `KbdInteractiveAuthentication no` in {sshd_config} and reload sshd",
            None if pam else Severity.WARNING)
    root = seen.get("permitrootlogin", "")
    if root == "yes":
        bad("SSH_ROOT_LOGIN", "root may log in with a password or a key (PermitRootLogin yes)",
            f"set `PermitRootLogin no` in {sshd_config}, log in as a named user and use sudo")
    elif root in ROOT_BY_KEY:
        # A key-only root login resists password guessing, but a stolen key is instant root
        # and the logs name no person: the seed asks for `no`. A warning, not critical.
        bad("SSH_ROOT_LOGIN_KEYS", f"root may log in with a key (PermitRootLogin {root})",
            f"set `PermitRootLogin no` in {sshd_config}, log in as a named user and use sudo",
            Severity.WARNING)
    if seen.get("pubkeyauthentication") != "yes":
        bad("SSH_PUBKEY_OFF", "sshd refuses public keys (PubkeyAuthentication "
            f"{seen.get('pubkeyauthentication')})",
            f"set `PubkeyAuthentication yes` in {sshd_config} and reload sshd")
    return findings, {"sshd": seen}


@check("ssh.hardened")
def ssh_hardened(ctx: CheckContext) -> CheckResult:
    cfg = ctx.config.checklist.hosts.sshd_config
    result = _per_host(ctx, "ssh.hardened", lambda c, f: judge_sshd("ssh.hardened", f, cfg))
    result.evidence["sshd_config"] = cfg
    return result


# -- listening sockets ----------------------------------------------------------------------------

#: where binding a service is fine: loopback, RFC 1918, RFC 6598 shared space (not routed on
#: the internet; Tailscale's 100.x addresses) and IPv6 unique-local (RFC 4193)
PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))

DATASTORE_PORTS = {5432: "postgresql", 3306: "mysql", 6379: "redis"}
DASHBOARD_PORTS = {5555: "flower", 9181: "rq-dashboard"}
#: process names (as `ss -p` shows them: the kernel's 15-character comm) that identify a
#: service on any port. Adminer and phpMyAdmin are PHP apps: a public php-fpm (FastCGI) or
#: PHP's built-in server is flagged as what serves them. 8080/8081 are not watched by port:
#: they are as often the app itself (add them to private_ports when Adminer lives there).
DATASTORE_PROCESSES = (
    (re.compile(r"^(postgres|postmaster)$"), "postgresql"),
    (re.compile(r"^(mysqld|mariadbd)$"), "mysql"),
    (re.compile(r"^(redis|valkey)-server$"), "redis"),
)
DASHBOARD_PROCESSES = (
    (re.compile(r"^flower$"), "flower"),
    (re.compile(r"^rq[-_]dashboard$"), "rq-dashboard"),
    (re.compile(r"^adminer"), "adminer"),
    (re.compile(r"^phpmyadmin"), "phpmyadmin"),
    (re.compile(r"^php(-fpm)?[\d.]*$"), "php (Adminer/phpMyAdmin)"),
)
#: private_ports services judged by net.datastores_private; any other name is a dashboard
DATASTORE_NAMES = frozenset({"postgres", "postgresql", "mysql", "mariadb", "redis", "valkey",
                             "memcached", "mongodb", "elasticsearch", "opensearch",
                             "clickhouse", "rabbitmq", "kafka"})

_PROCESS = re.compile(r'\("([^"]+)",pid=')


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket from `ss -H -tln[p]`."""

    address: str  # as ss prints it: 0.0.0.0, *, [::], 127.0.0.1, [::1], 10.0.0.5%eth0 …
    port: int
    processes: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"


def parse_ss(text: str) -> list[Listener]:
    """`ss -H -tln[p]` lines: State Recv-Q Send-Q Local:Port Peer:Port [users:((…))]."""
    out: list[Listener] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "LISTEN":
            continue
        address, _, port = fields[3].rpartition(":")
        if not port.isdigit():
            continue
        out.append(Listener(address, int(port), tuple(_PROCESS.findall(" ".join(fields[5:])))))
    return out


def exposure(address: str) -> str:
    """'loopback', 'private' or 'public' for an address as `ss` prints it."""
    host, _, iface = address.partition("%")
    host = host.strip("[]")
    if host in ("*", "0.0.0.0", "::", ""):  # noqa: S104 - recognising the wildcard, not binding
        return "loopback" if iface == "lo" else "public"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "public"  # unknown form: never assume it is safe
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or iface == "lo":
        return "loopback"
    if any(ip in net for net in PRIVATE_NETS):
        return "private"
    return "public"


def _watched(kind: str, private_ports: Mapping[str, list[int]]) -> dict[int, str]:
    ports = dict(DATASTORE_PORTS if kind == "datastore" else DASHBOARD_PORTS)
    for service, numbers in private_ports.items():
        if (service.lower() in DATASTORE_NAMES) == (kind == "datastore"):
            ports.update({p: service for p in numbers})
    return ports


def _service(listener: Listener, ports: Mapping[int, str],
             processes: Iterable[tuple[re.Pattern[str], str]]) -> str | None:
    if listener.port in ports:
        return ports[listener.port]
    for name in listener.processes:
        for pattern, service in processes:
            if pattern.search(name):
                return service
    return None


def judge_listeners(item_id: str, kind: str, f: HostFacts,
                    private_ports: Mapping[str, list[int]]) -> Judged:
    sec, source = f.section("ss"), "ss -H -tlnp"
    if sec.status == "failed" and f.section("ss_plain").status == "ok":
        sec, source = f.section("ss_plain"), "ss -H -tln (no process names)"
    if sec.status == "missing":
        return [unverified("SS_NOT_FOUND", f"{f.label}: no `ss` (iproute2) on the host",
                           "install iproute2", f.name)], {"source": None}
    if sec.status != "ok":
        return [_could_not_run(item_id, f, sec, "ss -H -tln", "SS_FAILED")], {"source": None}
    ports = _watched(kind, private_ports)
    processes = DATASTORE_PROCESSES if kind == "datastore" else DASHBOARD_PROCESSES
    public: dict[tuple[str, int], list[Listener]] = {}
    private: list[str] = []
    for listener in parse_ss(sec.output):
        service = _service(listener, ports, processes)
        if service is None:
            continue
        where = exposure(listener.address)
        procs = f" ({','.join(sorted(set(listener.processes)))})" if listener.processes else ""
        if where == "public":
            public.setdefault((service, listener.port), []).append(listener)
        else:
            private.append(f"{service} {listener.where} {where}{procs}")
    findings: list[Finding] = []
    code = "DATASTORE_PUBLIC" if kind == "datastore" else "DASHBOARD_PUBLIC"
    for (service, port), listeners in sorted(public.items()):
        addresses = [lst.where for lst in listeners]
        names = sorted({p for lst in listeners for p in lst.processes})
        action = (f"bind {service} to 127.0.0.1 (or a private address), restart it, and "
                  f"block port {port} in the firewall" if kind == "datastore" else
                  f"bind {service} to 127.0.0.1, restart it, and reach it through an SSH "
                  f"tunnel (`ssh -L {port}:127.0.0.1:{port} {f.name}`)")
        findings.append(_finding(item_id, code, f"{f.name}: {service} listens on a public "
                                 f"address: {', '.join(addresses)}"
                                 + (f" ({', '.join(names)})" if names else ""), action, f.name,
                                 service=service, port=port, addresses=addresses,
                                 processes=names))
    watched = sorted(ports)
    return findings, {"source": source, "watched_ports": watched, "private": sorted(private),
                      "public": [f"{s} {', '.join(x.where for x in ls)}"
                                 for (s, _), ls in sorted(public.items())]}


@check("net.datastores_private")
def net_datastores_private(ctx: CheckContext) -> CheckResult:
    extra = ctx.config.checklist.hosts.private_ports
    return _per_host(ctx, "net.datastores_private", lambda c, f: judge_listeners(
        "net.datastores_private", "datastore", f, extra))


@check("net.dashboards_private")
def net_dashboards_private(ctx: CheckContext) -> CheckResult:
    extra = ctx.config.checklist.hosts.private_ports
    return _per_host(ctx, "net.dashboards_private", lambda c, f: judge_listeners(
        "net.dashboards_private", "dashboard", f, extra))


# -- net.firewall ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputChain:
    """A base chain on the input hook (nft(8): `type filter hook input priority P; policy X;`)."""

    family: str
    table: str
    name: str
    policy: str
    last_rule: str

    @property
    def denies(self) -> bool:
        return self.policy == "drop" or _FINAL_DROP.match(self.last_rule) is not None

    @property
    def label(self) -> str:
        return f"{self.family} {self.table} {self.name}: policy {self.policy}" + (
            f", last rule `{self.last_rule}`" if self.last_rule else "")


# An unconditional last rule: optional counter / log, then drop or reject (nft(8) STATEMENTS).
_FINAL_DROP = re.compile(r"^(counter( packets \d+ bytes \d+)?\s+)?(log( .*?)?\s+)?"
                         r"(drop|reject( with .*)?)$")
_FAMILIES = {"inet": {"ipv4", "ipv6"}, "ip": {"ipv4"}, "ip6": {"ipv6"}}


def parse_nft(text: str) -> list[InputChain]:
    """The input-hook base chains of `nft list ruleset`. Braces are counted so that sets,
    maps and multi-line rules (anonymous sets spanning lines) are not mistaken for rules."""
    chains: list[InputChain] = []
    depth = 0
    family = table = chain = ""
    chain_depth = -1
    hook = policy = last = ""
    for raw in text.splitlines():
        line = raw.strip()
        at = depth
        depth += line.count("{") - line.count("}")
        if at == 0 and line.startswith("table "):
            parts = line.split()
            family, table = (parts[1], parts[2]) if len(parts) > 3 else ("ip", parts[1])
        elif at == 1 and line.startswith("chain "):
            chain, chain_depth, hook, policy, last = line.split()[1], depth, "", "accept", ""
        elif chain and at == chain_depth and line.startswith("type "):
            m = re.search(r"\bhook (\w+)", line)
            hook = m.group(1) if m else ""
            p = re.search(r"\bpolicy (\w+)", line)
            policy = p.group(1) if p else "accept"  # nft's default policy is accept
        elif chain and at == chain_depth and line and not line.startswith("}") \
                and not line.startswith(("comment ", "policy ")):
            last = line.rstrip("{").strip()
        if chain and depth < chain_depth:
            if hook == "input" and family in _FAMILIES:
                chains.append(InputChain(family, table, chain, policy, last))
            chain, chain_depth = "", -1
    return chains


def judge_nft(text: str) -> tuple[set[str], list[str]]:
    """The address families whose inbound traffic is denied by default, and what was seen.
    Every base chain on a hook must accept a packet (nft(8)): one that drops is enough."""
    chains = parse_nft(text)
    covered: set[str] = set()
    for c in chains:
        if c.denies:
            covered |= _FAMILIES[c.family]
    return covered, [c.label for c in chains]


def judge_ufw(text: str) -> tuple[bool, str]:
    """`ufw status verbose`: "Status: active" and "Default: deny (incoming), …" (ufw(8))."""
    active = re.search(r"^Status:\s*active\b", text, re.M) is not None
    m = re.search(r"^Default:\s*(\w+)\s*\(incoming\)", text, re.M)
    default = m.group(1) if m else "unknown"
    seen = f"status {'active' if active else 'inactive'}, default {default} (incoming)"
    return active and default in ("deny", "reject"), seen


def judge_firewall(item_id: str, f: HostFacts, mode: str) -> Judged:
    tools = ("ufw", "nft") if mode == "auto" else (("ufw",) if mode == "ufw" else ("nft",))
    commands = {"ufw": "ufw status verbose", "nft": "nft list ruleset"}
    evidence: dict[str, Any] = {}
    unreadable: list[Finding] = []
    families: set[str] = set()
    for tool in tools:
        sec = f.section(tool)
        if sec.status == "missing":
            evidence[tool] = "not installed"
            continue
        if sec.status != "ok":
            command = f"{'sudo -n ' if f.sudo else ''}{commands[tool]}"
            unreadable.append(_could_not_run(item_id, f, sec, command, "FIREWALL_NOT_READABLE"))
            evidence[tool] = f"not readable (exit {sec.exit})"
            continue
        if tool == "ufw":
            ok, seen = judge_ufw(sec.output)
            evidence["ufw"] = seen
            if ok:  # ufw's rules live in iptables, i.e. both families (ufw's IPV6=yes)
                return [], evidence
        else:
            covered, chains = judge_nft(sec.output)
            evidence["nft"] = chains or "no input chain"
            families |= covered
    if families == {"ipv4", "ipv6"}:
        return [], evidence
    if unreadable:  # what could be read does not deny; what could not might
        return unreadable, evidence
    if all(v == "not installed" for v in evidence.values()):
        names = " or ".join("ufw" if t == "ufw" else "nftables" for t in tools)
        return [unverified("FIREWALL_TOOL_MISSING", f"{f.label}: neither {names} is installed: "
                           "the firewall cannot be read", "install and configure ufw or "
                           "nftables (seed §5), or set [checklist.hosts] firewall to the tool "
                           "in use", f.name)], evidence
    if families == {"ipv4"}:
        return [_finding(item_id, "FIREWALL_IPV6_OPEN", f"{f.name}: IPv4 inbound is denied by "
                         "default but IPv6 is not (no ip6/inet input chain drops)",
                         "add an ip6 (or inet) input chain with `policy drop`, or use an inet "
                         "table for both", f.name, Severity.WARNING, **evidence)], evidence
    return [_finding(item_id, "FIREWALL_NOT_DEFAULT_DENY", f"{f.name}: inbound traffic is not "
                     "denied by default (" + "; ".join(f"{k}: {v}" for k, v in evidence.items())
                     + ")", BY_ID[item_id].action, f.name, **evidence)], evidence


@check("net.firewall")
def net_firewall(ctx: CheckContext) -> CheckResult:
    mode = ctx.config.checklist.hosts.firewall
    result = _per_host(ctx, "net.firewall", lambda c, f: judge_firewall("net.firewall", f, mode))
    result.evidence["firewall"] = mode
    return result
