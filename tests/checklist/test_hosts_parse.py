"""The host checks' readers of tool output, on output forms the real-host tests cannot produce
here: ufw (not installed on the test machine), IPv6 and interface-scoped `ss` addresses,
rulesets with sets and several tables, OpenSSH < 8.7's setting names, a cut-short script."""

from __future__ import annotations

from breakglass.checklist.checks.hosts import (
    exposure,
    judge_firewall,
    judge_nft,
    judge_ufw,
    parse_ss,
    parse_sshd_t,
)
from breakglass.checklist.hostfacts import HostFacts, Section, parse, script

UFW_ON = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    203.0.113.4
80,443/tcp                 ALLOW IN    Anywhere
"""
UFW_ALLOW = UFW_ON.replace("Default: deny (incoming)", "Default: allow (incoming)")
UFW_OFF = "Status: inactive\n"


def test_ufw_active_with_default_deny_incoming_is_default_deny() -> None:
    assert judge_ufw(UFW_ON) == (True, "status active, default deny (incoming)")
    assert judge_ufw(UFW_ALLOW)[0] is False
    assert judge_ufw(UFW_OFF) == (False, "status inactive, default unknown (incoming)")


def _facts(**sections: Section) -> HostFacts:
    return HostFacts("web1", "web1 (deploy@203.0.113.5:22)", True, 0.0, 1.0, sections)


def test_ufw_default_deny_passes_even_when_nft_is_not_readable() -> None:
    f = _facts(ufw=Section("ok", 0, UFW_ON), nft=Section("failed", 1, "sudo: a password is "
                                                                      "required"))
    assert judge_firewall("net.firewall", f, "auto")[0] == []


def test_inactive_ufw_and_unreadable_nft_is_unverified_not_failed() -> None:
    f = _facts(ufw=Section("ok", 0, UFW_OFF), nft=Section("failed", 1, "denied"))
    findings, _ = judge_firewall("net.firewall", f, "auto")
    assert [x.code for x in findings] == ["FIREWALL_NOT_READABLE"]


def test_inactive_ufw_without_nft_is_a_finding() -> None:
    f = _facts(ufw=Section("ok", 0, UFW_OFF), nft=Section("missing", None, ""))
    findings, evidence = judge_firewall("net.firewall", f, "auto")
    assert [x.code for x in findings] == ["FIREWALL_NOT_DEFAULT_DENY"]
    assert evidence == {"ufw": "status inactive, default unknown (incoming)",
                        "nft": "not installed"}


def test_firewall_ufw_mode_ignores_nft() -> None:
    f = _facts(ufw=Section("missing", None, ""), nft=Section("ok", 0, ""))
    findings, _ = judge_firewall("net.firewall", f, "ufw")
    assert [x.code for x in findings] == ["FIREWALL_TOOL_MISSING"]


RULESET = """table ip nat {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tmasquerade
\t}
}
table inet filter {
\tset allowed {
\t\ttype ipv4_addr
\t\telements = { 192.0.2.1,
\t\t\t     192.0.2.2 }
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tip saddr { 192.0.2.1,
\t\t\t   192.0.2.2 } accept
\t\tct state established,related accept
\t\tcounter packets 12 bytes 3456 drop
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy drop;
\t}
}
"""


def test_nft_final_unconditional_drop_counts_and_sets_are_not_rules() -> None:
    covered, chains = judge_nft(RULESET)
    assert covered == {"ipv4", "ipv6"}
    assert chains == ["inet filter input: policy accept, last rule "
                      "`counter packets 12 bytes 3456 drop`"]


def test_nft_conditional_last_drop_and_forward_policy_do_not_count() -> None:
    text = RULESET.replace("counter packets 12 bytes 3456 drop", "tcp dport 23 drop")
    assert judge_nft(text)[0] == set()


def test_ss_addresses_are_classified() -> None:
    assert [exposure(a) for a in ("0.0.0.0", "*", "[::]", "127.0.0.1", "[::1]",
                                  "[::ffff:127.0.0.1]", "127.0.0.53%lo", "10.1.2.3",
                                  "172.20.0.1", "192.168.1.2", "100.101.102.103",
                                  "[fd12:3456::1]", "203.0.113.5", "[2001:db8::1]",
                                  "169.254.1.1", "[fe80::1]%eth0", "0.0.0.0%lo")] == [
        "public", "public", "public", "loopback", "loopback", "loopback", "loopback",
        "private", "private", "private", "private", "private", "public", "public",
        "public", "public", "loopback"]


def test_ss_lines_with_process_names() -> None:
    text = ('LISTEN 0 511 0.0.0.0:6380 0.0.0.0:* users:(("redis-server",pid=7,fd=6))\n'
            'LISTEN 0 244 [::]:5432 [::]:* users:(("postgres",pid=9,fd=7),'
            '("postgres",pid=10,fd=7))\n'
            'LISTEN 0 128 127.0.0.53%lo:53 0.0.0.0:*\n'
            'garbage line\n')
    listeners = parse_ss(text)
    assert [(x.address, x.port, x.processes) for x in listeners] == [
        ("0.0.0.0", 6380, ("redis-server",)), ("[::]", 5432, ("postgres", "postgres")),
        ("127.0.0.53%lo", 53, ())]


def test_old_openssh_challengeresponse_name_is_read_as_kbdinteractive() -> None:
    settings = parse_sshd_t("passwordauthentication no\nchallengeresponseauthentication yes\n")
    assert settings["kbdinteractiveauthentication"] == "yes"


def test_only_markers_with_the_runs_nonce_split_sections_and_a_cut_section_is_absent() -> None:
    text = ("@@breakglass-abc begin sshd\npermitrootlogin no\n"
            "@@breakglass-evil end sshd 0\n\n@@breakglass-abc end sshd 0\n"
            "@@breakglass-abc begin ss\nLISTEN 0 1 0.0.0.0:1 0.0.0.0:*\n")
    sections = parse(text, "abc")
    assert sections["sshd"] == Section("ok", 0, "permitrootlogin no\n@@breakglass-evil end "
                                                 "sshd 0")
    assert "ss" not in sections


def test_the_script_quotes_the_config_path_and_uses_sudo_per_command() -> None:
    text = script("n0", sudo=True, sshd_config="/etc/ssh/my config")
    assert "sec sshd sshd sudo -n sshd -T -f '/etc/ssh/my config'" in text
    assert "sec nft nft sudo -n nft list ruleset" in text
    assert "sudo -n sh" not in text  # never a root shell: sudo for exactly these commands
