"""Secrets committed to a git repository: in the work tree and in every commit's added lines
(`secrets.not_committed`; docs/checks/repo.md).

What finds them:
- detect-secrets (Yelp, https://github.com/Yelp/detect-secrets) with its high-signal plugins
  only (provider key formats, private keys, basic-auth URLs, secret-named keywords; not the
  entropy plugins, which flag every hash and fixture) and its default false-positive filters
  (`os.environ[...]` indirect references, templated `${...}` values, UUIDs, sequences,
  `# pragma: allowlist secret` lines);
- the seed checklist's own pattern (`git grep -nE
  '(SECRET_KEY|API_KEY|TOKEN|DATABASE_URL|STRIPE_SECRET|AWS_SECRET)'`), narrowed to an
  assignment of a literal value that is not a placeholder.

Where:
- the work tree: every file git tracks or would add (`git ls-files --cached --others
  --exclude-standard`), read from disk, so an uncommitted edit counts and an ignored `.env`
  does not;
- the history: `git log --all -p -U0` streamed (never held in memory): each commit's added
  lines, on every branch and tag, oldest first, so the first location of a secret is the
  commit that introduced it. Merge commits' own changes (an "evil merge") are not read: their
  content reaches the tree scan if it is still there.

A secret's value never leaves this module: a Hit holds its kind, a sha256 prefix and a
public prefix of the format (`AKIA…`, `sk_live_…`), never the value or the line.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import re
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breakglass.connectors import git as gitc
from breakglass.errors import CouldNotVerify

#: detect-secrets plugins used (class names; detect_secrets/plugins/). High signal only.
PLUGINS = (
    "AWSKeyDetector", "StripeDetector", "PrivateKeyDetector", "SlackDetector",
    "JwtTokenDetector", "BasicAuthDetector", "KeywordDetector", "GitHubTokenDetector",
    "GitLabTokenDetector", "SendGridDetector", "TwilioKeyDetector", "NpmDetector",
    "PypiTokenDetector", "OpenAIDetector", "DiscordBotTokenDetector",
    "AzureStorageKeyDetector", "MailchimpDetector",
)
#: detect-secrets' default filters (detect_secrets/settings.py Settings.clear) except the
#: file ones: `is_invalid_file` asks the disk, which history paths are not on; the file-name
#: filters are applied here by name (see _skip_name).
FILTERS = tuple(f"detect_secrets.filters.{f}" for f in (
    "allowlist.is_line_allowlisted", "heuristic.is_sequential_string",
    "heuristic.is_potential_uuid", "heuristic.is_likely_id_string",
    "heuristic.is_templated_secret", "heuristic.is_prefixed_with_dollar_sign",
    "heuristic.is_indirect_reference", "heuristic.is_not_alphanumeric_string",
))

MAX_FILE_BYTES = 2 << 20   # bigger work-tree files are counted as skipped, not read
#: found values at least this long are given to the redactor; shorter ones are mostly keyword
#: false positives ("admin", "Bearer") whose masking would garble the run's output
REGISTER_MIN = 12
MAX_LOCATIONS = 10         # locations kept per secret (the count is always exact)
SEED_KIND = "{name} literal"

# The seed's names, as the end of an UPPER_CASE name (DJANGO_SECRET_KEY, GITHUB_TOKEN,
# AWS_SECRET_ACCESS_KEY), assigned with = : := => (code, .env, YAML, JSON), to a quoted string
# or a bare word. CSRF_TOKEN_HEADER does not end with a seed name: not matched.
_SEED = re.compile(
    r"""(?<![A-Za-z0-9_])(?P<name>[A-Z0-9_]*?(?P<key>SECRET_KEY|API_KEY|TOKEN|DATABASE_URL|
        STRIPE_SECRET(?:_KEY)?|AWS_SECRET(?:_ACCESS_KEY)?))(?![A-Za-z0-9_])
        ["']?\s*(?::=|=>|=|:)\s*
        (?P<value>"[^"\n]*"|'[^'\n]*'|[^\s"'\#;,]+)""", re.VERBOSE)
# In these languages a bare word after `=` is code (a variable, a call), not a value.
_CODE_SUFFIXES = frozenset((".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".rb", ".go",
                            ".java", ".kt", ".php", ".cs", ".rs", ".swift", ".scala", ".ex",
                            ".exs", ".dart", ".lua", ".pl", ".r", ".c", ".h", ".cpp"))
# Placeholders: the seed's own examples (`replace-me`, `sk_live_xxx`) and the usual others.
_PLACEHOLDER_WORDS = ("replace", "changeme", "change-me", "change_me", "your-", "your_",
                      "example", "placeholder", "dummy", "xxx", "todo", "fixme", "redacted",
                      "<", ">", "${", "{{", "%(", "***", "...", "…")
_PLACEHOLDER_VALUES = frozenset(("none", "null", "nil", "true", "false", "test", "secret",
                                 "password", "changeit", "token", "undefined"))
# Secret references (breakglass's own, and vault-style), not values.
_REFERENCE = re.compile(r"^(?:env|file|aws-sm|ssm|vault|op|gcp-sm|azure-kv):", re.I)
_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")  # settings.SECRET_KEY, process.env.X
# The public, format-defining prefix of a credential, safe to show (AWS key ids, Stripe keys,
# Slack and GitHub tokens, JWT headers): it says which key without saying the key.
_HINT = re.compile(r"^(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|[rsp]k_(?:live|test)_|whsec_|"
                   r"xox[a-z]-|gh[pousr]_|github_pat_|glpat-|SG\.|npm_|pypi-|sk-|eyJ)")
_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)")
_LOCK = threading.Lock()  # detect-secrets' settings are process-global


@dataclass(frozen=True)
class Location:
    path: str
    line: int
    #: short sha of the commit that added the line; None: the work tree
    commit: str | None = None
    #: work tree only: False for a file git does not track yet (and does not ignore)
    tracked: bool = True

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "line": self.line}
        if self.commit:
            d["commit"] = self.commit
        elif not self.tracked:
            d["tracked"] = False
        return d

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where} (commit {self.commit})" if self.commit else where


@dataclass
class Hit:
    """One distinct secret and where it was seen. Never holds the value."""

    kind: str
    fingerprint: str     # "sha256:" + 12 hex digits of the value's sha256
    hint: str            # "AKIA…", "sk_live_…" or ""
    tree: list[Location] = field(default_factory=list)
    history: list[Location] = field(default_factory=list)
    tree_count: int = 0
    history_count: int = 0

    @property
    def label(self) -> str:
        return f"{self.kind} {self.hint + ' ' if self.hint else ''}({self.fingerprint})"


@dataclass
class ScanStats:
    files: int = 0
    untracked_files: int = 0
    lines: int = 0
    excluded: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    unreadable: int = 0
    commits: int = 0
    commits_total: int = 0
    added_lines: int = 0
    history_complete: bool = True
    history_stop: str = ""

    def tree(self) -> dict[str, int]:
        return {"files": self.files, "untracked_files": self.untracked_files,
                "lines": self.lines, "excluded": self.excluded,
                "skipped_binary": self.skipped_binary, "skipped_large": self.skipped_large,
                "unreadable": self.unreadable}

    def history(self) -> dict[str, Any]:
        d: dict[str, Any] = {"refs": "all", "commits_scanned": self.commits,
                             "commits_total": self.commits_total,
                             "added_lines": self.added_lines, "complete": self.history_complete}
        if self.history_stop:
            d["stopped"] = self.history_stop
        return d


@dataclass
class ScanReport:
    repository: str
    head: str
    hits: list[Hit]
    stats: ScanStats
    scanner: dict[str, Any]


# -- detection -------------------------------------------------------------------------------------

class _Detector:
    """Per-line detection: detect-secrets' plugins and filters, then the seed pattern. Built
    and used under _LOCK inside detect-secrets' transient_settings."""

    def __init__(self) -> None:
        from detect_secrets.filters import heuristic
        from detect_secrets.plugins.base import RegexBasedDetector
        from detect_secrets.plugins.keyword import DENYLIST
        from detect_secrets.settings import get_plugins

        self.plugins = get_plugins()
        # A cheap necessary condition, from the plugins' own patterns: a line none of them can
        # match is not worth the per-line filters (which cost ~100 µs a line; most lines in a
        # repository have nothing).
        # KeywordDetector's words are lowercase ("All values here should be lowercase"):
        # searched in the lowercased line, 10x faster than an IGNORECASE alternation.
        triggers: list[re.Pattern[str]] = [_SEED]
        self.keywords: re.Pattern[str] | None = None
        for plugin in self.plugins:
            if isinstance(plugin, RegexBasedDetector):
                triggers.extend(plugin.denylist)
            elif type(plugin).__name__ == "KeywordDetector":
                self.keywords = re.compile("|".join(DENYLIST))
            else:  # a plugin whose trigger is unknown: every line goes through
                triggers.append(re.compile(""))
        self.trigger = _union(triggers)
        self.name_filters = (heuristic.is_non_text_file, heuristic.is_lock_file,
                             heuristic.is_swagger_file)

    def skip_name(self, path: str) -> bool:
        return any(f(path) for f in self.name_filters)

    def line(self, path: str, text: str, prev: str) -> list[tuple[str, str]]:
        """(kind, value) for each secret on `text` (`prev`: the line before, for detect-secrets'
        `pragma: allowlist nextline secret`). One secret seen by several detectors counts once,
        under the most specific kind and its value: StripeDetector reports the first 32
        characters of a 99-character key, the keyword and seed detectors the whole literal."""
        found = sorted(self._candidates(path, text, prev), key=lambda kv: _rank(kv[0]))
        kept: list[tuple[str, str]] = []
        for kind, value in found:
            if not any(value in v or v in value for _, v in kept):
                kept.append((kind, value))
        return kept

    def _candidates(self, path: str, text: str, prev: str) -> Iterator[tuple[str, str]]:
        if not self.trigger.search(text) and not (self.keywords is not None
                                                  and self.keywords.search(text.lower())):
            return
        # detect-secrets' own per-line pipeline (core/scan.py _process_line_based_plugins), for
        # one line with its real neighbour as context.
        from detect_secrets.core.scan import _is_filtered_out, _scan_line
        from detect_secrets.util.code_snippet import get_code_snippet

        text = text.rstrip()
        snippet = get_code_snippet(lines=[prev, text], line_number=2)
        if _is_filtered_out(required_filter_parameters=["line"], filename=path, line=text,
                            context=snippet):
            return
        for plugin in self.plugins:
            for secret in _scan_line(plugin=plugin, filename=path, line=text, line_number=2,
                                     context=snippet):
                value = _whole(plugin, text, secret.secret_value)
                if value and not _REFERENCE.match(value) and not is_doc_word(value) and \
                        not _is_filtered_out(
                        required_filter_parameters=["context"], filename=path, secret=value,
                        plugin=plugin, line=text, context=snippet):
                    yield secret.type, value
        for m in _SEED.finditer(text):
            value = seed_value(m.group("value"), path)
            if value is not None:
                yield SEED_KIND.format(name=m.group("key")), value


def _whole(plugin: Any, text: str, value: str | None) -> str | None:
    """The secret itself where a plugin reports less: GitHubTokenDetector's pattern captures only
    the `ghp` of `ghp_…` (RegexBasedDetector yields findall's group), which would make every
    GitHub token the same "secret". A short value is replaced by the whole match holding it."""
    if value is None or len(value) >= 8:
        return value
    for pattern in getattr(plugin, "denylist", ()):
        for m in pattern.finditer(text):
            if value in m.group(0):
                return str(m.group(0))
    return value


def _union(patterns: Sequence[re.Pattern[str]]) -> re.Pattern[str]:
    """One pattern matching where any of `patterns` matches (one pass over a line instead of
    one per pattern), each keeping its own flags."""
    parts = []
    for p in patterns:
        flags = "".join(c for f, c in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"),
                                       (re.DOTALL, "s"), (re.VERBOSE, "x")) if p.flags & f)
        parts.append(f"(?{flags}:{p.pattern})" if flags else f"(?:{p.pattern})")
    return re.compile("|".join(parts))


def seed_value(raw: str, path: str) -> str | None:
    """The literal assigned by a seed-pattern match, or None when it is no secret value: a bare
    word in code (a variable or call), a reference, a placeholder, a URL without a password."""
    quoted = raw[:1] in "\"'" and len(raw) >= 2
    value = raw[1:-1] if quoted else raw
    if not quoted and (Path(path).suffix.lower() in _CODE_SUFFIXES or _DOTTED.match(value)
                       or any(c in value for c in "([{$")):
        return None
    if _REFERENCE.match(value) or is_placeholder(value):
        return None
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        # DATABASE_URL=postgres://app:PASSWORD@db/app holds a password; postgres://localhost/dev
        # does not
        try:
            password = urllib.parse.urlsplit(value).password
        except ValueError:
            return None
        # The password is the secret (and what BasicAuthDetector reports: one group, not two).
        return password if password and not is_placeholder(password) else None
    if len(value) < 8 or not re.search(r"[A-Za-z]", value):
        return None
    return value


def is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return (not v or v in _PLACEHOLDER_VALUES or any(w in v for w in _PLACEHOLDER_WORDS)
            or len(set(v)) == 1)


def is_doc_word(value: str) -> bool:
    """A scanner hit that is a documentation placeholder rather than a credential: `password`
    in `postgres://user:password@host/db`, `<token>`, `${DB_PASS}`, `strongpassword` (the seed's
    own §8 example). Only whole values that are plain words are dropped — never a substring test
    on a random-looking value, which would miss real keys that happen to contain "xxx"."""
    v = value.strip().lower()
    if not v or v in _PLACEHOLDER_VALUES or len(set(v)) == 1:
        return True
    if v.startswith(("<", "${", "{{", "%(")):
        return True
    return (re.fullmatch(r"[a-z_-]+", v) is not None
            and any(w in v for w in ("password", "passwd", "secret", "token", "changeme",
                                     "example", "placeholder", "replace")))


def fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def hint(value: str) -> str:
    m = _HINT.match(value)
    return m.group(0) + "…" if m else ""


_SPECIFIC_LAST = ("Secret Keyword",)


class _Collector:
    """Groups (kind, value) sightings into Hits by value; keeps no value."""

    def __init__(self, register: Callable[[str], None] | None) -> None:
        self.hits: dict[str, Hit] = {}
        self.register = register

    def add(self, kind: str, value: str, where: Location) -> None:
        if self.register is not None and len(value) >= REGISTER_MIN:
            self.register(value)
        # A private key is matched by its header line (the same text in every key file): one
        # group per file instead.
        key = fingerprint(value + "\0" + where.path) if kind == "Private Key" else \
            fingerprint(value)
        hit = self.hits.get(key)
        if hit is None:
            hit = self.hits[key] = Hit(kind, key, hint(value))
        elif _rank(kind) < _rank(hit.kind):
            hit.kind = kind  # "AWS Access Key" says more than "Secret Keyword"
        if where.commit is None:
            if where not in hit.tree:
                hit.tree_count += 1
                if len(hit.tree) < MAX_LOCATIONS:
                    hit.tree.append(where)
        elif where not in hit.history:
            hit.history_count += 1
            if len(hit.history) < MAX_LOCATIONS:
                hit.history.append(where)


def _rank(kind: str) -> int:
    if kind in _SPECIFIC_LAST:
        return 2
    return 1 if kind.endswith(" literal") else 0


# -- the scan --------------------------------------------------------------------------------------

def scan(git: str, repo: Path, *, history: bool, exclude: Sequence[str], max_commits: int,
         timeout: float, register: Callable[[str], None] | None = None) -> ScanReport:
    """Scan the work tree of `repo` (its top level) and, with `history`, every commit.
    `register` is given each value found (the run's redactor: DESIGN principle 5)."""
    try:
        import detect_secrets
        from detect_secrets.settings import transient_settings
    except ImportError as exc:
        raise CouldNotVerify("detect-secrets is not installed: cannot scan for secrets",
                             code="DETECT_SECRETS_MISSING",
                             action="pip install detect-secrets (in breakglass's environment)"
                             ) from exc
    top = Path(_git(git, repo, "rev-parse", "--show-toplevel").strip())
    head = _git(git, top, "rev-parse", "--short", "HEAD", check=False).strip()
    stats = ScanStats()
    collector = _Collector(register)
    deadline = time.monotonic() + timeout
    with _LOCK, transient_settings({
            "plugins_used": [{"name": p} for p in PLUGINS],
            "filters_used": [{"path": f} for f in FILTERS]}):
        detector = _Detector()
        _scan_tree(git, top, detector, collector, stats, exclude)
        if history and head:
            _scan_history(git, top, detector, collector, stats, exclude, max_commits, deadline)
    scanner = {"detect_secrets": _version(detect_secrets), "plugins": list(PLUGINS),
               "seed_pattern": "SECRET_KEY|API_KEY|TOKEN|DATABASE_URL|STRIPE_SECRET|AWS_SECRET"
                               " assigned a literal"}
    return ScanReport(str(top), head, list(collector.hits.values()), stats, scanner)


def _version(module: Any) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("detect-secrets")
    except PackageNotFoundError:
        return str(getattr(module, "__version__", "?"))


def excluded(path: str, patterns: Iterable[str]) -> bool:
    """fnmatch globs against the repository-relative path (`*` also crosses `/`, so
    `tests/fixtures/*` covers the whole folder); a pattern ending in `/` is a folder prefix."""
    for p in patterns:
        if p.endswith("/") and (path + "/").startswith(p):
            return True
        if fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(Path(path).name, p):
            return True
    return False


def _scan_tree(git: str, top: Path, detector: _Detector, collector: _Collector,
               stats: ScanStats, exclude: Sequence[str]) -> None:
    tracked = _ls(git, top, "--cached")
    known = set(tracked)
    untracked = [p for p in _ls(git, top, "--others", "--exclude-standard") if p not in known]
    for rel, is_tracked in [*((p, True) for p in tracked), *((p, False) for p in untracked)]:
        if excluded(rel, exclude):
            stats.excluded += 1
            continue
        path = top / rel
        if path.is_symlink() or not path.is_file() or detector.skip_name(rel):
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                stats.skipped_large += 1
                continue
            data = path.read_bytes()
        except OSError:  # unreadable (permissions) or gone since ls-files
            stats.unreadable += 1
            continue
        if b"\0" in data[:8192]:  # git's own binary test (xdiff-interface.c buffer_is_binary)
            stats.skipped_binary += 1
            continue
        stats.files += 1
        stats.untracked_files += not is_tracked
        prev = ""
        for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            stats.lines += 1
            for kind, value in detector.line(rel, text, prev):
                collector.add(kind, value, Location(rel, number, None, is_tracked))
            prev = text


def _scan_history(git: str, top: Path, detector: _Detector, collector: _Collector,
                  stats: ScanStats, exclude: Sequence[str], max_commits: int,
                  deadline: float) -> None:
    stats.commits_total = int(_git(git, top, "rev-list", "--all", "--no-merges", "--count")
                              .strip() or 0)
    # --reverse: oldest first, so a secret's first location is the commit that added it.
    # -U0: added lines only; renames detected, so a moved file is not read again.
    proc = gitc.popen(git, top, "log", "--all", "--no-merges", "--reverse",
                      f"--max-count={max_commits}", "-p", "-U0", "--no-color", "--no-ext-diff",
                      "--no-textconv", "--find-renames", "--ignore-submodules",
                      "--src-prefix=a/", "--dst-prefix=b/", "--format=%x01%h",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    commit = ""
    path: str | None = None
    in_hunk = False
    number = 0
    prev = ""
    try:
        for raw in proc.stdout:
            if raw.startswith(b"\x01"):
                commit = raw[1:].strip().decode()
                stats.commits += 1
                path, in_hunk = None, False
                if time.monotonic() > deadline:
                    stats.history_complete = False
                    stats.history_stop = "time limit reached"
                    break
            elif raw.startswith(b"diff --git "):
                path, in_hunk = None, False
            elif not in_hunk and raw.startswith(b"+++ "):
                path = _diff_path(raw[4:].rstrip(b"\n"))
                if path is not None and (excluded(path, exclude) or detector.skip_name(path)):
                    path = None
            elif raw.startswith(b"@@ "):
                m = _HUNK.match(raw)
                in_hunk, number, prev = m is not None, int(m.group(1)) if m else 0, ""
            elif in_hunk and path is not None and raw.startswith(b"+"):
                text = raw[1:].rstrip(b"\n").decode("utf-8", "replace")
                stats.added_lines += 1
                for kind, value in detector.line(path, text, prev):
                    collector.add(kind, value, Location(path, number, commit))
                prev = text
                number += 1
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    if stats.history_complete and proc.returncode != 0:
        raise CouldNotVerify(f"git log on {top} failed: {gitc.last_line(err)}",
                             code="GIT_FAILED",
                             action="run `git log --all -p` in the repository to see why")
    if stats.history_complete and stats.commits_total > stats.commits:
        stats.history_complete = False
        stats.history_stop = f"max_commits ({max_commits}) reached"


def _diff_path(raw: bytes) -> str | None:
    if raw == b"/dev/null":
        return None
    if raw.startswith(b'"'):  # git C-quotes paths with control characters or quotes
        raw = codecs.escape_decode(raw[1:-1])[0]
    text = raw.decode("utf-8", "replace")
    return text[2:] if text.startswith("b/") else text


def _ls(git: str, top: Path, *args: str) -> list[str]:
    out = _git(git, top, "ls-files", "-z", *args)
    return list(dict.fromkeys(p for p in out.split("\0") if p))


def _git(git: str, repo: Path, *args: str, check: bool = True) -> str:
    code = "NOT_A_REPO" if args[:1] == ("rev-parse",) else "GIT_FAILED"
    return gitc.run(git, repo, *args, timeout=300, code=code, check=check,
                    action="point [checklist.repo] path at a git clone (for 'dubious "
                           "ownership', run breakglass as the clone's owner)")
