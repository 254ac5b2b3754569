"""`rotate --leaked`: what the leaked credential was used for during its exposure window — from
the first commit that held the value (or `--since`) to its revocation (docs/rotate.md,
"What the leaked credential was used for").

Read-only, and after containment: the `exposure` step runs once the old value is revoked (and
before it is deleted: IAM forgets a deleted key's last use). `look` never raises: a source that
could not be read is recorded, and `findings` makes it an `unverified` finding — never a pass.
The step journals what it saw; the findings are said as the run ends (Rotate.closing_findings),
so a use of the key fails the verdict without failing the rotation that contained it.

One function per kind (`PROBES`); a kind without one gets no exposure step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.connectors import aws
from breakglass.connectors import git as gitc
from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.errors import BreakglassError

if TYPE_CHECKING:
    from breakglass.config import Config

UNVERIFIED = "EXPOSURE_UNVERIFIED"
LISTED = 20  # events listed in the finding (all are counted)
#: CloudTrail's event history keeps 90 days: the window when the leak time is unknown
TRAIL_DAYS = 90


def _aws_iam_key(config: Config, key_id: str, since: datetime | None, until: datetime
                 ) -> dict[str, Any]:
    out: dict[str, Any] = {"source": "aws"}
    try:
        out["last_used"] = aws.key_last_used(config.aws, key_id, code=UNVERIFIED)
    except BreakglassError as exc:
        out["last_used_error"] = _why(exc)
    start = since or until - timedelta(days=TRAIL_DAYS)
    try:
        events, more = aws.events_by_key(config.aws, key_id, start, until, code=UNVERIFIED)
        out["cloudtrail"] = {"count": len(events), "more": more, "first": events[:LISTED],
                             **{k: dict(Counter(str(e[f]) for e in events).most_common())
                                for k, f in (("names", "name"), ("ips", "ip"),
                                             ("agents", "agent"))}}
    except BreakglassError as exc:
        out["cloudtrail_error"] = _why(exc)
    return out


def _stripe(config: Config, key_id: str, since: datetime | None, until: datetime
            ) -> dict[str, Any]:
    return {"source": "stripe"}


PROBES: dict[str, Callable[[Any, str, datetime | None, datetime], dict[str, Any]]] = {
    "aws_iam_key": _aws_iam_key,
    "stripe_webhook": _stripe,
}


def look(kind: str, config: Config, cred_id: str, since: datetime | None, until: datetime
         ) -> dict[str, Any]:
    """What `kind`'s sources say about `cred_id` between `since` (None: unknown) and `until`.
    JSON-able, never the value; never raises."""
    window = {"kind": kind, "id": cred_id, "since": since.isoformat() if since else None,
              "until": until.isoformat()}
    if kind not in PROBES:
        return window
    try:
        return {**window, **PROBES[kind](config, cred_id, since, until)}
    except BreakglassError as exc:
        return {**window, "error": _why(exc)}


def pushed(repository: Path | str, commits: Sequence[str]) -> dict[str, Any]:
    """Which remote-tracking branches contain any of `commits` (those that put the value in
    the repository): {"branches": [...], "remotes": [...], "fetched": ISO of the last fetch or
    None}. No fetch is made: the answer is as of the last one. Never raises."""
    repo = Path(repository)
    try:
        git = gitc.git_path()
        branches: set[str] = set()
        for c in commits:
            out = gitc.run(git, repo, "branch", "-r", "--format=%(refname:short)",
                           f"--contains={c}", timeout=60, code=UNVERIFIED,
                           action="check the repository")
            branches.update(b for b in out.split() if not b.endswith("/HEAD"))
        remotes = gitc.run(git, repo, "remote", timeout=60, code=UNVERIFIED,
                           action="check the repository").split()
        head = Path(gitc.run(git, repo, "rev-parse", "--git-path", "FETCH_HEAD", timeout=60,
                             code=UNVERIFIED, action="check the repository").strip())
    except BreakglassError as exc:
        return {"error": _why(exc)}
    head = head if head.is_absolute() else repo / head
    fetched = (datetime.fromtimestamp(head.stat().st_mtime, UTC).isoformat()
               if head.exists() else None)
    return {"branches": sorted(branches), "remotes": remotes, "fetched": fetched}


def leak_time(repository: Path | str, commits: Sequence[str]) -> datetime | None:
    """When the first of `commits` (those that put the value in the repository) was made: its
    committer date. None when there are none."""
    if not commits:
        return None
    git = gitc.git_path()
    dates = gitc.run(git, Path(repository), "show", "-s", "--format=%cI", *commits,
                     timeout=60, code=UNVERIFIED, action="check the repository")
    times = [datetime.fromisoformat(d) for d in dates.split()]
    return min(times).astimezone(UTC) if times else None


def findings(result: Mapping[str, Any], subject: str) -> list[Finding]:
    """The findings for what `look` (and `pushed`, under "git") returned (as journaled)."""
    cred = result.get("id", "?")
    return [*_git_findings(result.get("git"), subject), *_usage_findings(result, subject, cred)]


def _git_findings(git: Mapping[str, Any] | None, subject: str) -> list[Finding]:
    if not git:
        return []
    if git.get("error"):
        return [_unverified(subject, "value", "which remotes hold the commits", git["error"])]
    asof = (f"as of the last fetch ({_when(git.get('fetched'))}; no fetch was made)"
            if git.get("fetched") else "as of the last fetch (never fetched; no fetch was made)")
    if git.get("branches"):
        remotes = sorted({b.split("/", 1)[0] for b in git["branches"]})
        return [Finding("LEAKED_COMMITS_PUSHED", f"the commits holding the leaked value were "
                        f"pushed: {', '.join(remotes)} ({', '.join(git['branches'])}), {asof}",
                        "treat the value as public to everyone who can read those remotes "
                        "(and their forks and CI); purge the history after the rotation",
                        Severity.INFO, subject=subject, evidence=dict(git))]
    where = (f"remotes {', '.join(git.get('remotes') or [])}" if git.get("remotes")
             else "no remote configured")
    return [Finding("LEAKED_COMMITS_NOT_PUSHED", f"no remote-tracking branch contains the "
                    f"commits holding the leaked value ({where}), {asof}",
                    "`git fetch --all` and run `git branch -r --contains COMMIT` to be sure; "
                    "a push from another clone does not show here", Severity.INFO,
                    subject=subject, evidence=dict(git))]


def _usage_findings(result: Mapping[str, Any], subject: str, cred: str) -> list[Finding]:
    if "source" not in result and not result.get("error"):
        return []  # a kind whose provider breakglass cannot ask
    if result.get("error"):
        return [_unverified(subject, cred, "its usage", result["error"])]
    if result.get("source") == "stripe":
        return [Finding("STRIPE_USAGE_NOT_BY_API", "Stripe does not expose request logs by "
                        "API: check the dashboard's logs for this key",
                        "in the Stripe dashboard, Developers > Logs: filter by the leaked key "
                        f"and the window since {_when(result.get('since'))}", Severity.INFO,
                        subject=subject)]
    return _aws_findings(result, subject, cred)


def _aws_findings(result: Mapping[str, Any], subject: str, key: str) -> list[Finding]:
    since = result.get("since")
    out: list[Finding] = []
    last = result.get("last_used") or {}
    trail = result.get("cloudtrail") or {}
    last_at = datetime.fromisoformat(last["at"]) if last.get("at") else None
    # The window ends at the revocation: later calls with the key (the rotation's own proof
    # that it is refused) are not the leak's.
    used_last = last_at is not None and last_at <= datetime.fromisoformat(result["until"]) \
        and (since is None or last_at >= datetime.fromisoformat(since))
    seen = []
    if used_last:
        seen.append(f"last used {_when(last['at'])} ({last.get('service')}, "
                    f"{last.get('region')})")
    if trail.get("count"):
        seen.append(f"{'at least ' if trail.get('more') else ''}{trail['count']} CloudTrail "
                    f"events: {_top(trail.get('names'))}; from {_top(trail.get('ips'))}; "
                    f"user agents {_top(trail.get('agents'))}")
    window = (f"since the leak ({_when(since)})" if since else
              f"in the last {TRAIL_DAYS} days (leak time unknown: no commit found; pass "
              "--since)")
    if seen:
        out.append(Finding(
            "LEAKED_KEY_USED", f"the leaked access key {key} was used {window}: "
            + "; ".join(seen),
            "investigate: for each event listed, is the source IP and user agent one of your "
            "own consumers? Look for IAM changes (CreateUser, CreateAccessKey, AttachUserPolicy,"
            " PutUserPolicy), new resources (RunInstances), data reads (GetObject, "
            "GetSecretValue) and AssumeRole; check billing and the key's permissions",
            Severity.ERROR, subject=subject,
            evidence={"key_id": key, "since": since, "until": result.get("until"),
                      "last_used": last, "events": trail}))
    elif "last_used" in result and "cloudtrail" in result:
        out.append(Finding("LEAKED_KEY_NOT_USED", f"no use of the leaked access key {key} "
                           f"{window} (IAM last use: {_when(last.get('at'))}; CloudTrail: no "
                           "event)", "nothing: keep the revocation", Severity.INFO,
                           subject=subject, evidence={"key_id": key, "since": since,
                                                      "until": result.get("until")}))
    for part, what in (("last_used_error", "its last use (IAM)"),
                       ("cloudtrail_error", "its CloudTrail events")):
        if result.get(part):
            out.append(_unverified(subject, key, what, result[part]))
    return out


def _unverified(subject: str, cred: str, what: str, why: Mapping[str, str]) -> Finding:
    return unverified(UNVERIFIED, f"could not read {what} for the leaked {cred}: "
                      f"{why.get('code')}: {why.get('message')}",
                      f"{why.get('action') or 'fix the access'}; until then assume it was "
                      "used: look in the provider's console", subject, cause=why.get("code"))


def _why(exc: BreakglassError) -> dict[str, str]:
    return {"code": str(getattr(exc, "code", "") or UNVERIFIED), "message": str(exc),
            "action": str(getattr(exc, "action", "") or "")}


def _top(counts: Mapping[str, int] | None, n: int = 5) -> str:
    items = list((counts or {}).items())
    shown = ", ".join(f"{k} ×{v}" for k, v in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "") or "none"


def _when(at: Any) -> str:
    return f"{str(at)[:19]}Z" if at else "never"
