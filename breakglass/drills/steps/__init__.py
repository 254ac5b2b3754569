"""The steps of `drill.restore`, one group per module; `drills/restore.py` picks which run.

    base.py         Drill (what the steps of one drill share), DrillStep, small helpers
    leftovers.py    remove environments and files of drills that were killed
    select.py       pick the backup (a dump in the store) and its manifest; RPO
    snapshot.py     rds: pick the RDS snapshot (RPO), restore it into the drill instance
    dump.py         fetch (download, sha256, decrypt, TOC) and pg_restore a dump
    environment.py  create the disposable environment; tear it down
    validate.py     run the validation ladder against the restored database
    report.py       RTO/RPO, the drill history and trend, the ladder's findings
"""
