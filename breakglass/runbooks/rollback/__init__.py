"""`breakglass rollback [--to RELEASE]`: put every host of `[releases]` back on an earlier
release, one host at a time, and prove each one answers its health check (docs/rollback.md).

    layout.py    the release layout on a host: read it, swap `current` atomically (remote sh)
    choose.py    which release to go back to, and why a rollback is refused (pure)
    fleet.py     the fleet read (all hosts at once), the migration-safety check, restarts
    steps.py     the steps: choose, migrations, one per host
    runbook.py   the Rollback runbook
"""
