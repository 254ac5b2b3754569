"""The parts of the user docs that are made from the code, so that they cannot drift from it.

A page holds each generated block between two markers:

    <!-- generated: NAME by `python -m breakglass.docsgen` -->
    ...
    <!-- end of NAME -->

`python -m breakglass.docsgen` rewrites every block of every page in breakglass/docs (the
repository's docs/); `python -m breakglass.docsgen --check` rewrites nothing and exits 1 naming
the stale pages (tests/config/test_docsgen.py runs the same check). Blocks: `config-keys` (every key
of breakglass.toml, from the pydantic models), `journal-events` and `run-statuses` (from
breakglass/engine/events.py).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).with_name("docs")
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) by `python -m breakglass.docsgen` -->\n)"
                    r"(?:.*?\n)??(<!-- end of (?P=name) -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe would end the cell


def config_keys() -> str:
    from breakglass.config.models import Config
    from breakglass.config.reference import keys

    rows = ["| key | type | default | meaning |", "|-----|------|---------|---------|"]
    # Config.path is where the loader found the file, not a key in it.
    rows += [f"| `{k.path}` | {_cell(k.type)} | {_cell(k.default)} | {_cell(k.meaning)} |"
             for k in keys(Config) if k.path != "path"]
    return "\n".join(rows)


def journal_events() -> str:
    from breakglass.engine.events import EVENTS

    rows = ["| event | what it records |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(what)} |" for name, what in EVENTS.items()]
    return "\n".join(rows)


def run_statuses() -> str:
    from breakglass.engine.events import FINISHED, LIVE

    rows = ["| status | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(what)} |" for name, what in FINISHED.items()]
    rows += [f"| `{name}` (not an end) | {_cell(what)} |" for name, what in LIVE.items()]
    return "\n".join(rows)


BLOCKS: dict[str, Callable[[], str]] = {
    "config-keys": config_keys,
    "journal-events": journal_events,
    "run-statuses": run_statuses,
}


def render(text: str) -> str:
    """`text` with every generated block rewritten; ValueError naming an unknown block."""
    def one(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise ValueError(f"unknown generated block {name!r} (known: {', '.join(BLOCKS)})")
        return f"{match[1]}{BLOCKS[name]()}\n{match[3]}"

    return _BLOCK.sub(one, text)


def stale(root: Path = DOCS) -> list[Path]:
    """The pages whose generated blocks differ from what the code says now."""
    return [page for page in sorted(root.rglob("*.md"))
            if render(text := page.read_text("utf-8")) != text]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        pages = stale()
        for page in pages:
            print(f"{page}: generated tables are stale; run `python -m breakglass.docsgen`")
        return 1 if pages else 0
    if argv:
        print("usage: python -m breakglass.docsgen [--check]", file=sys.stderr)
        return 2
    for page in stale():
        page.write_text(render(page.read_text("utf-8")), "utf-8")
        print(f"{page}: generated tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
