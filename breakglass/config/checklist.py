"""[checklist.*] in breakglass.toml: where `breakglass check` looks (docs/check.md).

Every table is optional. A check whose table says nothing falls back to the rest of the config
([app] base_url, every [hosts.*], the one [databases.*]); when there is nothing to look at, the
item is "could not verify" (NOT_CONFIGURED), never a pass.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from breakglass.config.base import (
    ConfigPath,
    ExistingFile,
    NonEmpty,
    SecretRef,
    Section,
    http_url,
)
from breakglass.config.durations import Duration, Timeout


class WebChecks(Section):
    """[checklist.web]: the live site (tls.*, headers.*, cookies.secure, app.debug_off)."""

    #: default: [app] base_url
    base_url: Annotated[str, AfterValidator(http_url)] | None = None
    #: the page whose cookies and headers are judged (the checklist's `curl -s -D - …/login`)
    login_path: NonEmpty = "/login"
    #: headers.cors probes these paths (default: login_path and "/"); add your API prefix
    cors_paths: list[NonEmpty] = []
    #: tls.https_redirect asks http://HOST:http_port/login_path (a proxy or test port: not 80)
    http_port: int = Field(default=80, ge=1, le=65535)
    #: a PEM bundle of the CAs to trust instead of the system's (a private CA, a staging CA)
    ca_bundle: ExistingFile | None = None
    #: tls.expiry fails when the certificate expires sooner than this
    cert_margin: Duration = timedelta(days=21)
    #: tls.hsts: the least acceptable max-age (the checklist: 31536000 s, a year)
    hsts_min_age: Duration = timedelta(days=365)
    timeout: Timeout = timedelta(seconds=10)


class HostChecks(Section):
    """[checklist.hosts]: ssh.hardened, net.* over SSH (docs/checks/hosts.md)."""

    #: the [hosts.NAME] to audit; default: every host
    hosts: list[NonEmpty] | None = None
    #: the config `sshd -T -f PATH` reads (through `sudo -n` when hosts.NAME.sudo)
    sshd_config: NonEmpty = "/etc/ssh/sshd_config"
    #: service -> ports that must not listen on a public address (added to the defaults);
    #: a datastore name (postgres, mysql, redis, mongodb…) is judged by
    #: net.datastores_private, any other name by net.dashboards_private
    private_ports: dict[str, list[Annotated[int, Field(ge=1, le=65535)]]] = {}
    #: which firewall proves default-deny: auto = ufw or nftables, whichever does
    firewall: Literal["auto", "ufw", "nftables"] = "auto"
    #: hosts asked at the same time
    max_parallel: int = Field(default=16, ge=1, le=64)


class DataChecks(Section):
    """[checklist.data]: db.least_privilege, redis.private (docs/checks/datastores.md)."""

    #: the [databases.NAME] whose DSN is the app's own login; default: the only one (with
    #: several and none named, db.least_privilege is "could not verify": DB_APP_DATABASE_UNSET)
    app_database: NonEmpty | None = None
    #: Redis URLs (secret refs) the app uses; each is knocked on without its credentials
    redis: list[SecretRef] = []


class RepoChecks(Section):
    """[checklist.repo]: secrets.not_committed, deps.audit."""

    #: the app's git work tree; default: the git work tree holding breakglass.toml
    path: ConfigPath | None = None
    #: also search every commit of the history, not only the tree
    history: bool = True
    #: history: the newest commits read at most (more: "could not verify" HISTORY_INCOMPLETE)
    max_commits: int = Field(default=20000, ge=1, le=10_000_000)
    #: history: how long the search may take before it stops (HISTORY_INCOMPLETE)
    history_timeout: Timeout = timedelta(minutes=5)
    #: paths (globs) never reported, e.g. test fixtures with fake keys
    exclude: list[NonEmpty] = []
    #: requirements files / lock files audited with pip-audit (relative to the config file)
    python: list[ConfigPath] = []
    #: folders with a package-lock.json audited with `npm audit --omit=dev`
    node: list[ConfigPath] = []
    #: pip-audit asks this OSV API (e.g. a mirror) instead of PyPI's vulnerability data
    osv_url: Annotated[str, AfterValidator(http_url)] | None = None
    #: packages not on PyPI (your own): pip-audit cannot audit them; not "could not verify"
    private_packages: list[NonEmpty] = []
    #: each pip-audit / npm audit run may take this long
    audit_timeout: Timeout = timedelta(minutes=10)


class OpsChecks(Section):
    """[checklist.ops]: backups.restore_tested, ops.runbook_docs, ops.review_scheduled
    (docs/checks/ops.md)."""

    #: the team's incident runbook(s): files (or folders of .md/.txt/.rst files) that must exist
    #: and, together, name each incident: key rotation, user lockout, rollback, restore
    docs: list[ConfigPath] = []
    #: backups.restore_tested / ops.review_scheduled: how old the last pass may be
    drill_max_age: Duration = timedelta(days=35)
    review_max_age: Duration = timedelta(days=35)


class ChecklistConfig(Section):
    web: WebChecks = WebChecks()
    hosts: HostChecks = HostChecks()
    data: DataChecks = DataChecks()
    repo: RepoChecks = RepoChecks()
    ops: OpsChecks = OpsChecks()
