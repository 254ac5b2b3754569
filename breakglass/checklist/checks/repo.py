"""Repository checks: secrets.not_committed, deps.audit (docs/checks/repo.md).

    secrets.not_committed   breakglass/checklist/secretscan.py: detect-secrets + the seed's
                            pattern over the work tree and every commit's added lines
    deps.audit              breakglass/checklist/audit.py: pip-audit and `npm audit --omit=dev`

The seed (§2): "Secrets must not live in source control … If secrets were committed: rotate
them". A secret that was removed from the tree still fails: every clone keeps the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult, check, not_configured
from breakglass.connectors import git as gitc
from breakglass.engine.findings import Finding, Outcome, Severity, unverified
from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    from breakglass.checklist.audit import Audit
    from breakglass.checklist.secretscan import Hit

NOT_COMMITTED = "secrets.not_committed"
DEPS = "deps.audit"

# npm's severities (https://docs.npmjs.com/about-audit-reports#severity) on ours; "info" is a
# note that does not fail the item.
NPM_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.ERROR,
                "moderate": Severity.WARNING, "low": Severity.WARNING, "info": Severity.INFO}


# -- secrets.not_committed -------------------------------------------------------------------------

@check(NOT_COMMITTED)
def secrets_not_committed(ctx: CheckContext) -> CheckResult:
    from breakglass.checklist import secretscan

    cfg = ctx.config.checklist.repo
    git = gitc.git_path()  # CouldNotVerify GIT_MISSING
    repo = cfg.path or _config_work_tree(git, ctx.config.path)
    if repo is None:
        return not_configured(NOT_COMMITTED, "breakglass.toml is not inside a git work tree and "
                              "[checklist.repo] path is not set",
                              'set [checklist.repo] path = "/path/to/the/app/clone"')
    if not repo.is_dir():
        raise CouldNotVerify(f"[checklist.repo] path {repo} does not exist", code="NOT_A_REPO",
                             action="point [checklist.repo] path at a clone of the app")
    ctx.note(f"scanning {repo} for committed secrets"
             + (" (work tree and history)" if cfg.history else " (work tree)"))
    report = secretscan.scan(git, repo, history=cfg.history, exclude=cfg.exclude,
                             max_commits=cfg.max_commits,
                             timeout=cfg.history_timeout.total_seconds(),
                             register=ctx.redactor.register)
    findings = [_secret_finding(hit) for hit in
                sorted(report.hits, key=lambda h: (str((h.tree or h.history)[0]), h.kind))]
    stats = report.stats
    evidence: dict[str, Any] = {
        "repository": report.repository, "head": report.head or None,
        "tree": stats.tree(), "exclude": list(cfg.exclude),
        "history": stats.history() if cfg.history else "not searched (history = false)",
        "scanner": report.scanner, "secrets_found": len(report.hits)}
    if cfg.history and report.head and not stats.history_complete:
        findings.append(unverified(
            "HISTORY_INCOMPLETE", f"only {stats.commits} of {stats.commits_total} commits of "
            f"{report.repository} were searched ({stats.history_stop})",
            "raise [checklist.repo] max_commits / history_timeout, or search the rest with "
            "`detect-secrets` by hand", NOT_COMMITTED, **stats.history()))
    return CheckResult(findings, evidence)


def _secret_finding(hit: Hit) -> Finding:
    tracked = [loc for loc in hit.tree if loc.tracked]
    untracked = [loc for loc in hit.tree if not loc.tracked]
    first = hit.history[0] if hit.history else None
    since = f"; first committed in {first.commit} ({first})" if first else ""
    if tracked:  # the tree scan lists tracked files first, so the kept ones show them
        code = "SECRET_IN_TREE"
        message = f"{hit.label} is in the work tree at {_places(tracked, hit.tree_count)}{since}"
        action = ("rotate it (`breakglass rotate NAME --leaked` for a secret breakglass "
                  "manages), then replace the literal with an environment variable or a "
                  "secrets-manager reference; deleting the line leaves it in the history")
    elif first is not None:
        code = "SECRET_IN_HISTORY"
        message = (f"{hit.label} was committed at {first} and is no longer in the work tree"
                   + (f" (seen in {hit.history_count} places)" if hit.history_count > 1 else "")
                   + ": every clone still holds it")
        action = ("rotate it: removing it from the tree did not revoke it (`breakglass rotate "
                  "NAME --leaked` also lists the commits to purge); a test value: add its path "
                  "to [checklist.repo] exclude")
    else:
        code = "SECRET_NOT_IGNORED"
        message = (f"{hit.label} is in {_places(untracked, hit.tree_count)}, a file git neither "
                   "tracks nor ignores: the next `git add .` commits it")
        action = "add the file to .gitignore (rotate the secret if the file was ever shared)"
    severity = BY_ID[NOT_COMMITTED].severity
    return Finding(code, message, action, severity, Outcome.FAILED, NOT_COMMITTED, {
        "kind": hit.kind, "fingerprint": hit.fingerprint, "hint": hit.hint or None,
        "tree": [loc.to_dict() for loc in hit.tree], "tree_count": hit.tree_count,
        "history": [loc.to_dict() for loc in hit.history], "history_count": hit.history_count})


def _places(locations: Sequence[Any], count: int) -> str:
    shown = ", ".join(str(loc) for loc in locations[:3])
    more = count - min(3, len(locations))
    return shown + (f" and {more} more" if more > 0 else "")


def _config_work_tree(git: str, config_path: Path | None) -> Path | None:
    """The git work tree holding breakglass.toml, if any (the seed's `git grep` runs in the
    app's repository, where the config usually lives)."""
    if config_path is None:
        return None
    top = gitc.run(git, config_path.parent, "rev-parse", "--show-toplevel", timeout=60,
                   code="NOT_A_REPO", action="set [checklist.repo] path", check=False).strip()
    return Path(top) if top else None


# -- deps.audit ------------------------------------------------------------------------------------

@check(DEPS)
def deps_audit(ctx: CheckContext) -> CheckResult:
    from breakglass.checklist import audit

    cfg = ctx.config.checklist.repo
    base = ctx.config.path.parent if ctx.config.path else Path.cwd()
    if not cfg.python and not cfg.node:
        found = _dependency_files(base)
        hint = ("; found next to the config: " + ", ".join(found)) if found else ""
        return not_configured(DEPS, "[checklist.repo] lists no python requirement files and no "
                              "node folders", "set [checklist.repo] python = "
                              '["requirements.txt"] and/or node = ["."] (a folder with '
                              f"package-lock.json){hint}", candidates=found)
    findings: list[Finding] = []
    evidence: dict[str, Any] = {"python": {}, "node": {}}
    timeout = cfg.audit_timeout.total_seconds()
    if cfg.python:
        binary = audit.pip_audit_binary()
        if binary is None:
            findings.append(unverified("PIP_AUDIT_MISSING", "pip-audit is not installed: the "
                                       "Python dependencies were not audited",
                                       audit.PIP_AUDIT_INSTALL, DEPS))
        else:
            pip = partial(audit.pip_audit, binary, osv_url=cfg.osv_url, timeout=timeout,
                          private=cfg.private_packages,
                          cache_dir=ctx.state_dir / "cache" / "pip-audit")
            _audit_each(ctx, cfg.python, base, pip, "PYTHON_VULNERABLE", findings,
                        evidence["python"])
    if cfg.node:
        npm = audit.npm_binary()
        if npm is None:
            findings.append(unverified("NPM_MISSING", "npm is not installed: the Node "
                                       "dependencies were not audited",
                                       "install Node.js with npm (apt-get install npm)", DEPS))
        else:
            _audit_each(ctx, cfg.node, base, partial(audit.npm_audit, npm, timeout=timeout),
                        "NPM_VULNERABLE", findings, evidence["node"])
    return CheckResult(findings, evidence)


def _audit_each(ctx: CheckContext, sources: Sequence[Path], base: Path,
                audit_one: Callable[[Path], Audit], code: str, findings: list[Finding],
                evidence: dict[str, Any]) -> None:
    """Audit each file or folder; one that could not be audited is unverified, the others
    still report."""
    for source in sources:
        name = _rel(source, base)
        ctx.note(f"auditing dependencies of {name}")
        try:
            result = audit_one(source)
        except CouldNotVerify as exc:
            findings.append(unverified(exc.code, str(exc), exc.action, name))
            evidence[name] = {"error": exc.code}
            continue
        findings += _audit_findings(result, name, code)
        evidence[name] = _audit_evidence(result)


def _audit_findings(result: Audit, source: str, code: str) -> list[Finding]:
    out = []
    for v in result.vulnerable:
        severity = NPM_SEVERITY.get(v.severity or "", BY_ID[DEPS].severity)
        fix = (f"upgrade to {' or '.join(v.fix_versions)}" if v.fix_versions
               else "no fixed version yet: remove or replace the package, or document why "
                    "the advisory does not apply")
        out.append(Finding(
            code, f"{v.package} {v.version} ({source}) has known vulnerabilities: "
                  f"{', '.join(v.ids[:6])}{' …' if len(v.ids) > 6 else ''}"
                  + (f" [{v.severity}]" if v.severity else "")
                  + (f"; also affects {', '.join(v.effects[:5])}" if v.effects else ""),
            fix, severity, Outcome.FAILED, source, {"tool": result.tool, **v.to_dict()}))
    if result.not_audited:
        names = ", ".join(f"{n} ({why})" for n, why in result.not_audited[:5])
        out.append(unverified(
            "DEP_NOT_AUDITED", f"{result.tool} could not audit {len(result.not_audited)} "
            f"package(s) of {source}: {names}",
            "make the vulnerability service reachable; a package of your own that is not on "
            "PyPI: list it in [checklist.repo] private_packages", source,
            packages=[n for n, _ in result.not_audited]))
    return out


def _audit_evidence(result: Audit) -> dict[str, Any]:
    return {"tool": result.tool, "mode": result.mode, "packages_audited": result.packages,
            "vulnerable": [v.package for v in result.vulnerable],
            "not_audited": [n for n, _ in result.not_audited]}


def _dependency_files(base: Path) -> list[str]:
    names = ("requirements.txt", "requirements.lock", "requirements-prod.txt",
             "package-lock.json", "npm-shrinkwrap.json")
    return [n for n in names if (base / n).is_file()]


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base)) or "."
    except ValueError:
        return str(path)
