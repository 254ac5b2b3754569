"""The user docs shipped in the package (breakglass/docs is the repository's docs/ folder, carried
by `pip install` as package data) and printed by `breakglass docs TOPIC`.

A topic is a page's path without `.md`: `backup-take`, `checks/web`; a task's name works too
(`backup.take` -> backup-take). The page list is read from the folder, so a new page is a topic
without being registered anywhere.
"""

from __future__ import annotations

import difflib
from importlib import resources
from importlib.abc import Traversable

from breakglass.errors import UsageError

INDEX = "README"


def _root() -> Traversable:
    return resources.files("breakglass").joinpath("docs")


def topics() -> dict[str, Traversable]:
    """topic -> its page, sorted, the index first."""
    found: dict[str, Traversable] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".md"):
                found[prefix + entry.name[:-3]] = entry

    walk(_root(), "")
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != INDEX, kv[0])))


def title(page: Traversable) -> str:
    """The page's first heading, without '#' and backquotes."""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip().replace("`", "")
    return ""


def page(topic: str) -> str:
    """The text of `topic`; an unknown topic is a usage error naming the closest ones."""
    known = topics()
    wanted = topic.strip().removesuffix(".md").removeprefix("docs/")
    for candidate in (wanted, wanted.replace(".", "-")):
        if candidate in known:
            return known[candidate].read_text(encoding="utf-8")
    close = difflib.get_close_matches(wanted.replace(".", "-"), list(known), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise UsageError(f"no docs topic {topic!r}; {hint}`breakglass docs` lists them")
