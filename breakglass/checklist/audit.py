"""Dependency audits for `deps.audit` (docs/checks/repo.md): pip-audit on Python requirement
files, `npm audit` on Node projects, both read through their JSON output.

    pip-audit -r FILE --format json --progress-spinner off [--disable-pip] [-s osv --osv-url U]
    npm audit --omit=dev --json            (in the folder holding package-lock.json)

Both tools are run as they are (PyPI Advisory Database / OSV for pip-audit, the registry's bulk
advisory endpoint for npm); anything short of a report — the tool missing, offline, a service
error, a timeout, a dependency the service did not know — raises CouldNotVerify or is listed as
not audited: never a pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breakglass.connectors import process
from breakglass.errors import CouldNotVerify

PIP_AUDIT_INSTALL = "pip install pip-audit (into breakglass's environment, or pipx install " \
                    "pip-audit)"
_USERINFO = re.compile(r"(://)[^/\s@]+@")  # an index URL's user:token, in a tool's message


@dataclass(frozen=True)
class Vulnerable:
    """One vulnerable package of one audited file or folder."""

    package: str
    version: str
    ids: tuple[str, ...]
    fix_versions: tuple[str, ...]
    #: npm's severity (critical/high/moderate/low/info); pip-audit gives none
    severity: str | None = None
    titles: tuple[str, ...] = ()
    #: npm: the packages whose versions depend on this one
    effects: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"package": self.package, "version": self.version,
                             "ids": list(self.ids), "fix_versions": list(self.fix_versions)}
        if self.severity:
            d["severity"] = self.severity
        if self.effects:
            d["effects"] = list(self.effects)
        return d


@dataclass
class Audit:
    tool: str
    source: str
    packages: int
    vulnerable: list[Vulnerable] = field(default_factory=list)
    #: (package, why) the tool could not audit
    not_audited: list[tuple[str, str]] = field(default_factory=list)
    mode: str = ""


# -- pip-audit -------------------------------------------------------------------------------------

def pip_audit_binary() -> str | None:
    """pip-audit next to this Python (the same venv) first, then on PATH."""
    beside = Path(sys.executable).parent / "pip-audit"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("pip-audit")


def pip_audit(binary: str, requirements: Path, *, osv_url: str | None, timeout: float,
              private: Sequence[str] = (), cache_dir: Path | None = None) -> Audit:
    """`cache_dir`: pip-audit's HTTP cache of PyPI answers (default: pip's own cache, shared
    with every pip on the machine); breakglass keeps its own under the state dir."""
    if not requirements.is_file():
        raise CouldNotVerify(f"{requirements} does not exist", code="AUDIT_INPUT_MISSING",
                             action="fix [checklist.repo] python (paths are relative to the "
                                    "config file)")
    args = [binary, "-r", str(requirements), "--format", "json", "--progress-spinner", "off"]
    hashed = "--hash" in requirements.read_text(errors="replace")
    if hashed:
        # A hashed file lists every package (pip's --require-hashes demands it), so pip-audit
        # audits it as written, without installing anything into a temporary venv.
        args.append("--disable-pip")
    if osv_url:
        args += ["--vulnerability-service", "osv", "--osv-url", osv_url]
    if cache_dir is not None:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        args += ["--cache-dir", str(cache_dir)]
    out, err, code = _run(args, requirements.parent, timeout, "pip-audit")
    try:
        report = json.loads(out)
        if not isinstance(report, dict) or "dependencies" not in report:
            raise ValueError("no dependencies")
    except ValueError:
        # pip-audit exits 1 both for "vulnerable" (with a report) and for errors (no report).
        raise CouldNotVerify(f"pip-audit could not audit {requirements.name} (exit {code}): "
                             f"{_last_line(err)}", code="PIP_AUDIT_FAILED",
                             action="make sure the vulnerability service is reachable (PyPI, "
                             "or [checklist.repo] osv_url) and the requirements install; run "
                             f"`pip-audit -r {requirements}` to see why") from None
    audit = parse_pip_audit(report, str(requirements), private)
    audit.mode = "as listed (hashed)" if hashed else "resolved by pip"
    return audit


def parse_pip_audit(report: Mapping[str, Any], source: str, private: Sequence[str] = ()
                    ) -> Audit:
    """pip-audit's JSON (`{"dependencies": [{name, version, vulns: [{id, fix_versions,
    aliases}]} | {name, skip_reason}]}`) as an Audit. A skipped dependency was not audited:
    pip-audit reports "No known vulnerabilities" when PyPI answered 404 for every package, so
    a skip is never silence (unless the package is listed as private)."""
    mine = {_canon(p) for p in private}
    audit = Audit("pip-audit", source, 0)
    for dep in report.get("dependencies", []):
        name = str(dep.get("name", "?"))
        if "skip_reason" in dep:
            if _canon(name) not in mine:
                audit.not_audited.append((name, str(dep["skip_reason"])))
            continue
        audit.packages += 1
        vulns = dep.get("vulns") or []
        if vulns:
            ids = [i for v in vulns for i in (v.get("id"), *(v.get("aliases") or [])) if i]
            fixes = sorted({f for v in vulns for f in v.get("fix_versions") or []},
                           key=_version_key)
            audit.vulnerable.append(Vulnerable(name, str(dep.get("version", "?")),
                                               tuple(dict.fromkeys(ids)), tuple(fixes)))
    return audit


# -- npm audit -------------------------------------------------------------------------------------

def npm_binary() -> str | None:
    return shutil.which("npm")


def npm_audit(npm: str, folder: Path, *, timeout: float) -> Audit:
    lock = next((folder / n for n in ("package-lock.json", "npm-shrinkwrap.json")
                 if (folder / n).is_file()), None)
    if lock is None:
        raise CouldNotVerify(f"{folder} has no package-lock.json: npm audit needs the lock file",
                             code="NPM_NO_LOCKFILE",
                             action=f"commit a lock file (`npm install --package-lock-only` in "
                                    f"{folder}) or fix [checklist.repo] node")
    out, err, code = _run([npm, "audit", "--omit=dev", "--json"], folder, timeout, "npm audit")
    try:
        report = json.loads(out)
        if not isinstance(report, dict) or "vulnerabilities" not in report:
            raise ValueError("no report")
    except ValueError:
        message = ""
        with contextlib.suppress(ValueError, AttributeError):  # npm's error JSON: {message}
            message = str(json.loads(out).get("message", ""))
        raise CouldNotVerify(f"npm audit in {folder} failed (exit {code}): "
                             f"{_clean(message) or _last_line(err)}", code="NPM_AUDIT_FAILED",
                             action="make sure the registry's advisory endpoint is reachable "
                                    f"(npm config get registry); run `npm audit` in {folder}"
                             ) from None
    return parse_npm_audit(report, str(folder), _lock_versions(lock))


def parse_npm_audit(report: Mapping[str, Any], source: str, versions: Mapping[str, str]
                    ) -> Audit:
    """npm's audit report v2 (`{"vulnerabilities": {name: {severity, via, nodes, range,
    fixAvailable}}}`). A package whose `via` holds only names is vulnerable through another
    one: it is listed as that one's effect, not twice."""
    meta = report.get("metadata", {}).get("dependencies", {})
    audit = Audit("npm audit", source, int(meta.get("prod", meta.get("total", 0)) or 0),
                  mode="--omit=dev")
    vulns: Mapping[str, Any] = report.get("vulnerabilities", {})
    for name, v in sorted(vulns.items()):
        advisories = [a for a in v.get("via", []) if isinstance(a, dict)]
        if not advisories:
            continue
        ids = [_advisory_id(a) for a in advisories]
        installed = sorted({versions.get(n, "?") for n in v.get("nodes", [])}) or ["?"]
        fix = v.get("fixAvailable")
        if isinstance(fix, dict):
            fixes = [f"{fix.get('name')}@{fix.get('version')}"
                     + (" (semver-major)" if fix.get("isSemVerMajor") else "")]
        else:
            fixes = ["npm audit fix"] if fix else []
        audit.vulnerable.append(Vulnerable(
            name, ", ".join(installed), tuple(dict.fromkeys(ids)), tuple(fixes),
            str(v.get("severity", "")) or None,
            tuple(str(a.get("title", "")) for a in advisories),
            tuple(sorted(str(e) for e in v.get("effects", [])))))
    return audit


def _advisory_id(advisory: Mapping[str, Any]) -> str:
    url = str(advisory.get("url", ""))
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last if last.startswith("GHSA-") else f"npm:{advisory.get('source', '?')}"


def _lock_versions(lock: Path) -> dict[str, str]:
    """node path ("node_modules/a/node_modules/b") -> installed version, from a v2/v3 lock."""
    try:
        data = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v.get("version", "?")) for k, v in (data.get("packages") or {}).items()
            if isinstance(v, dict)}


# -- running ---------------------------------------------------------------------------------------

def _run(args: list[str], cwd: Path, timeout: float, tool: str) -> tuple[str, str, int]:
    try:
        proc = process.run(args, cwd=cwd, capture_output=True, text=True, errors="replace",
                           timeout=timeout, stdin=subprocess.DEVNULL,
                           inherit=(*process.HOME, *process.NETWORK))
    except subprocess.TimeoutExpired:
        raise CouldNotVerify(f"{tool} in {cwd} took longer than {timeout:g}s",
                             code="AUDIT_TIMEOUT", action="raise [checklist.repo] audit_timeout "
                             "or check the network to the vulnerability service") from None
    except OSError as exc:
        raise CouldNotVerify(f"{tool} could not start: {exc.strerror}", code="AUDIT_FAILED",
                             action=f"check the {tool} installation") from None
    return proc.stdout, proc.stderr, proc.returncode


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503 normalization


def _version_key(v: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", v))


def _clean(text: str) -> str:
    return _USERINFO.sub(r"\1***@", text.strip())


def _last_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return _clean(lines[-1]) if lines else "no message"
