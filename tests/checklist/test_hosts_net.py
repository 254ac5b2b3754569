"""net.datastores_private, net.dashboards_private and net.firewall on a real host whose network
is a namespace of its own (hostlab.NetnsHost): servers bound to 0.0.0.0 and nftables rulesets
exist only inside it, and the check reads them over SSH like on any server (`sudo -n ss -H
-tlnp`, `sudo -n nft list ruleset`, allowed by a sudoers rule for exactly those lines)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from breakglass.checklist.model import CheckContext
from breakglass.engine.findings import Outcome, Severity
from tests.checklist.context import codes, make_ctx, run
from tests.checklist.hostlab import NetnsHost, sudo_rule
from tests.servers._util import free_port
from tests.servers.sshd import SshdFactory

pytestmark = pytest.mark.needs(tools=("ip", "nft", "sudo"),
                                root="the lab host is a network namespace (ip netns)")

SS = shutil.which("ss", path="/usr/sbin:/usr/bin:/sbin:/bin")
NFT = shutil.which("nft", path="/usr/sbin:/usr/bin:/sbin:/bin")

DEFAULT_DENY = """table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iif "lo" accept
    tcp dport { 22, 80, 443 } accept
  }
}
"""
FINAL_REJECT = """table inet filter {
  chain input {
    type filter hook input priority 0;
    iif lo accept
    tcp dport 22 accept
    counter reject with icmpx type admin-prohibited
  }
}
"""
# A named set, a multi-line anonymous set, a forward chain that drops (irrelevant to inbound)
# and an unconditional final `counter drop` as what denies by default.
FINAL_DROP_WITH_SETS = """table inet filter {
  set admins { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 } }
  chain input {
    type filter hook input priority filter; policy accept;
    ip saddr @admins tcp dport 22 accept
    tcp dport { 80, 443,
                8443 } accept
    counter drop
  }
  chain forward { type filter hook forward priority filter; policy drop; }
}
"""
ACCEPT_ALL = """table inet filter {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 23 drop
  }
}
"""
IPV4_ONLY = """table ip filter {
  chain INPUT {
    type filter hook input priority filter; policy drop;
    iif lo accept
  }
}
"""


@pytest.fixture(scope="module")
def sudoers(sshd_factory: SshdFactory) -> Iterator[None]:
    user = sshd_factory.start(1)[0].user
    with sudo_rule(user, [f"{SS} -H -tlnp", f"{NFT} list ruleset"]):
        yield


@pytest.fixture(scope="module")
def lab(sshd_factory: SshdFactory, sudoers: None) -> Iterator[NetnsHost]:
    host = NetnsHost(sshd_factory.start(1)[0]).start()
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def ruleset(lab: NetnsHost) -> Iterator[None]:
    yield
    lab.run("nft", "flush", "ruleset")


def load(lab: NetnsHost, rules: str) -> None:
    lab.run("nft", "flush", "ruleset")
    if rules:
        lab.run("nft", "-f", "-", stdin=rules)


def ctx_for(tmp_path: Path, lab: NetnsHost, *, sudo: bool = True, extra: str = ""
            ) -> CheckContext:
    return make_ctx(tmp_path, lab.toml("lab", sudo=sudo) + "\n[checklist.hosts]\n" + extra)


def listener(lab: NetnsHost, address: str) -> int:
    """A plain TCP listener (python3) inside the namespace; returns its port."""
    port = free_port()
    lab.spawn(sys.executable, "-c", "import socket,time; s=socket.socket(); "
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
              f"s.bind(({address!r}, {port})); s.listen(); time.sleep(600)")
    lab.wait_listening(port)
    return port


def redis(lab: NetnsHost, address: str) -> int:
    port = free_port()
    lab.spawn("redis-server", "--port", str(port), "--bind", address, "--save", "",
              "--appendonly", "no", "--protected-mode", "no")
    lab.wait_listening(port)
    return port


# -- listening sockets ----------------------------------------------------------------------------

@pytest.mark.needs(tools=("redis-server",))
def test_redis_on_all_interfaces_is_found_by_its_process_name_on_any_port(
        tmp_path: Path, lab: NetnsHost) -> None:
    port = redis(lab, "0.0.0.0")  # in the test's own namespace
    result = run(ctx_for(tmp_path, lab), "net.datastores_private")
    mine = [f for f in result.findings if f.evidence.get("port") == port]
    assert [f.code for f in mine] == ["DATASTORE_PUBLIC"]
    assert mine[0].subject == "lab" and mine[0].severity is Severity.CRITICAL
    assert mine[0].evidence["service"] == "redis"
    assert mine[0].evidence["processes"] == ["redis-server"]
    assert f"0.0.0.0:{port}" in mine[0].evidence["addresses"]


@pytest.mark.needs(tools=("redis-server",))
def test_redis_on_loopback_passes_and_is_listed_as_evidence(
        tmp_path: Path, lab: NetnsHost) -> None:
    port = redis(lab, "127.0.0.1")
    ctx = ctx_for(tmp_path, lab, extra=f"private_ports = {{ redis = [{port}] }}\n")
    result = run(ctx, "net.datastores_private")
    assert not [f for f in result.findings if f.evidence.get("port") == port]
    evidence = result.evidence["hosts"]["lab"]
    assert f"redis 127.0.0.1:{port} loopback (redis-server)" in evidence["private"]
    assert evidence["source"] == "ss -H -tlnp" and port in evidence["watched_ports"]


def test_a_configured_private_port_on_all_interfaces_is_a_dashboard_finding(
        tmp_path: Path, lab: NetnsHost) -> None:
    public, private = listener(lab, "0.0.0.0"), listener(lab, "127.0.0.1")
    ctx = ctx_for(tmp_path, lab, extra=f"private_ports = {{ flower = [{public}, {private}] }}\n")
    result = run(ctx, "net.dashboards_private")
    assert [(f.code, f.evidence["port"]) for f in result.findings] == [
        ("DASHBOARD_PUBLIC", public)]
    assert any(p.startswith(f"flower 127.0.0.1:{private} loopback")
               for p in result.evidence["hosts"]["lab"]["private"])


@pytest.fixture(scope="module")
def addresses(lab: NetnsHost) -> tuple[str, str]:
    """A private (RFC 1918) and a public (TEST-NET-3, RFC 5737) address, added to the
    namespace's own lo (no dummy/veth driver is needed; the address is what ss shows)."""
    lab.run("ip", "addr", "add", "10.99.0.1/32", "dev", "lo")
    lab.run("ip", "addr", "add", "203.0.113.7/32", "dev", "lo")
    return "10.99.0.1", "203.0.113.7"


def test_a_private_address_passes_and_a_public_address_is_a_finding(
        tmp_path: Path, lab: NetnsHost, addresses: tuple[str, str]) -> None:
    private, public = listener(lab, addresses[0]), listener(lab, addresses[1])
    ctx = ctx_for(tmp_path, lab, extra=f"private_ports = {{ mysql = [{private}, {public}] }}\n")
    result = run(ctx, "net.datastores_private")
    mine = [f for f in result.findings if f.evidence.get("port") in (private, public)]
    assert [(f.code, f.evidence["addresses"]) for f in mine] == [
        ("DATASTORE_PUBLIC", [f"203.0.113.7:{public}"])]
    assert any(p.startswith(f"mysql 10.99.0.1:{private} private")
               for p in result.evidence["hosts"]["lab"]["private"])


def test_without_sudo_addresses_are_still_judged(tmp_path: Path, lab: NetnsHost) -> None:
    # As the login user, `ss -p` cannot see root's processes; the check falls back to ss -tln.
    public = listener(lab, "0.0.0.0")
    ctx = ctx_for(tmp_path, lab, sudo=False, extra=f"private_ports = {{ redis = [{public}] }}\n")
    result = run(ctx, "net.datastores_private")
    mine = [f for f in result.findings if f.evidence.get("port") == public]
    assert [f.code for f in mine] == ["DATASTORE_PUBLIC"]
    assert result.evidence["hosts"]["lab"]["source"].startswith("ss -H -tln")


# -- firewall -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rules", [DEFAULT_DENY, FINAL_REJECT, FINAL_DROP_WITH_SETS],
                         ids=["policy-drop", "final-reject", "final-drop-with-sets"])
def test_default_deny_ruleset_passes(tmp_path: Path, lab: NetnsHost, ruleset: None,
                                     rules: str) -> None:
    load(lab, rules)
    result = run(ctx_for(tmp_path, lab), "net.firewall")
    assert result.findings == []
    assert result.evidence["hosts"]["lab"]["nft"][0].startswith("inet filter input")


@pytest.mark.parametrize("rules", [ACCEPT_ALL, ""], ids=["accept-all", "empty"])
def test_accepting_or_empty_ruleset_is_a_finding(tmp_path: Path, lab: NetnsHost, ruleset: None,
                                                 rules: str) -> None:
    load(lab, rules)
    result = run(ctx_for(tmp_path, lab), "net.firewall")
    assert codes(result) == ["FIREWALL_NOT_DEFAULT_DENY"]
    assert result.findings[0].outcome is Outcome.FAILED and result.findings[0].subject == "lab"


def test_ipv4_only_default_deny_leaves_ipv6_open(tmp_path: Path, lab: NetnsHost,
                                                 ruleset: None) -> None:
    load(lab, IPV4_ONLY)
    result = run(ctx_for(tmp_path, lab), "net.firewall")
    assert codes(result) == ["FIREWALL_IPV6_OPEN"]
    assert result.findings[0].severity is Severity.WARNING


def test_nft_not_permitted_is_unverified(tmp_path: Path, lab: NetnsHost, ruleset: None) -> None:
    load(lab, DEFAULT_DENY)  # a good ruleset the login user may not read is still not a pass
    result = run(ctx_for(tmp_path, lab, sudo=False, extra='firewall = "nftables"\n'),
                 "net.firewall")
    assert codes(result) == ["FIREWALL_NOT_READABLE"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED


def test_no_firewall_tool_on_the_host_is_unverified(
        tmp_path: Path, sshd_factory: SshdFactory, sudoers: None) -> None:
    hidden = tuple(t for t in ("nft", "ufw") if Path("/usr/sbin", t).exists())
    host = NetnsHost(sshd_factory.start(1)[0], hide=hidden).start()
    try:
        result = run(ctx_for(tmp_path, host), "net.firewall")
    finally:
        host.stop()
    assert codes(result) == ["FIREWALL_TOOL_MISSING"], result.findings
    assert result.findings[0].outcome is Outcome.UNVERIFIED
