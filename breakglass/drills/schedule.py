"""Ready-to-install schedules for the restore drill, from `[drills.restore] schedule` (cron).

    cron     one crontab line (local time), output appended to state_dir/drills/cron.log
    systemd  a oneshot service and its timer; OnCalendar converted from the cron expression
    github   an Actions workflow (schedule is UTC there), secrets from GitHub secrets

No `flock` around the cron line: the engine already takes a lock per (runbook, target) and
refuses a second concurrent drill (exit 2), and frees it when a run dies, however it dies.

cron -> OnCalendar covers the common forms: numbers, `*`, lists (`1,15`), ranges (`1-5`) and
steps (`*/15`) in minute, hour, day of month, month and day of week. Refused, with exit 2: names
(`JAN`, `MON`), a step over a range, and a day of month *and* a day of week both restricted —
cron runs when *either* matches (crontab(5)), OnCalendar only when *both* do
(systemd.time(7)), so no single OnCalendar line means the same.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.config import Config

UNIT = "breakglass-drill-restore"
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# field name, low, high
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))


def _bad(expr: str, why: str) -> UsageError:
    return UsageError(f"drills.restore.schedule {expr!r}: {why}; use numbers, *, lists, "
                      "ranges and */N (e.g. \"0 3 1 * *\")")


def _number(expr: str, text: str, name: str, lo: int, hi: int) -> int:
    if not text.isdigit():
        raise _bad(expr, f"{name} {text!r} is not a number")
    n = int(text)
    if not lo <= n <= hi:
        raise _bad(expr, f"{name} {n} is outside {lo}-{hi}")
    return n


def _field(expr: str, text: str, index: int) -> str:
    """One cron field as its OnCalendar counterpart."""
    name, lo, hi = _FIELDS[index]
    if text == "*":
        return "*"
    if text.startswith("*/"):
        step = _number(expr, text[2:], f"{name} step", 1, hi)
        if index == 4:
            raise _bad(expr, "a step in the day of week cannot be converted")
        return f"{lo:02d}/{step}" if index < 2 else f"{lo}/{step}"
    parts = []
    for item in text.split(","):
        if "/" in item:
            raise _bad(expr, f"{name} {item!r}: a step over a range cannot be converted")
        ends = item.split("-")
        if len(ends) > 2:
            raise _bad(expr, f"{name} {item!r} is not a range")
        nums = [_number(expr, e, name, lo, hi) for e in ends]
        if len(nums) == 2 and nums[0] > nums[1]:
            raise _bad(expr, f"{name} range {item!r} runs backwards")
        if index == 4:
            parts.append("..".join(_DAYS[n] for n in nums))
        else:
            parts.append("..".join(f"{n:02d}" for n in nums))
    return ",".join(parts)


def on_calendar(expr: str) -> str:
    """`0 3 1 * *` -> `*-*-01 03:00:00` (systemd.time(7) calendar events)."""
    fields = expr.split()
    if len(fields) != 5:
        raise _bad(expr, "expected 5 fields (minute hour day-of-month month day-of-week)")
    minute, hour, dom, month, dow = (_field(expr, f, i) for i, f in enumerate(fields))
    if dom != "*" and dow != "*":
        raise _bad(expr, "both day of month and day of week are set: cron runs on either, "
                         "systemd only on both")
    when = f"*-{month}-{dom} {hour}:{minute}:00"
    return when if dow == "*" else f"{dow} {when}"


def env_refs(config: Config) -> list[str]:
    """Names of every `env:NAME` secret reference in the config (what a scheduler must
    provide)."""
    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str) and value.startswith("env:"):
            yield value[4:]
        elif isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)

    return sorted(set(walk(config.model_dump(mode="json"))))


def _command(config: Config) -> str:
    cfg = config.path.resolve() if config.path else Path("breakglass.toml").resolve()
    # The interpreter by absolute path: cron's PATH is /usr/bin:/bin, and a venv is not on it.
    return " ".join(shlex.quote(p) for p in (sys.executable, "-m", "breakglass",
                                             "drill.restore", "--yes", "--config", str(cfg)))


def cron(expr: str, config: Config) -> str:
    log = Path(config.project.state_dir) / "drills" / "cron.log"
    refs = env_refs(config)
    lines = [f"# breakglass restore drill ({config.project.name}); times are the machine's "
             "local time.",
             "# The drill refuses to start while another one runs (its own lock): no flock."]
    if refs:
        lines.append(f"# Set {', '.join(refs)} for this crontab (e.g. NAME=value lines above "
                     "it, readable only by its user).")
    lines.append(f"{expr} {_command(config)} >> {shlex.quote(str(log))} 2>&1")
    return "\n".join(lines) + "\n"


def systemd(expr: str, config: Config) -> str:
    calendar = on_calendar(expr)
    workdir = config.path.resolve().parent if config.path else Path.cwd()
    refs = env_refs(config)
    env_line = (f"EnvironmentFile=/etc/breakglass/{config.project.name}.env\n"
                f"# ^ a 0600 file with {', '.join(refs)}\n" if refs else "")
    return (
        f"# /etc/systemd/system/{UNIT}.service\n"
        "[Unit]\n"
        f"Description=breakglass restore drill ({config.project.name})\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"WorkingDirectory={workdir}\n"
        f"{env_line}"
        f"ExecStart={_command(config)}\n"
        "Nice=10\n\n"
        f"# /etc/systemd/system/{UNIT}.timer\n"
        "[Unit]\n"
        f"Description=Run the breakglass restore drill ({expr})\n\n"
        "[Timer]\n"
        f"OnCalendar={calendar}\n"
        "# a drill missed while the machine was off runs at the next boot\n"
        "Persistent=true\n"
        f"Unit={UNIT}.service\n\n"
        "[Install]\nWantedBy=timers.target\n\n"
        f"# install: systemctl daemon-reload && systemctl enable --now {UNIT}.timer\n")


def github(expr: str, config: Config) -> str:
    refs = env_refs(config)
    cfg = config.path.name if config.path else "breakglass.toml"
    q = json.dumps  # a JSON string is a valid YAML scalar: no quoting surprises
    env_block = "".join(f"          {name}: ${{{{ secrets.{name} }}}}\n" for name in refs)
    reports = Path(config.project.state_dir).name + "/reports/"
    minutes = max(30, int(config.drills.restore.rto.total_seconds() // 60) * 2) \
        if config.drills.restore else 60
    return (
        "# .github/workflows/breakglass-restore-drill.yml\n"
        "# GitHub runs schedules in UTC and may start them late under load.\n"
        f"name: breakglass restore drill ({config.project.name})\n"
        "on:\n  schedule:\n"
        f"    - cron: {q(expr)}\n"
        "  workflow_dispatch: {}\n"
        "permissions:\n  contents: read\n"
        "jobs:\n  restore-drill:\n    runs-on: ubuntu-latest\n"
        f"    timeout-minutes: {minutes}\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - uses: actions/setup-python@v5\n"
        "        with:\n          python-version: \"3.12\"\n"
        "      - name: Install breakglass\n"
        "        run: pip install breakglass\n"
        "      - name: Restore drill\n"
        f"        run: breakglass drill.restore --yes --config {q(cfg)}\n"
        + ("        env:\n" + env_block if refs else "")
        + "      - name: Keep the drill report\n"
        "        if: always()\n"
        "        uses: actions/upload-artifact@v4\n"
        "        with:\n"
        "          name: restore-drill-report\n"
        f"          path: {q(reports)}\n")


def render(kind: str, expr: str, config: Config) -> str:
    return {"cron": cron, "systemd": systemd, "github": github}[kind](expr, config)
