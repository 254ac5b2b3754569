"""`rotate --leaked`: where does the leaked value sit in the git history of `[secrets.NAME]
repository` — every branch and tag, every commit — without ever putting it on a command line.

How (each git call sees object ids, never the value; the value stays in this process):

1. `git rev-list --all --objects` lists every blob reachable from any ref, with a path;
2. `git cat-file --batch` streams each blob once (history shares blobs between commits, so
   this reads each distinct file version once however many commits hold it) and Python scans
   it for the value — raw, URL-quoted and base64 (a Kubernetes Secret manifest holds values
   base64-encoded) — in chunks, so big blobs need no big memory;
3. for each blob that holds it, `git log --all --find-object=BLOB --raw` names the commits that
   added it (and the ones that removed it) and the paths, and `git for-each-ref --contains`
   the branches and tags that still reach it;
4. commit messages are scanned too (`git log --all --format=%H%x00%B%x00`).

Scales with the repository's distinct content, not commits × files: a few seconds for a repo of
thousands of commits. The report holds commit ids, paths, line numbers and refs — never the
value, nor the line it sits on. Not searched: uncommitted files, stashes (refs/stash is
searched only when it exists as a ref), objects that no ref reaches (reflogs, dangling), forks
and clones elsewhere — which is why the rotation, not the purge, is what protects you.
"""

from __future__ import annotations

import base64
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from breakglass.connectors import git as gitc
from breakglass.engine.findings import Finding, Outcome, Severity
from breakglass.errors import CouldNotVerify, UsageError

CHUNK = 1 << 20
GIT_TIMEOUT = 600.0
MAX_REPORTED = 200  # occurrences kept in the report (the count is always exact)


@dataclass(frozen=True)
class Occurrence:
    """The value in one file version: `added_in` commits introduced this version at `path`
    (`removed_in`: commits that dropped it); `refs` still reach it."""

    path: str
    blob: str
    form: str  # raw | url-quoted | base64
    line: int | None  # 1-based line of the first match (raw/url forms in text)
    added_in: tuple[str, ...] = ()
    removed_in: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeakReport:
    repository: str
    blobs_scanned: int
    commits: int
    occurrences: tuple[Occurrence, ...] = ()
    in_messages: tuple[str, ...] = ()
    truncated: bool = False
    purge: tuple[str, ...] = field(default_factory=tuple)

    @property
    def found(self) -> bool:
        return bool(self.occurrences or self.in_messages)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["occurrences"] = [asdict(o) | {"added_in": list(o.added_in),
                                         "removed_in": list(o.removed_in),
                                         "refs": list(o.refs)} for o in self.occurrences]
        d["in_messages"] = list(self.in_messages)
        d["purge"] = list(self.purge)
        d["found"] = self.found
        return d


def forms(value: str) -> dict[str, bytes]:
    """The encodings of `value` searched for, by name."""
    raw = value.encode()
    out = {"raw": raw, "url-quoted": urllib.parse.quote(value, safe="").encode(),
           "base64": base64.b64encode(raw).rstrip(b"=")}
    # Only distinct encodings (a plain alphanumeric value is its own URL quoting), and never
    # a too-short pattern: four bytes would match everywhere.
    seen: dict[bytes, str] = {}
    for name, b in out.items():
        if len(b) >= 4 and b not in seen:
            seen[b] = name
    return {name: b for b, name in seen.items()}


def search_history(repository: Path | str, value: str) -> LeakReport:
    """Search every commit reachable from any ref of `repository` for `value`."""
    repo = Path(repository)
    if len(value) < 4:
        raise UsageError("the leaked value is shorter than 4 characters: searching for it "
                         "would match everywhere")
    git = gitc.git_path()
    _check_repo(git, repo)
    patterns = forms(value)
    blobs = _blobs(git, repo)
    hits = _scan_blobs(git, repo, blobs, patterns)
    occurrences = [occ for oid, (form, line) in sorted(hits.items(), key=lambda h: blobs[h[0]])
                   for occ in _locate(git, repo, oid, blobs[oid], form, line)]
    commits, in_messages = _scan_messages(git, repo, patterns)
    return LeakReport(str(repo), len(blobs), commits, tuple(occurrences[:MAX_REPORTED]),
                      tuple(in_messages), truncated=len(occurrences) > MAX_REPORTED,
                      purge=tuple(purge_steps(str(repo))) if (occurrences or in_messages)
                      else ())


def purge_steps(repository: str) -> list[str]:
    """What to do once the value is found in history. Rotation comes first: a rewrite cannot
    recall clones, forks, caches or the attacker's copy."""
    return [
        "the rotation is what protects you: the leaked value is dead once this run verified it; "
        "purging history only stops the value from spreading further",
        "write the leaked value into a file replacements.txt as one line `VALUE==>***REMOVED***`"
        " with an editor (never on a command line or in shell history); chmod 600 it",
        "in a fresh mirror clone (`git clone --mirror URL repo.git`): `git filter-repo "
        "--replace-text replacements.txt` (https://github.com/newren/git-filter-repo), or "
        "with BFG: `bfg --replace-text replacements.txt repo.git` then `git reflog expire "
        "--expire=now --all && git gc --prune=now --aggressive`",
        "force-push every rewritten branch and tag (`git push --force --mirror`); protected "
        "branches must allow it for the duration",
        "ask every collaborator to re-clone (an old clone pushes the value back); delete or "
        "re-create forks; on GitHub/GitLab ask support to purge cached views and pull-request "
        "refs (refs/pull/* cannot be force-pushed)",
        "clear CI caches and artifacts, container image layers and package builds made from "
        "the affected commits",
        f"run the search again on {repository} after the rewrite; then `shred -u "
        "replacements.txt`",
    ]


def findings(result: Mapping[str, Any], subject: str = "") -> list[Finding]:
    """Notes for a search result (`LeakReport.to_dict()`, as journaled). Occurrences are INFO:
    the rotation is what makes the value harmless; the purge is the owners' follow-up."""
    occ = result.get("occurrences", [])
    msgs = result.get("in_messages", [])
    if not occ and not msgs:
        return [Finding("LEAK_NOT_IN_HISTORY",
                        f"the leaked value is in no commit of {result.get('repository')} "
                        f"({result.get('commits', 0)} commits, {result.get('blobs_scanned', 0)} "
                        "file versions searched)",
                        "nothing to purge in this repository; check CI logs, chat and tickets "
                        "where it may have been pasted", Severity.INFO, Outcome.OK,
                        subject=subject)]
    where = [f"{o['path']}" + (f":{o['line']}" if o.get("line") else "")
             + f" (added in {', '.join(c[:12] for c in o['added_in']) or 'a merge'}"
             + (f"; removed in {', '.join(c[:12] for c in o['removed_in'])}"
                if o.get("removed_in") else "; still present")
             + (f"; reachable from {', '.join(o['refs'])}" if o.get("refs") else "")
             + (f"; as {o['form']}" if o.get("form") != "raw" else "") + ")"
             for o in occ]
    where += [f"commit message of {c[:12]}" for c in msgs]
    steps = "; ".join(f"{i}) {s}" for i, s in enumerate(result.get("purge", []), start=1))
    return [Finding("LEAK_IN_GIT_HISTORY",
                    f"the leaked value is in the git history of {result.get('repository')}: "
                    + "; ".join(where)
                    + (" (more not shown)" if result.get("truncated") else ""),
                    f"purge it from history: {steps}", Severity.INFO, subject=subject,
                    evidence={"occurrences": occ, "in_messages": msgs})]


# -- git ----------------------------------------------------------------------------------------

def _run(git: str, repo: Path, *args: str, stdin: str | None = None) -> str:
    return gitc.run(git, repo, *args, stdin=stdin, timeout=GIT_TIMEOUT,
                    code="LEAK_SEARCH_FAILED", action="check the repository path, or search by "
                    "hand (git log --all -S VALUE)")


def _check_repo(git: str, repo: Path) -> None:
    if not repo.is_dir():
        raise UsageError(f"repository {repo} does not exist (set [secrets.NAME] repository to "
                         "a local clone)")
    gitc.run(git, repo, "rev-parse", "--git-dir", timeout=60, code="LEAK_SEARCH_FAILED",
             action="point repository at a clone (for 'dubious ownership', run breakglass as "
                    "the clone's owner)")


def _blobs(git: str, repo: Path) -> dict[str, str]:
    """Every blob reachable from any ref -> one path it has (rev-list names each object once)."""
    out: dict[str, str] = {}
    listing = _run(git, repo, "rev-list", "--all", "--objects", "--filter=object:type=blob")
    for line in listing.splitlines():
        oid, _, path = line.partition(" ")
        if path:  # commits (no path) are listed too when the filter is not supported
            out.setdefault(oid, path)
    return out


def _scan_blobs(git: str, repo: Path, blobs: Mapping[str, str], patterns: Mapping[str, bytes]
                ) -> dict[str, tuple[str, int | None]]:
    """blob -> (form, line) for blobs holding any pattern. One `cat-file --batch` process;
    a thread feeds it ids while this one reads, so neither pipe can fill and stall."""
    proc = gitc.popen(git, repo, "cat-file", "--batch", stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:
        try:
            for oid in blobs:
                stdin.write(oid.encode() + b"\n")
        except BrokenPipeError:
            pass
        finally:
            stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    hits: dict[str, tuple[str, int | None]] = {}
    try:
        for oid, chunks in _batch_objects(proc.stdout, len(blobs)):
            found = _scan(chunks, patterns)
            if found is not None:
                hits[oid] = found
    finally:
        feeder.join()
        proc.stdout.close()
        if proc.wait(timeout=60) != 0:
            raise CouldNotVerify(f"git cat-file on {repo} failed", code="LEAK_SEARCH_FAILED",
                                 action="run `git fsck` on the repository")
    return hits


def _batch_objects(out: IO[bytes], count: int) -> Iterator[tuple[str, Iterator[bytes]]]:
    for _ in range(count):
        header = out.readline().split()
        if len(header) < 3:  # "<oid> missing"
            continue
        oid, size = header[0].decode(), int(header[2])

        def chunks(left: int = size) -> Iterator[bytes]:
            while left > 0:
                data = out.read(min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data

        body = chunks()
        yield oid, body
        for _rest in body:  # the consumer stopped at the first match: drain the object
            pass
        out.read(1)  # the newline after each object


def _scan(chunks: Iterator[bytes], patterns: Mapping[str, bytes]) -> tuple[str, int | None] | None:
    """(form, line of the first match) for the first pattern found, else None. Chunks overlap
    by the longest pattern so a match across a chunk boundary is found."""
    keep = max(len(p) for p in patterns.values()) - 1
    tail = b""
    newlines = 0  # newlines in the data already dropped from `tail`
    for chunk in chunks:
        buf = tail + chunk
        for form, pattern in patterns.items():
            at = buf.find(pattern)
            if at >= 0:
                return form, newlines + buf.count(b"\n", 0, at) + 1
        cut = max(0, len(buf) - keep)
        newlines += buf.count(b"\n", 0, cut)
        tail = buf[cut:]
    return None


def _locate(git: str, repo: Path, oid: str, path: str, form: str, line: int | None
            ) -> list[Occurrence]:
    """One Occurrence per path the blob was committed at, with the commits that added and
    removed it there and the refs that still reach those commits."""
    added: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    commit = ""
    log = _run(git, repo, "log", "--all", f"--find-object={oid}", "--format=C %H", "--raw",
               "--no-abbrev", "--no-renames")
    for row in log.splitlines():
        if row.startswith("C "):
            commit = row[2:].strip()
        elif row.startswith(":"):
            meta, _, where = row.partition("\t")
            old, new = meta.split()[2:4]
            if new == oid:
                added.setdefault(where, []).append(commit)
            if old == oid:
                removed.setdefault(where, []).append(commit)
    if not added:  # only introduced by a merge (git log shows no merge diffs): path unknown
        return [Occurrence(path, oid, form, line)]
    out = []
    for where, commits in added.items():
        refs = _run(git, repo, "for-each-ref", "--format=%(refname:short)",
                    *(f"--contains={c}" for c in commits)).split()
        # git log lists newest first; a report reads oldest first.
        out.append(Occurrence(where, oid, form, line, tuple(reversed(commits)),
                              tuple(reversed(removed.get(where, []))), tuple(sorted(set(refs)))))
    return out


def _scan_messages(git: str, repo: Path, patterns: Mapping[str, bytes]
                   ) -> tuple[int, list[str]]:
    text = _run(git, repo, "log", "--all", "--format=%H%x00%B%x00")
    parts = text.split("\x00")
    found: list[str] = []
    commits = 0
    for i in range(0, len(parts) - 1, 2):
        commits += 1
        body = parts[i + 1].encode()
        if any(p in body for p in patterns.values()):
            found.append(parts[i].strip())
    return commits, found
