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
    rotate.py         what the rotate scenarios share (one per kind, named rotate.KIND):
    rotate_aws_iam_key.py, rotate_aws_secretsmanager.py, rotate_ssm_parameter.py (moto),
    rotate_postgres_role.py (PostgreSQL, the DSN in an env file over SSH),
    rotate_env_file.py (two sshd hosts), rotate_stripe_webhook.py (the Stripe fake, an app)

A new runbook plugs in as one more module here that defines a Scenario subclass decorated
with `@register`, and one line in SCENARIO_MODULES.
"""

SCENARIO_MODULES = ("rollback", "backup_take", "drill_restore", "attest", "lockout",
                    "rotate_aws_iam_key", "rotate_aws_secretsmanager", "rotate_ssm_parameter",
                    "rotate_postgres_role", "rotate_env_file", "rotate_stripe_webhook")
