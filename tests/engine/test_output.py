"""What a person or a script reads: findings that mean what they say, and output that survives 80
columns, a pipe and a terminal (docs/runs.md, "Output").

The CLI runs in a subprocess with stdout a pipe (what `| grep` and a cron log get) or a
pseudo-terminal 80 columns wide (what a person at a laptop gets), and COLUMNS=80."""

from __future__ import annotations

import ast
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from breakglass.engine.findings import Finding, Outcome, Severity, as_note, as_ok
from tests.engine.conftest import Project
from tests.result_schema import validate

ROOT = Path(__file__).resolve().parents[2]
NARROW = {"COLUMNS": "80", "LINES": "24"}
LONG_TARGET = "backups.the-nightly-set-of-the-customer-facing-database"


# -- outcomes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("severity", list(Severity))
@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_finding_serialises_as_one_of_four_outcomes_and_info_never_fails(
        severity: Severity, outcome: Outcome) -> None:
    f = Finding("SOME_CODE", "seen", "do", severity, outcome)
    d = f.to_dict()
    assert d["outcome"] in ("ok", "note", "failed", "unverified")
    assert not (d["severity"] == "info" and d["outcome"] == "failed")
    if d["outcome"] in ("ok", "note"):
        assert d["severity"] == "info" and not f.counts
    assert Finding.from_dict(d) == f


def test_a_journal_written_before_outcomes_reads_an_info_failure_as_a_note() -> None:
    old = {"code": "MANIFEST_MISSING", "message": "m", "action": "a", "severity": "info",
           "outcome": "failed", "subject": "", "evidence": {}}
    assert Finding.from_dict(old).outcome is Outcome.NOTE


def _literal_codes(call: ast.Call) -> list[str]:
    return [a.value for a in call.args if isinstance(a, ast.Constant)
            and isinstance(a.value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", a.value)]


def _names(node: ast.AST) -> set[str]:
    return {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(node)
            if isinstance(n, ast.Attribute | ast.Name)}


# A code whose name says a check passed: the proof is an "ok", never a note or a failure.
_SUCCESS = re.compile(r".*(_OK|_TAKEN|_DEAD|NOT_IN_HISTORY)$|^OLD_.*_(REFUSED|INACTIVE)$")
# What builds a finding: Finding(…) and the runbooks' helpers around it.
_BUILDERS = {"Finding", "unverified", "finding", "_finding", "_f", "_fail"}


def _builds_a_finding(call: ast.Call) -> bool:
    f = call.func
    return (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")) in _BUILDERS


def test_every_success_code_the_runbooks_emit_is_built_as_ok() -> None:
    """Every finding code written as a literal in breakglass/ whose name says it passed
    (BACKUP_OK, STRUCTURE_OK, EXPECT_OK, OLD_KEY_REFUSED, LEAKED_DEAD…) is built as_ok(…) or with
    Outcome.OK; and no literal code is built as an explicit info "failure"."""
    success: dict[str, bool] = {}
    for path in (ROOT / "breakglass").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)
                     and _builds_a_finding(n)):
            codes = _literal_codes(call)
            assert not (codes and {"INFO", "FAILED"} <= _names(call)), \
                f"{codes} built as an info failure in {path}"
            for code in filter(_SUCCESS.match, codes):
                success[f"{code} ({path.relative_to(ROOT)})"] = _is_ok(call, parents)
    wrong = sorted(k for k, ok in success.items() if not ok)
    assert len(success) >= 12, sorted(success)  # the scan still finds them
    assert not wrong, f"success codes built as notes: {wrong}"


def _is_ok(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(call)
    wrapped = (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name)
               and parent.func.id == "as_ok")
    return wrapped or "OK" in {n.attr for n in ast.walk(call) if isinstance(n, ast.Attribute)}


def test_as_ok_and_as_note_say_what_they_are() -> None:
    f = Finding("X_FAILED", "m", "a")
    assert as_ok(f).to_dict()["outcome"] == "ok" and as_note(f).to_dict()["outcome"] == "note"
    assert f.counts and not as_ok(f).counts and not as_note(f).counts


# -- runs through a pipe at 80 columns --------------------------------------------------------
def _runs(project: Project, n: int, *args: str) -> list[str]:
    for _ in range(n):
        r = project.markers_run("--yes", "--target", LONG_TARGET, *args)
        assert r.returncode in (0, 1), r.stdout + r.stderr
    return project.run_ids()


def test_runs_list_in_a_pipe_at_80_columns_keeps_each_run_on_one_whole_line(
        project: Project) -> None:
    ids = _runs(project, 3)
    r = project.run("runs.list", env=NARROW)
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if "test.markers" in ln]
    # `breakglass runs.list | grep -c test.markers` counts every run
    assert len(rows) == 3, r.stdout
    for run_id, row in zip(sorted(ids), sorted(rows), strict=True):
        assert run_id in row and LONG_TARGET in row and "succeeded" in row


def test_runs_list_format_plain_json_and_table(project: Project) -> None:
    ids = _runs(project, 2)
    plain = project.run("runs.list", "--format", "plain", env=NARROW).stdout.splitlines()
    assert plain[0].split() == ["id", "runbook", "target", "started", "status", "exit"]
    assert len(plain) == 3
    doc = validate(project.run("runs.list", "--format", "json").stdout)
    assert doc["kind"] == "runs" and {r["run_id"] for r in doc["runs"]} == set(ids)
    # --format table asks for a rich table even in a pipe; ids stay whole (no_wrap)
    table = project.run("runs.list", "--format", "table", env={"COLUMNS": "120"}).stdout
    assert all(run_id in table for run_id in ids)


@pytest.mark.parametrize("args", [("--format", "yaml"), ("--json", "--format", "plain")])
def test_a_bad_format_is_a_usage_error(project: Project, args: tuple[str, ...]) -> None:
    r = project.run("runs.list", *args)
    assert r.returncode == 2
    assert "--format" in r.stderr and "Traceback" not in r.stderr


def test_a_failed_step_names_its_code_and_the_message_is_printed_once(project: Project) -> None:
    r = project.markers_run("--yes", "--fail-verify", "s2", env=NARROW)
    assert r.returncode == 1
    assert re.search(r"^ +failed +s2 +MARKER_REJECTED$", r.stdout, re.M), r.stdout
    assert r.stdout.count("s2 rejected by the test") == 1


def test_a_recovery_command_is_printed_whole_in_a_pipe_at_80_columns(project: Project) -> None:
    r = project.markers_run("--yes", "--fail-verify", "s2", "--fail-undo", "s1", env=NARROW)
    run_id = project.run_ids()[-1]
    command = f"`breakglass runs.resume {run_id}`"
    assert "UNDO_FAILED" in r.stdout
    assert any(command in line for line in r.stdout.splitlines()), r.stdout


# -- on a terminal 80 columns wide ------------------------------------------------------------
def _on_a_terminal(project: Project, *args: str, columns: int = 80,
                   term: dict[str, str] | None = None) -> str:
    """Run the CLI with stdout a pseudo-terminal of `columns` columns; its output. `term`: the
    terminal's variables (default: a dumb one without colour)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR", "TERM")}
    env.update(term if term is not None else {"TERM": "dumb", "NO_COLOR": "1"})
    proc = subprocess.Popen(project.argv(*args), stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, "no output for 60 s"
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(leader)
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


def test_on_an_80_column_terminal_codes_ids_and_commands_are_never_split(
        project: Project) -> None:
    out = _on_a_terminal(project, "markers", "--dir", str(project.markers), "--yes",
                         "--target", LONG_TARGET, "--fail-verify", "s2", "--fail-undo", "s1")
    run_id = project.run_ids()[-1]
    lines = out.splitlines()
    assert all(len(ln) <= 80 for ln in lines if "`" not in ln and run_id not in ln), out
    for whole in (f"`breakglass runs.resume {run_id}`", "MARKER_REJECTED", "UNDO_FAILED",
                  LONG_TARGET):
        assert any(whole in ln for ln in lines), (whole, out)
    # Too narrow for a row's line: a block per run, its id and runbook on the first line.
    listed = _on_a_terminal(project, "runs.list").splitlines()
    rows = [ln for ln in listed if "test.markers" in ln]
    assert len(rows) == 1 and run_id in rows[0], listed
    assert f"  target: {LONG_TARGET}" in listed and all(len(ln) <= 80 for ln in listed)


def test_no_color_on_a_colour_terminal_writes_no_escape_code_at_all(project: Project) -> None:
    # A failed run with an undo that failed: bold headings, coloured codes, dim hints.
    args = ("markers", "--dir", str(project.markers), "--yes", "--fail-verify", "s2",
            "--fail-undo", "s1")
    colour = {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
    assert "\x1b[" in _on_a_terminal(project, *args, term=colour)  # the terminal shows escapes
    out = _on_a_terminal(project, *args, term={**colour, "NO_COLOR": "1"})
    assert "test.markers on markers: failed" in out and "\x1b" not in out, out
    listed = _on_a_terminal(project, "runs.list", columns=120, term={**colour, "NO_COLOR": "1"})
    assert "test.markers" in listed and "\x1b" not in listed, listed


def test_reports_say_ok_note_or_failed_and_list_failures_first(project: Project) -> None:
    r = project.markers_run("--yes", "--fail-verify", "s2")  # nobody owns it: NO_OWNER, a note
    assert r.returncode == 1
    run_id = project.run_ids()[-1]
    md = (project.state / "reports" / f"{run_id}.md").read_text()
    html = (project.state / "reports" / f"{run_id}.html").read_text()
    assert "**MARKER_REJECTED** (failed, error)" in md and "**NO_OWNER** (note)" in md
    assert md.index("MARKER_REJECTED") < md.index("NO_OWNER")
    assert "info, failed" not in md
    assert '<span class="failed">failed, error</span>' in html
    assert '<span class="note">note</span>' in html
