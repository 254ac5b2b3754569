"""deps.audit with the real pip-audit and the real npm.

Offline is simulated honestly: pip-audit is sent through a proxy on a closed loopback port
(HTTPS_PROXY), npm to a registry on a closed loopback port — the same failures a machine
without network gives. Vulnerable results come from tests/checklist/advisory_fake.py (no real
advisory service can run here; its docstring says why), reached through the tools' own
switches: [checklist.repo] osv_url for pip-audit, the npm registry setting for npm."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from breakglass.checklist.audit import parse_pip_audit
from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.engine.findings import Outcome, Severity, exit_code
from breakglass.errors import EXIT_FINDING, EXIT_OK, EXIT_UNVERIFIED
from tests.checklist.advisory_fake import MINIMIST, REQUESTS_2_19, AdvisoryFake, serve
from tests.checklist.context import codes, make_ctx, run
from tests.servers._util import free_port

ITEM = "deps.audit"
# A hashed requirements file: pip-audit audits it as listed (--disable-pip), installing nothing.
HASHED = ("requests==2.19.0 \\\n    --hash=sha256:"
          "63b52e3c866428a224f97cab011de738c36aec0185aa91cfacd418b5d58911d1\n"
          "idna==3.7 \\\n    --hash=sha256:"
          "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0\n")
PACKAGE = {"name": "app", "version": "1.0.0", "dependencies": {"minimist": "1.2.0"}}
LOCK = {"name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"name": "app", "version": "1.0.0",
                          "dependencies": {"minimist": "1.2.0"}},
                     "node_modules/minimist": {
                         "version": "1.2.0",
                         "resolved": "https://registry.npmjs.org/minimist/-/minimist-1.2.0.tgz",
                         "integrity": "sha512-7Wl+Jz+IGWuSdgsQEJ4JunV0si/iMhg42MnQQG6h1R6TNeVenp4"
                                      "U9x5CC5v/gYqz/fENLQITAWXidNtVL0NNbw=="}}}


@pytest.fixture
def advisory_fake() -> Iterator[AdvisoryFake]:
    with serve() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_proxy_surprises(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def python_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(HASHED)
    return root


def node_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps(PACKAGE))
    (root / "package-lock.json").write_text(json.dumps(LOCK))
    return root


def test_nothing_configured_is_not_configured_and_suggests_the_files_found(
        tmp_path: Path) -> None:
    python_project(tmp_path)
    node_project(tmp_path)
    result = run(make_ctx(tmp_path, ""), ITEM)
    assert codes(result) == ["NOT_CONFIGURED"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED
    assert result.evidence["candidates"] == ["requirements.txt", "package-lock.json"]
    assert "requirements.txt" in result.findings[0].action


def test_a_vulnerable_python_package_is_named_with_advisories_and_fix(
        tmp_path: Path, advisory_fake: AdvisoryFake) -> None:
    advisory_fake.osv[("requests", "2.19.0")] = [REQUESTS_2_19]
    python_project(tmp_path)
    ctx = make_ctx(tmp_path, f'[checklist.repo]\npython = ["requirements.txt"]\n'
                             f'osv_url = "{advisory_fake.url}/v1/query"\n')
    result = run(ctx, ITEM)
    assert codes(result) == ["PYTHON_VULNERABLE"]
    f = result.findings[0]
    assert f.evidence["package"] == "requests" and f.evidence["version"] == "2.19.0"
    # pip-audit picks the primary id (PYSEC first) and lists the others as aliases
    assert sorted(f.evidence["ids"]) == ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg", "PYSEC-2018-28"]
    assert f.evidence["fix_versions"] == ["2.20.0"]
    assert "upgrade to 2.20.0" in f.action
    assert f.severity is BY_ID[ITEM].severity  # pip-audit gives no severity: the item's
    assert result.evidence["python"]["requirements.txt"]["packages_audited"] == 2
    assert advisory_fake.calls == ["POST /v1/query", "POST /v1/query"]
    assert exit_code(result.findings) == EXIT_FINDING


def test_python_with_no_known_vulnerabilities_passes(tmp_path: Path,
                                                     advisory_fake: AdvisoryFake) -> None:
    python_project(tmp_path)
    ctx = make_ctx(tmp_path, f'[checklist.repo]\npython = ["requirements.txt"]\n'
                             f'osv_url = "{advisory_fake.url}/v1/query"\n')
    result = run(ctx, ITEM)
    assert result.findings == []
    assert result.evidence["python"]["requirements.txt"] == {
        "tool": "pip-audit", "mode": "as listed (hashed)", "packages_audited": 2,
        "vulnerable": [], "not_audited": []}


def test_python_offline_is_unverified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed}")
    python_project(tmp_path)
    ctx = make_ctx(tmp_path, '[checklist.repo]\npython = ["requirements.txt"]\n')
    result = evaluate(ctx, BY_ID[ITEM])
    assert codes(result) == ["PIP_AUDIT_FAILED"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED
    assert exit_code(result.findings) == EXIT_UNVERIFIED


def test_pip_audit_missing_is_unverified_with_the_install_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    monkeypatch.setenv("PATH", str(empty))
    python_project(tmp_path)
    result = run(make_ctx(tmp_path, '[checklist.repo]\npython = ["requirements.txt"]\n'), ITEM)
    assert codes(result) == ["PIP_AUDIT_MISSING"]
    assert "pip install pip-audit" in result.findings[0].action
    assert exit_code(result.findings) == EXIT_UNVERIFIED


def test_dependencies_pip_audit_could_not_look_up_are_unverified_unless_private() -> None:
    # What pip-audit prints when PyPI answers 404 for a package (it then says "No known
    # vulnerabilities found" and exits 0).
    report = {"dependencies": [
        {"name": "requests", "skip_reason": "Dependency not found on PyPI and could not be "
                                            "audited: requests (2.19.0)"},
        {"name": "acme_internal", "skip_reason": "Dependency not found on PyPI and could not "
                                                 "be audited: acme_internal (1.0)"},
        {"name": "idna", "version": "3.7", "vulns": []}], "fixes": []}
    audit = parse_pip_audit(report, "requirements.txt", private=["acme-internal"])
    assert audit.packages == 1
    assert [n for n, _ in audit.not_audited] == ["requests"]


def test_a_vulnerable_npm_package_is_named_with_npm_severity(
        tmp_path: Path, advisory_fake: AdvisoryFake, monkeypatch: pytest.MonkeyPatch) -> None:
    advisory_fake.npm["minimist"] = [MINIMIST]
    advisory_fake.versions["minimist"] = ["0.0.8", "1.2.0", "1.2.5", "1.2.8"]
    monkeypatch.setenv("npm_config_registry", advisory_fake.url + "/")
    node_project(tmp_path / "web")
    result = run(make_ctx(tmp_path, '[checklist.repo]\nnode = ["web"]\n'), ITEM)
    assert codes(result) == ["NPM_VULNERABLE"]
    f = result.findings[0]
    assert f.severity is Severity.WARNING  # npm's "moderate"
    assert f.evidence["package"] == "minimist" and f.evidence["version"] == "1.2.0"
    assert f.evidence["ids"] == ["GHSA-vh95-rmgr-6w4m"]
    assert f.evidence["fix_versions"] == ["minimist@1.2.8"]
    assert f.subject == "web"
    assert "POST /-/npm/v1/security/advisories/bulk" in advisory_fake.calls


def test_npm_with_no_advisories_passes(tmp_path: Path, advisory_fake: AdvisoryFake,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("npm_config_registry", advisory_fake.url + "/")
    node_project(tmp_path / "web")
    result = run(make_ctx(tmp_path, '[checklist.repo]\nnode = ["web"]\n'), ITEM)
    assert result.findings == []
    assert result.evidence["node"]["web"]["packages_audited"] >= 1
    assert exit_code(result.findings) == EXIT_OK


def test_npm_offline_is_unverified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{free_port()}/")
    node_project(tmp_path / "web")
    result = evaluate(make_ctx(tmp_path, '[checklist.repo]\nnode = ["web"]\n'), BY_ID[ITEM])
    assert codes(result) == ["NPM_AUDIT_FAILED"]
    assert exit_code(result.findings) == EXIT_UNVERIFIED


def test_a_node_folder_without_lock_file_is_unverified(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text(json.dumps(PACKAGE))
    result = run(make_ctx(tmp_path, '[checklist.repo]\nnode = ["web"]\n'), ITEM)
    assert codes(result) == ["NPM_NO_LOCKFILE"]
    assert exit_code(result.findings) == EXIT_UNVERIFIED
