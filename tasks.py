"""`inv` entry point: the same runbooks as the `breakglass` console script, plus dev tasks."""

from invoke import Collection, task

from breakglass.cli import build_namespace


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
