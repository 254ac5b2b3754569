"""ssh.hardened against real sshd hosts (tests/servers/sshd.py), and how the host checks ask
hosts: once per run, all at once within [checklist.hosts] max_parallel, an unreachable host
UNVERIFIED while the others are judged.

`sshd -T -f CONF` reads a config this module writes (good: keys only; bad: passwords and root)
through `sudo -n`, allowed by a sudoers rule for exactly those command lines (hostlab.py says
why sudo rather than readable host keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from breakglass.checklist.model import CheckContext
from breakglass.engine.findings import Outcome, Severity
from tests.checklist.context import codes, make_ctx, run
from tests.checklist.hostlab import host_toml, sudo_rule
from tests.servers._util import free_port, private_tmpdir, remove_tree
from tests.servers.sshd import SSHD, SshdFactory, SshdServer

pytestmark = pytest.mark.needs(tools=("sudo",))

GOOD = """HostKey {key}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PubkeyAuthentication yes
UsePAM yes
"""
BAD = """HostKey {key}
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin yes
PubkeyAuthentication yes
UsePAM yes
"""
ROOT_KEYS = GOOD.replace("PermitRootLogin no", "PermitRootLogin prohibit-password")
PAM_KBD = GOOD.replace("KbdInteractiveAuthentication no", "KbdInteractiveAuthentication yes")


@pytest.fixture(scope="module")
def hosts(sshd_factory: SshdFactory) -> list[SshdServer]:
    return sshd_factory.start(2)


@pytest.fixture(scope="module")
def confs(hosts: list[SshdServer]) -> Iterator[dict[str, Path]]:
    """sshd configs for the check to read, and sudo for exactly `sshd -T -f` of each."""
    base = private_tmpdir("bg-sshdconf-")
    base.chmod(0o755)
    key = hosts[0].base_dir / "ssh_host_ed25519_key"  # root-only 0600, as on a real host
    paths = {}
    for name, text in (("good", GOOD), ("bad", BAD), ("rootkeys", ROOT_KEYS),
                       ("pamkbd", PAM_KBD)):
        paths[name] = base / name
        paths[name].write_text(text.format(key=key))
    with sudo_rule(hosts[0].user, [f"{SSHD} -T -f {p}" for p in paths.values()]):
        yield paths
    remove_tree(base)


def ctx_for(tmp_path: Path, hosts: list[SshdServer], conf: Path, *, sudo: bool = True,
            extra: str = "", down: tuple[int, ...] = ()) -> CheckContext:
    tables = "".join(host_toml(f"h{i}", s, sudo=sudo, port=free_port() if i in down else None)
                     + "\n" for i, s in enumerate(hosts))
    return make_ctx(tmp_path, f'{tables}[checklist.hosts]\nsshd_config = "{conf}"\n{extra}')


def test_keys_only_sshd_passes_with_the_effective_settings_as_evidence(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    result = run(ctx_for(tmp_path, hosts[:1], confs["good"]), "ssh.hardened")
    assert result.findings == []
    assert result.evidence["hosts"]["h0"]["sshd"] == {
        "passwordauthentication": "no", "kbdinteractiveauthentication": "no",
        "permitrootlogin": "no", "pubkeyauthentication": "yes", "usepam": "yes"}
    assert result.evidence["sshd_config"] == str(confs["good"])


def test_password_and_root_login_are_one_finding_each_per_host(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    result = run(ctx_for(tmp_path, hosts, confs["bad"]), "ssh.hardened")
    assert sorted((f.subject, f.code) for f in result.findings) == [
        ("h0", "SSH_PASSWORD_AUTH"), ("h0", "SSH_ROOT_LOGIN"),
        ("h1", "SSH_PASSWORD_AUTH"), ("h1", "SSH_ROOT_LOGIN")]
    assert all(f.outcome is Outcome.FAILED and f.severity is Severity.CRITICAL
               for f in result.findings)
    assert "PasswordAuthentication no" in result.findings[0].action


def test_root_login_with_keys_only_is_a_warning(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    result = run(ctx_for(tmp_path, hosts[:1], confs["rootkeys"]), "ssh.hardened")
    assert codes(result) == ["SSH_ROOT_LOGIN_KEYS"]
    assert result.findings[0].severity is Severity.WARNING
    assert result.findings[0].evidence["permitrootlogin"] == "without-password"


def test_keyboard_interactive_through_pam_counts_as_password_login(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    result = run(ctx_for(tmp_path, hosts[:1], confs["pamkbd"]), "ssh.hardened")
    assert codes(result) == ["SSH_KBD_INTERACTIVE"]
    assert result.findings[0].severity is Severity.CRITICAL


def test_sshd_t_refused_without_sudo_is_unverified_never_a_pass(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    # As the login user, sshd -T cannot load the root-only host key and exits non-zero.
    result = run(ctx_for(tmp_path, hosts[:1], confs["good"], sudo=False), "ssh.hardened")
    assert codes(result) == ["SSHD_T_FAILED"]
    finding = result.findings[0]
    assert finding.outcome is Outcome.UNVERIFIED and finding.subject == "h0"
    assert "hosts.h0.sudo = true" in finding.action


def test_unreachable_host_is_unverified_and_the_other_host_is_still_judged(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    result = run(ctx_for(tmp_path, hosts, confs["bad"], down=(0,)), "ssh.hardened")
    by_host = {(f.subject, f.code): f for f in result.findings}
    assert by_host[("h0", "HOST_UNREACHABLE")].outcome is Outcome.UNVERIFIED
    assert {("h1", "SSH_PASSWORD_AUTH"), ("h1", "SSH_ROOT_LOGIN")} <= set(by_host)
    assert len(result.findings) == 3


def test_no_hosts_is_not_configured(tmp_path: Path) -> None:
    for item in ("ssh.hardened", "net.datastores_private", "net.dashboards_private",
                 "net.firewall"):
        result = run(make_ctx(tmp_path, ""), item)
        assert codes(result) == ["NOT_CONFIGURED"]
        assert result.findings[0].outcome is Outcome.UNVERIFIED


@pytest.fixture(scope="module")
def fleet(sshd_factory: SshdFactory) -> list[SshdServer]:
    return sshd_factory.start(16)


def _accepted(server: SshdServer) -> int:
    return (server.base_dir / "sshd.log").read_text().count("Accepted publickey")


def test_facts_are_gathered_once_per_host_for_all_four_checks(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    ctx = ctx_for(tmp_path, hosts, confs["good"])
    before = [_accepted(s) for s in hosts]
    results = [run(ctx, item) for item in ("ssh.hardened", "net.datastores_private",
                                           "net.dashboards_private", "net.firewall")]
    assert [_accepted(s) - b for s, b in zip(hosts, before, strict=True)] == [1, 1]
    windows = {str(r.evidence["asked"]["windows"]) for r in results}
    assert len(windows) == 1  # every check judged the same answers


def _max_overlap(windows: dict[str, dict[str, float]]) -> int:
    """The most hosts being asked at the same instant (from each host's own start/end)."""
    events = sorted([(w["started"], 1) for w in windows.values()]
                    + [(w["finished"], -1) for w in windows.values()],
                    key=lambda e: (e[0], e[1]))  # an end sorts before a start at the same time
    now = best = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def test_sixteen_hosts_are_asked_concurrently(
        tmp_path: Path, fleet: list[SshdServer], confs: dict[str, Path]) -> None:
    result = run(ctx_for(tmp_path, fleet, confs["good"]), "ssh.hardened")
    assert result.findings == []
    asked = result.evidence["asked"]
    assert asked["max_parallel"] == 16 and len(asked["windows"]) == 16
    # Every host's question began before any host's answer came back: all 16 at once.
    starts = [w["started"] for w in asked["windows"].values()]
    ends = [w["finished"] for w in asked["windows"].values()]
    assert max(starts) < min(ends)
    assert _max_overlap(asked["windows"]) == 16


def test_max_parallel_bounds_how_many_hosts_are_asked_at_once(
        tmp_path: Path, fleet: list[SshdServer], confs: dict[str, Path]) -> None:
    ctx = ctx_for(tmp_path, fleet[:8], confs["good"], extra="max_parallel = 2\n")
    result = run(ctx, "ssh.hardened")
    assert result.findings == [] and len(result.evidence["asked"]["windows"]) == 8
    assert _max_overlap(result.evidence["asked"]["windows"]) <= 2


def test_a_host_without_its_known_hosts_file_is_unverified_and_never_trusted(
        tmp_path: Path, hosts: list[SshdServer], confs: dict[str, Path]) -> None:
    ctx_for(tmp_path, hosts, confs["good"])  # writes the config this test edits
    text = (tmp_path / "breakglass.toml").read_text().replace(
        f'known_hosts = "{hosts[0].known_hosts}"', f'known_hosts = "{tmp_path}/missing"', 1)
    ctx = make_ctx(tmp_path / "b", text.split("\n\n", 1)[1])
    result = run(ctx, "ssh.hardened")
    assert [(f.subject, f.code) for f in result.findings] == [("h0", "HOST_CONFIG_INVALID")]
    assert result.findings[0].outcome is Outcome.UNVERIFIED
    assert result.evidence["hosts"]["h1"]["sshd"]["passwordauthentication"] == "no"
