"""The release layout on one host (Capistrano's): `BASE/releases/<id>/` and `BASE/current`, a
symlink to one of them. Everything here is one small POSIX sh script sent over SSH, with the
base path and release id as arguments (never spliced into the script text).

The swap is atomic: `ln -sfn` makes a new symlink under a temporary name and `mv -T` renames it
over `current` (rename(2) replaces the old link in one step), so a request arriving during a
rollback finds either the old release or the new one, never no `current` at all. `ln -sfn`
straight onto `current` would unlink and re-create it: a window with nothing there. `mv -T`
is GNU coreutils (Debian, Ubuntu, RHEL); BusyBox's mv lacks it.

Before the swap a marker `BASE/.breakglass-rollback` records "RUN_ID RELEASE"; it is removed
once the restart succeeded. A run killed between the swap and the restart therefore sees, on
resume, `current` already moved *and* the marker: the restart is still owed. Without the marker
the resumed run would take the host for done while the old release is still running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from breakglass.connectors.ssh import Connection
from breakglass.errors import CouldNotVerify, UsageError

MARKER = ".breakglass-rollback"
_RELEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")

# $1 = base path ("~/x" means the login user's home). Prints one fact per line.
_READ = r"""
b=$1; case $b in "~/"*) b=$HOME/${b#??};; esac
printf 'base %s\n' "$b"
[ -d "$b" ] || { echo nobase; exit 0; }
[ -L "$b/current" ] && printf 'current %s\n' "$(readlink "$b/current")"
[ -e "$b/current" ] && [ ! -L "$b/current" ] && echo 'current-not-symlink'
for d in "$b"/releases/*/; do
  [ -d "$d" ] || continue; d=${d%/}; printf 'release %s\n' "${d##*/}"
done
[ -f "$b/.breakglass-rollback" ] && printf 'pending %s\n' "$(head -c 300 "$b/.breakglass-rollback")"
exit 0
"""

# $1 base, $2 release, $3 marker text. Exit 3: the release is not there (nothing changed).
_SWAP = r"""
set -eu
b=$1; case $b in "~/"*) b=$HOME/${b#??};; esac
[ -d "$b/releases/$2" ] || { echo "$b/releases/$2 does not exist" >&2; exit 3; }
printf '%s\n' "$3" > "$b/.breakglass-rollback.tmp"
mv -f "$b/.breakglass-rollback.tmp" "$b/.breakglass-rollback"
ln -sfn "$b/releases/$2" "$b/.current.breakglass-tmp"
mv -T "$b/.current.breakglass-tmp" "$b/current"
"""

_CLEAR = r"""
b=$1; case $b in "~/"*) b=$HOME/${b#??};; esac
rm -f "$b/.breakglass-rollback"
"""


def check_release_id(value: str, where: str = "--to") -> str:
    """A release id as it appears under releases/: no slashes, no leading dot (so `..` and
    absolute paths cannot escape the layout)."""
    value = value.strip()
    if not _RELEASE_ID.match(value):
        raise UsageError(f"{where}: {value!r} is not a release id (letters, digits, '.', '_', "
                         "'+', '-'; e.g. 20260112T0930 or v41)")
    return value


def release_key(release: str) -> tuple[Any, ...]:
    """Natural order, so v9 < v10 and 2026-01-09 < 2026-01-10: digits compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", release) if part)


@dataclass(frozen=True)
class HostReleases:
    """What one host's layout holds. `current` is the release id `current` points at (None
    when there is no such symlink, or it points outside releases/ — then `current_raw` says
    where); `pending` is the marker's text when a swap's restart is still owed."""

    host: str
    base: str
    releases: tuple[str, ...]
    current: str | None
    current_raw: str | None = None
    pending: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "base": self.base, "releases": list(self.releases),
                "current": self.current, "current_raw": self.current_raw,
                "pending": self.pending, "problem": self.problem}

    @classmethod
    def from_dict(cls, d: Any) -> HostReleases:
        return cls(d["host"], d["base"], tuple(d["releases"]), d.get("current"),
                   d.get("current_raw"), d.get("pending"), d.get("problem"))


def parse_listing(host: str, base: str, text: str) -> HostReleases:
    releases: list[str] = []
    current: str | None = None
    raw: str | None = None
    pending: str | None = None
    problem: str | None = None
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "base":
            base = rest
        elif word == "nobase":
            problem = f"{base} does not exist"
        elif word == "current-not-symlink":
            problem = f"{base}/current is not a symlink"
        elif word == "current":
            raw = rest
        elif word == "release" and _RELEASE_ID.match(rest):
            releases.append(rest)
        elif word == "pending":
            pending = rest.strip() or "?"
    if raw is not None:
        parent, _, name = raw.rstrip("/").rpartition("/")
        if parent.rpartition("/")[2] == "releases" and name in releases:
            current = name
        else:
            problem = f"{base}/current points at {raw}, not at a release under {base}/releases/"
    elif problem is None:
        problem = f"{base}/current does not exist"
    return HostReleases(host, base, tuple(sorted(releases, key=release_key)), current, raw,
                        pending, problem)


def read(conn: Connection, base: str) -> HostReleases:
    res = conn.run(["sh", "-c", _READ, "sh", base], timeout=30)
    if not res.ok:
        raise CouldNotVerify(f"{conn.host.label}: cannot list {base}/releases: {res.tail()}",
                             code="RELEASES_UNREADABLE",
                             action="check the path in [releases] and the login user's access")
    return parse_listing(conn.host.name, base, res.stdout)


def swap(conn: Connection, base: str, release: str, marker: str) -> None:
    """Point `current` at releases/RELEASE (atomically), leaving the restart-owed marker."""
    res = conn.run(["sh", "-c", _SWAP, "sh", base, release, marker], timeout=30,
                   sudo=conn.host.sudo)
    if not res.ok:
        raise CouldNotVerify(f"{conn.host.label}: could not point {base}/current at "
                             f"releases/{release}: {res.tail()}", code="SWAP_FAILED",
                             action="check the login user may write the base folder (or set "
                                    f"hosts.{conn.host.name}.sudo = true), then "
                                    "`breakglass runs.resume ID`")


def clear_marker(conn: Connection, base: str) -> None:
    conn.run(["sh", "-c", _CLEAR, "sh", base], timeout=30, sudo=conn.host.sudo)
