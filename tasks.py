"""`inv` entry point: the same runbooks as the `breakglass` console script, plus dev tasks.

inv's Program is built and running before it imports this file; `adopt` gives it breakglass's
usage rules (breakglass/program.py), so that `inv backup.tkae` exits 2 with a suggestion and
the short flags mean what they mean under `breakglass`.
"""

import invoke.main
from invoke import Collection, task

from breakglass.cli import build_namespace
from breakglass.program import adopt

adopt(invoke.main.program)


@task
def test(c, args=""):  # type: ignore[no-untyped-def]
    """Run the test suite (what .ci/run runs, without the system set-up)."""
    c.run(f"python -m pytest {args}", pty=False)


@task
def lint(c):  # type: ignore[no-untyped-def]
    """ruff and mypy."""
    c.run("ruff check breakglass tests bench tasks.py")
    c.run("mypy")


ns: Collection = build_namespace()
dev = Collection("dev", test, lint)
ns.add_collection(dev)
