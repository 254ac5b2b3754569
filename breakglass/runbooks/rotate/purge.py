"""`breakglass leak.purge --repo PATH --secret NAME [--push REMOTE --yes]` (docs/leak-purge.md):
remove a leaked value from a repository's history with git-filter-repo, in a fresh mirror clone.

    observe  the value (from [secrets.NAME], or --value REF), where it sits (leaked.py's search)
    plan     clone --mirror; --replace-text for the value; path removal for files whose every
             version held it; (with --push) force-push branches and tags to REMOTE
    apply    runs that in the mirror (state_dir/purge/NAME.git, re-made fresh by each run)
    verify   the same search over every ref of the mirror: each ref "clean"; after a push, over
             a fresh mirror clone of the remote

The user's repository is only read. The value goes to filter-repo through a 0600 file in a
private temporary folder, deleted when filter-repo exits; never argv, never the journal. A purge
cannot recall clones, forks or the host's caches: rotation makes the value harmless, the purge
only stops it spreading (the report says so).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.connectors import git as gitc
from breakglass.connectors import process
from breakglass.engine.findings import Finding, Outcome, Severity
from breakglass.engine.runbook import Action, Plan, Runbook, Step, StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rotate import leaked

if TYPE_CHECKING:
    from breakglass.config import Config

TIMEOUT = 1800.0
REMOVED = b"***REMOVED***"
PUSH_SPECS = ("refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")


def mirror_path(state_dir: Path, secret: str) -> Path:
    return state_dir / "purge" / f"{secret}.git"


def _git(repo: Path, *args: str, check: bool = True) -> str:
    return gitc.run(gitc.git_path(), repo, *args, timeout=TIMEOUT, code="PURGE_GIT_FAILED",
                    action="check the repository and run leak.purge again", check=check)


def filter_repo_argv() -> list[str]:
    """git-filter-repo as this Python runs it (a dependency of breakglass, so the one of the
    same environment, whatever PATH says); CouldNotVerify FILTER_REPO_MISSING without it."""
    if importlib.util.find_spec("git_filter_repo") is None:
        raise CouldNotVerify("git-filter-repo is not installed: cannot rewrite history",
                             code="FILTER_REPO_MISSING",
                             action="pip install 'git-filter-repo>=2.38' into breakglass's "
                                    "environment")
    return [sys.executable, "-m", "git_filter_repo"]


def check_inputs(repo: Path, push: str, yes: bool) -> str | None:
    """What leak.purge refuses before anything runs (exit 2/3, nothing rewritten). Returns the
    URL of the --push remote."""
    if push and not yes:
        raise UsageError(f"--push {push} force-pushes rewritten history to that remote: add "
                         "--yes to confirm it (without --push nothing leaves this machine)")
    filter_repo_argv()
    if not (repo / ".git").exists() and not repo.is_dir():
        raise UsageError(f"--repo {repo}: no such repository (give a local clone)")
    top = _git(repo, "rev-parse", "--is-inside-work-tree", check=False).strip()
    if top != "true":
        raise UsageError(f"--repo {repo} is not a git work tree (give a local clone)")
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no").splitlines()
    if dirty:
        raise UsageError(f"--repo {repo} has uncommitted changes ({len(dirty)} files): commit "
                         "or stash them first, then re-clone after the purge")
    if not push:
        return None
    url = _git(repo, "remote", "get-url", push, check=False).strip()
    if not url:
        known = ", ".join(_git(repo, "remote").split()) or "none"
        raise UsageError(f"--push {push}: not a remote of {repo} (remotes: {known})")
    return url


def read_value(ctx: StepContext, secret: str, ref: str) -> str:
    """The leaked value: `--value REF` (env:/file:/aws-sm:/ssm:, after a rotation replaced it),
    else the value [secrets.NAME] holds now, read back as `rotate --leaked` reads it."""
    from breakglass.runbooks.rotate.runbook import kind_for

    if ref:
        value: str | None = ctx.secret(ref)
    else:
        kind = kind_for(ctx.config, secret)
        value = kind.old_value(ctx, kind.current(ctx).id)
    if not value:
        raise UsageError(f"the value of secrets.{secret} could not be read: give it with "
                         "--value REF (e.g. --value file:/dev/shm/leaked)")
    ctx.register_secret(value)
    if "\n" in value or "==>" in value:
        # filter-repo reads one `OLD==>NEW` rule per line: such a value cannot be one rule.
        raise UsageError(f"the value of secrets.{secret} spans lines (or holds '==>'): "
                         "git filter-repo cannot replace it; remove the files that hold it "
                         "with `git filter-repo --invert-paths --path FILE` in a mirror clone")
    return value


def whole_secret_paths(repo: Path, report: leaked.LeakReport) -> list[str]:
    """Paths whose every committed version holds the value (a committed .env): removed whole,
    since nothing in them is worth keeping; other files keep their history, value replaced."""
    holding = {o.blob for o in report.occurrences}
    out = []
    for path in sorted({o.path for o in report.occurrences}):
        raw = _git(repo, "log", "--all", "--format=", "--raw", "--no-abbrev", "--no-renames",
                   "--", path)
        versions = {row.split()[3] for row in raw.splitlines() if row.startswith(":")}
        versions.discard("0" * 40)
        if versions and versions <= holding:
            out.append(path)
    return out


def refs_of(repo: Path) -> list[str]:
    return _git(repo, "for-each-ref", "--format=%(refname)").split()


def rewrite(source: Path, mirror: Path, value: str, remove: Sequence[str]) -> None:
    """clone --mirror SOURCE MIRROR, then filter-repo there with the value's forms replaced in
    files and messages and `remove` paths dropped."""
    if mirror.exists():
        shutil.rmtree(mirror)  # a fresh clone each run: filter-repo refuses a non-fresh one
    mirror.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _git(source, "clone", "--quiet", "--mirror", str(source.resolve()), str(mirror))
    private = Path(tempfile.mkdtemp(prefix="bg-purge-"))  # 0700
    try:
        rules = private / "replacements"
        fd = os.open(rules, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.writelines(b"literal:" + form + b"==>" + REMOVED + b"\n"
                         for form in leaked.forms(value).values())
        args = [*filter_repo_argv(), "--force", "--quiet", "--replace-text", str(rules),
                "--replace-message", str(rules)]
        for path in remove:
            args += ["--path", path]
        if remove:
            args.append("--invert-paths")
        proc = process.run(args, cwd=str(mirror), capture_output=True, text=True,
                           errors="replace", timeout=TIMEOUT, inherit=process.HOME)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if proc.returncode != 0:
        raise CouldNotVerify(f"git filter-repo failed in {mirror}: {gitc.last_line(proc.stderr)}",
                             code="PURGE_REWRITE_FAILED", action="nothing was pushed; fix it "
                             "and run leak.purge again")


def ref_findings(where: str, refs: Sequence[str], report: leaked.LeakReport,
                 subject: str) -> list[Finding]:
    """One line per ref: clean, or still holding the value (an error: do not push)."""
    dirty = {r for o in report.occurrences for r in o.refs}
    if report.in_messages and not dirty:
        dirty = set(refs)  # a message hit does not name its refs: trust none
    out = []
    for ref in refs:
        short = ref.removeprefix("refs/heads/").removeprefix("refs/")
        if short in dirty or ref in dirty:
            out.append(Finding("PURGE_REF_NOT_CLEAN", f"{where} {ref}: still holds the value",
                               "do not push; run leak.purge again or purge by hand",
                               Severity.ERROR, Outcome.FAILED, subject=subject))
        else:
            out.append(Finding("PURGE_REF_CLEAN", f"{where} {ref}: clean", "", Severity.INFO,
                               Outcome.OK, subject=subject))
    return out


class RewriteStep(Step):
    name, title = "rewrite", "rewrite the history of a fresh mirror clone"

    def __init__(self, runbook: LeakPurge) -> None:
        self.rb = runbook

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        value = read_value(ctx, self.rb.secret, self.rb.value_ref)
        report = leaked.search_history(self.rb.repo, value)
        if not report.found:
            raise UsageError(f"the value of secrets.{self.rb.secret} is in no commit of "
                             f"{self.rb.repo} ({report.commits} commits searched): nothing to "
                             "purge")
        return {"repository": str(self.rb.repo),
                "mirror": str(mirror_path(ctx.state_dir, self.rb.secret)),
                "paths": sorted({o.path for o in report.occurrences}),
                "remove": whole_secret_paths(self.rb.repo, report),
                "in_messages": list(report.in_messages), "refs": refs_of(self.rb.repo)}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        keep = [p for p in observed["paths"] if p not in observed["remove"]]
        actions = [Action(f"clone --mirror {observed['repository']} (only read: it is not "
                          "changed)", observed["mirror"])]
        if keep or observed["in_messages"]:
            actions.append(Action("git filter-repo --replace-text: the value becomes "
                                  f"{REMOVED.decode()} in every version of "
                                  + (", ".join(keep) or "no file")
                                  + (f" and {len(observed['in_messages'])} commit messages"
                                     if observed["in_messages"] else ""), observed["mirror"]))
        actions += [Action(f"git filter-repo --invert-paths: remove {p} from every commit "
                           "(every version of it held the value)", observed["mirror"])
                    for p in observed["remove"]]
        return Plan.of(*actions)

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        value = read_value(ctx, self.rb.secret, self.rb.value_ref)
        # Observed again, not taken from the plan's text: resume rebuilds only outputs.
        remove = whole_secret_paths(self.rb.repo, leaked.search_history(self.rb.repo, value))
        mirror = mirror_path(ctx.state_dir, self.rb.secret)
        with ctx.activity("git filter-repo"):
            rewrite(self.rb.repo, mirror, value, remove)
        return {"mirror": str(mirror), "removed_paths": list(remove), "refs": refs_of(mirror)}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        mirror = mirror_path(ctx.state_dir, self.rb.secret)
        value = read_value(ctx, self.rb.secret, self.rb.value_ref)
        report = leaked.search_history(mirror, value)
        return [*ref_findings("mirror", refs_of(mirror), report, self.rb.target),
                Finding("PURGE_COPIES_REMAIN", "the old objects stay in every existing clone, "
                        "in forks and in the remote host's caches (pull-request refs, cached "
                        "views): a rewrite cannot recall them",
                        "the rotation is what makes the value harmless (`breakglass rotate "
                        f"{self.rb.secret} --leaked`); the purge only stops it spreading: "
                        "force-push, then everyone re-clones", Severity.INFO,
                        subject=self.rb.target,
                        evidence={"commands": paste_commands(mirror, self.rb.repo,
                                                             remotes_of(self.rb.repo),
                                                             pushed=bool(self.rb.push))})]


class PushStep(Step):
    name, title = "push", "force-push the rewritten branches and tags"

    def __init__(self, runbook: LeakPurge) -> None:
        self.rb = runbook

    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        return {"remote": self.rb.push, "url": self.rb.push_url,
                "mirror": str(mirror_path(ctx.state_dir, self.rb.secret))}

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        return Plan.of(Action(f"git push --force {observed['remote']} ({observed['url']}) "
                              "every branch and tag of the mirror: the remote's history is "
                              "replaced", observed["url"], destructive=True))

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        mirror = mirror_path(ctx.state_dir, self.rb.secret)
        _git(mirror, "push", "--quiet", "--force", str(self.rb.push_url), *PUSH_SPECS)
        return {"remote": self.rb.push, "refs": refs_of(mirror)}

    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        # Proven on what the remote serves now: a fresh mirror clone of it, searched whole.
        value = read_value(ctx, self.rb.secret, self.rb.value_ref)
        with tempfile.TemporaryDirectory(prefix="bg-purge-check-") as tmp:
            copy = Path(tmp) / "remote.git"
            _git(Path(tmp), "clone", "--quiet", "--mirror", str(self.rb.push_url), str(copy))
            report = leaked.search_history(copy, value)
            return ref_findings(f"remote {self.rb.push}", refs_of(copy), report,
                                self.rb.target)


class LeakPurge(Runbook):
    """Remove a leaked secret's value from a repository's history (docs/leak-purge.md)."""

    name = "leak.purge"
    responsibility = "incident_response"

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        from breakglass.runbooks.rotate.runbook import kind_for

        super().__init__(config, params)
        self.secret = str(self.params.get("secret") or "")
        kind_for(config, self.secret)  # an unknown [secrets.NAME] is refused here (exit 2)
        self.repo = Path(str(self.params.get("repo") or ""))
        self.value_ref = str(self.params.get("value_ref") or "")
        self.push = str(self.params.get("push") or "")
        self.push_url = str(self.params.get("push_url") or "")

    @property
    def target(self) -> str:
        return f"secrets.{self.secret}"

    def steps(self) -> Sequence[Step]:
        return [RewriteStep(self), *([PushStep(self)] if self.push else [])]


def paste_commands(mirror: Path, repo: Path, remotes: Mapping[str, str], pushed: bool
                   ) -> list[str]:
    """The commands left to the user, one per line: the force-push (unless done) and the
    re-clone every collaborator runs."""
    lines = [] if pushed else [
        f"git -C {mirror} push --force {url} {' '.join(repr(s) for s in PUSH_SPECS)}"
        for url in remotes.values()]
    for url in remotes.values() or [str(mirror)]:
        lines += [f"mv {repo} {repo}.leaked && git clone {url} {repo}  # everyone, every clone",
                  f"rm -rf {repo}.leaked  # once nothing unpushed is left in it"]
    return lines


def url_secret(url: str) -> str | None:
    """The password or token in a remote URL (https://user:TOKEN@host/…), which the redactor
    must know before the URL reaches the journal or the screen."""
    import urllib.parse

    return urllib.parse.urlsplit(url).password if "://" in url else None


def remotes_of(repo: Path) -> dict[str, str]:
    return {name: _git(repo, "remote", "get-url", name).strip()
            for name in _git(repo, "remote").split()}
