"""The fault suite's parts (bench/faults.py runs them).

    scenario.py       Scenario (one per runbook: setup, boundaries, run, fault, recover,
                      check), Fault, Trial, the registry, the tally of figures
    lab.py            the real servers a scenario asks for (sshd hosts, PostgreSQL), started once
                      from tests/servers/ and stopped at the end; the leak search
    rollback.py       `rollback` over three sshd hosts
    backup_take.py    `backup.take` of a real PostgreSQL into a file:// store
    drill_restore.py  `drill.restore` of that backup into the local disposable PostgreSQL
    attest.py         `attest` of a manual checklist item
    lockout.py        `lockout` and `unlock` of a user of a real Django + DRF app (Redis sessions)

A new runbook (rotate per kind) plugs in as one more module here that defines
a Scenario subclass decorated with `@register`, and one line in SCENARIO_MODULES.
"""

SCENARIO_MODULES = ("rollback", "backup_take", "drill_restore", "attest", "lockout")
