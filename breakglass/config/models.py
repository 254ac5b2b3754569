"""The models of breakglass.toml (the contract in DESIGN.md "Configuration contract").

Every model is frozen and forbids unknown keys, so a typo is an error rather than a setting
silently ignored. `strict=True`: TOML is typed, so "30" where an integer belongs is a mistake to
report, not a string to coerce. Checks that need more than one section (owners name people,
backups name databases) live in breakglass/config/crosscheck.py so that they run even when some
other section fails to validate.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    Field,
    SerializeAsAny,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from breakglass.config import cron
from breakglass.config.base import ConfigPath, NonEmpty, SecretRef, Section, http_url
from breakglass.config.checklist import ChecklistConfig
from breakglass.config.durations import Duration, Timeout
from breakglass.config.scenarios import ScenariosConfig
from breakglass.secrets import parse_ref_scheme, ref_problem

RESPONSIBILITIES = ("key_rotation", "incident_response", "access_approvals", "release_signoff",
                    "backup_restore", "dependency_patching")


def _age_recipients(value: list[str]) -> list[str]:
    for item in value:
        # age X25519 recipients are bech32 "age1..."; SSH keys are accepted by age too.
        if not item.startswith(("age1", "ssh-ed25519 ", "ssh-rsa ")):
            raise PydanticCustomError("recipient", "each recipient must be an age public "
                                                   "key (age1...) or an SSH public key")
    return value


def _state_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme != "s3" or not parsed.netloc or parsed.query or parsed.fragment:
        raise PydanticCustomError("state", "expected s3://bucket/prefix/ (or leave it out to "
                                           "keep the state in state_dir)")
    return value


class ProjectConfig(Section):
    #: the project's name, in notices and reports
    name: NonEmpty
    #: a label of what breakglass acts on ("production"), in notices and reports; compared with
    #: nothing (the drill guard compares database endpoints)
    environment: NonEmpty
    #: the local state folder; with `state` set, the cache of the shared state
    state_dir: ConfigPath = Path(".breakglass")
    #: shared team state (docs/state.md): journals, leases, attestations, histories, reports
    state: Annotated[str, AfterValidator(_state_url)] | None = None
    #: age recipients that private state (lockout prior-state snapshots) is encrypted to
    #: before it leaves this machine; without them the S3 backend refuses to store it
    state_recipients: Annotated[list[NonEmpty], AfterValidator(_age_recipients)] = []
    #: a secret ref to the age identity that opens them on another machine (unlock)
    state_identity: SecretRef | None = None
    #: where the state bucket has Object Lock: how long journals and reports are retained
    evidence_retention: Duration | None = None
    #: how long a run's lease holds without a heartbeat before another machine may take it
    lease_ttl: Duration = timedelta(minutes=2)

    @field_validator("lease_ttl")
    @classmethod
    def _lease_long_enough(cls, value: timedelta) -> timedelta:
        # The heartbeat renews at a third of the TTL: below 3 s it would be all heartbeat.
        if value < timedelta(seconds=3):
            raise PydanticCustomError("lease_ttl", "must be at least 3s (e.g. 2m)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_state_dir(cls, data: Any, info: ValidationInfo) -> Any:
        # The default must be resolved against the config file's folder too.
        if isinstance(data, dict) and "state_dir" not in data:
            data = {**data, "state_dir": ".breakglass"}
        return data

    @field_validator("state_dir")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        # Checked here, not at the first write: a file in the way is the user's to fix (exit 2),
        # never a NotADirectoryError in the middle of a run.
        for place in (value, *value.parents):
            if place.exists() or place.is_symlink():
                if not place.is_dir():
                    raise PydanticCustomError(
                        "state_dir", f"{place} exists and is not a folder; point state_dir at "
                                     "a folder (it is created when missing)")
                break
        return value


def _url_or_ref(value: str) -> str:
    if parse_ref_scheme(value) is not None:
        # Written as a reference: it must be one ("env:json://…" is a URL pasted after env:).
        problem = ref_problem(value)
        if problem is not None:
            raise PydanticCustomError("secret_ref", problem)
    elif "://" not in value:
        raise PydanticCustomError(
            "notify", "expected an apprise URL (scheme://...) or a secret reference "
            "(env:NAME, file:PATH, aws-sm:..., ssm:...)")
    return value


#: what `notify_on` may choose (engine/hooks.py CHOOSABLE; docs/notifications.md)
NoticeEventName = Literal["start", "success", "failure", "unverified", "approval"]


class PersonConfig(Section):
    #: where the person's notices go: apprise URLs, or references to them (prefer a reference: a
    #: webhook URL carries a token)
    notify: list[Annotated[str, AfterValidator(_url_or_ref)]] = []
    #: the events this person hears of, from what each run tells (default: all of those)
    notify_on: list[NoticeEventName] | None = None


def _runbook_names(value: dict[str, list[NoticeEventName]]) -> dict[str, list[NoticeEventName]]:
    import difflib
    import json

    from breakglass.engine.registry import names

    known = sorted(names())
    for name in value:
        if name not in known:
            guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = (f"did you mean {json.dumps(guess[0])}?" if guess
                    else f"known: {', '.join(known)}")
            raise PydanticCustomError("runbook", "unknown runbook {name} ({hint})",
                                      {"name": json.dumps(name), "hint": hint})
    return value


class SentryConfig(Section):
    #: a reference to the Sentry DSN: errors, each run's final hash, cron check-ins of scheduled
    #: runs
    dsn: SecretRef
    #: Sentry's environment tag
    environment: NonEmpty | None = None


class AwsConfig(Section):
    #: default: the AWS SDK's own (AWS_REGION, ~/.aws/config)
    region: NonEmpty | None = None
    #: an S3-compatible store or a local test server instead of AWS
    endpoint_url: NonEmpty | None = None
    #: a profile of ~/.aws/config; default: the usual AWS credential chain
    profile: NonEmpty | None = None
    #: service -> endpoint, winning over endpoint_url for that service (`cloudtrail = "…"`:
    #: a service the S3-compatible store or the local emulator does not serve)
    service_endpoints: dict[str, Annotated[str, AfterValidator(http_url)]] = Field(
        default_factory=dict)

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            http_url(value)
        return value


class AppConfig(Section):
    #: the live app: health checks, lockout proofs, [checklist.web]
    base_url: Annotated[str, AfterValidator(http_url)]
    #: answers 2xx when the app is healthy (rollback, rotation)
    health_path: str = "/healthz"

    @field_validator("health_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise PydanticCustomError("path", 'must start with "/"')
        return value


class HostConfig(Section):
    """An SSH host (breakglass/connectors/ssh.py). Host keys are checked against `known_hosts`
    (default ~/.ssh/known_hosts) and never auto-added."""

    #: a host name or IP address
    address: NonEmpty
    port: int = Field(default=22, ge=1, le=65535)
    #: the SSH login
    user: NonEmpty
    #: a secret ref to the private key's text; unset: ssh-agent and ~/.ssh/id_* keys
    key: SecretRef | None = None
    #: the known_hosts file its host key is checked against (default ~/.ssh/known_hosts); keys are
    #: never added
    known_hosts: ConfigPath | None = None
    #: prefix privileged commands (restart, chown of a rewritten file) with `sudo -n`
    sudo: bool = False
    #: restart command template; `{service}` is replaced by the consumer's service name
    #: (default: `systemctl restart {service}`, run through sudo when `sudo = true`)
    restart: NonEmpty | None = None
    #: health check of this host's app: an http(s) URL (default: [app] base_url + health_path) …
    health_url: Annotated[str, AfterValidator(http_url)] | None = None
    #: … and/or a command run on the host that exits 0 when the service is healthy
    health_command: NonEmpty | None = None

    @field_validator("restart")
    @classmethod
    def _restart_template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(service="x")
            except (KeyError, IndexError, ValueError):
                raise PydanticCustomError(
                    "template", "only {service} may appear in braces (e.g. "
                                '"systemctl restart {service}")') from None
        return value


class DatabaseConfig(Section):
    #: a reference to the PostgreSQL connection URL
    dsn: SecretRef


class BackupConfig(Section):
    #: where the backups are: file:///absolute/path/ or s3://bucket/prefix/
    store: str
    #: the [databases.NAME] that backup.take dumps
    database: str | None = None
    #: RPO: the newest backup must be younger than this
    max_age: Duration = timedelta(hours=26)
    #: the oldest kept backup must be at least this old
    retention_days: int = Field(default=30, ge=1, le=3650)
    #: "age" needs identity or recipients
    encryption: Literal["age", "sse-s3", "sse-kms", "none"] = "none"
    #: a reference to the age identity that decrypts the backups
    identity: SecretRef | None = None
    #: age public keys the backups are encrypted to
    recipients: list[NonEmpty] = []
    #: tables whose rows the dump leaves out on purpose ("sessions" in any schema, or
    #: "schema.table"): backup.verify and the drill do not ask for their data
    exclude_data: list[NonEmpty] = []

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        # Each store declares the URLs it takes (breakglass/recovery/stores/).
        from breakglass.recovery.stores import store_problem

        problem = store_problem(value)
        if problem is not None:
            raise PydanticCustomError("store", problem)
        return value

    @field_validator("recipients")
    @classmethod
    def _age_keys(cls, value: list[str]) -> list[str]:
        return _age_recipients(value)

    @model_validator(mode="after")
    def _age_needs_keys(self) -> BackupConfig:
        if self.encryption == "age" and self.identity is None and not self.recipients:
            raise PydanticCustomError("age", 'encryption = "age" needs identity (a secret ref to '
                                             "the age identity) or recipients (age public keys)")
        return self


class ExpectConfig(Section):
    """One row-level proof of a restore: `sql` returns one value, compared with min/max/equals."""

    sql: NonEmpty
    min: int | None = None
    max: int | None = None
    equals: Annotated[Any, AfterValidator(lambda v: _scalar(v))] = None

    @model_validator(mode="after")
    def _has_expectation(self) -> ExpectConfig:
        if self.min is None and self.max is None and self.equals is None:
            raise PydanticCustomError("expect", "needs at least one of min, max, equals")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("expect", "min is greater than max")
        return self


def _scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise PydanticCustomError("scalar", "expected a string, number or boolean")
    return value


def _cron(value: str) -> str:
    # The same parser as every schedule printer (config/cron.py): what loads, prints and runs.
    try:
        cron.parse(value)
    except cron.CronError as exc:
        raise PydanticCustomError("cron", str(exc)) from None
    return value


def _environment_name(value: str) -> str:
    from breakglass.recovery.environments import ENVIRONMENTS

    if value not in ENVIRONMENTS.plugins:
        raise PydanticCustomError("environment", ENVIRONMENTS.unknown(value))
    return value


class RestoreDrillConfig(Section):
    """[drills.restore]. The settings of each drill environment (`server = …`, the
    [drills.restore.rds] table) are keys of this table declared by the environment itself
    (settings_key, settings_model in breakglass/recovery/environments/): `complete_model()` is
    this model with them, built from the registry when the first config is validated — not at
    import, since the environment modules build their settings on breakglass.config.base."""

    backup: NonEmpty
    #: the drill environment (docs/environments.md): a name from its registry
    environment: Annotated[str, AfterValidator(_environment_name)] = "local"
    rto: Duration = timedelta(minutes=30)
    expect: list[ExpectConfig] = []
    #: when the drill is meant to run (drill.schedule, Sentry monitor); monthly by default
    schedule: Annotated[str, AfterValidator(_cron)] = "0 3 1 * *"
    #: pg_restore --jobs; unset: breakglass chooses
    jobs: int | None = Field(default=None, ge=1, le=64)

    @classmethod
    def complete_model(cls) -> type[RestoreDrillConfig]:
        return _complete_restore_model()

    @model_validator(mode="wrap")
    @classmethod
    def _with_environment_settings(cls, data: Any, handler: Any) -> Any:
        if cls is RestoreDrillConfig and isinstance(data, dict):
            return cls.complete_model().model_validate(data)
        return handler(data)

    @model_validator(mode="after")
    def _environment_settings(self) -> RestoreDrillConfig:
        from breakglass.recovery.environments import ENVIRONMENTS

        env = ENVIRONMENTS.plugins.get(self.environment)
        if env is not None and env.settings_key is not None and env.settings_of(self) is None:
            raise PydanticCustomError("environment", env.settings_hint)
        return self


@functools.cache
def _complete_restore_model() -> type[RestoreDrillConfig]:
    from breakglass.recovery.environments import ENVIRONMENTS

    fields: dict[str, Any] = {
        env.settings_key: (env.settings_model | None, None)
        for env in ENVIRONMENTS.plugins.values()
        if env.settings_key is not None and env.settings_model is not None}
    model: type[RestoreDrillConfig] = create_model(
        "RestoreDrillConfig", __base__=RestoreDrillConfig, __module__=__name__, **fields)
    return model


def _role_arn(value: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", value):
        raise PydanticCustomError("arn", "expected an IAM role ARN, e.g. "
                                         '"arn:aws:iam::123456789012:role/breakglass-drill"')
    return value


class ScheduleConfig(Section):
    """`drill.schedule` (docs/drill-restore.md, Scheduling)."""

    #: --print github: the IAM role the workflow assumes through GitHub's OIDC provider
    #: (aws-actions/configure-aws-credentials); unset: AWS keys from repository secrets
    aws_role_arn: Annotated[str, AfterValidator(_role_arn)] | None = None


class DrillsConfig(Section):
    #: the restore drill (docs/drill-restore.md)
    restore: RestoreDrillConfig | None = None
    schedule: ScheduleConfig = ScheduleConfig()
    #: the failure-scenario drill against a staging app (docs/drill-scenarios.md)
    scenarios: ScenariosConfig | None = None


class SecretSettings(Section):
    """A managed secret (`breakglass rotate NAME`, docs/rotate.md): the keys every kind has.

    Each kind module (breakglass/runbooks/rotate/<kind>.py) subclasses this with its own keys
    and `kind: Literal["<its name>"]`; `[secrets.NAME]` is validated as the arm its `kind`
    names (the registry: breakglass/runbooks/rotate/kinds.py), so a key of another kind is an
    error naming it instead of a setting silently ignored."""

    kind: str
    description: str = Field("", description="what the secret is for (shown in reports)")
    consumers: list[NonEmpty] = Field(
        [], description='"host:service" pairs restarted and health-checked after the change')
    grace: Duration | None = Field(
        None, description="how long the old value stays (disabled) before it is deleted; "
                          "zero with --leaked")
    repository: ConfigPath | None = Field(
        None, description="a git work tree whose whole history `rotate --leaked` searches "
                          "for the leaked value")
    #: keys a rotation needs. Optional in the file (a secret may be declared by its kind
    #: alone, as in DESIGN's contract example); `rotation_problems` names the missing ones.
    required: ClassVar[tuple[str, ...]] = ()

    def rotation_problems(self) -> list[str]:
        """What `breakglass rotate` would need that is not configured, one line each."""
        return [f'{key} is required for kind = "{self.kind}" ({hint(type(self), key)})'
                for key in self.required if getattr(self, key) is None]


def hint(model: type[Section], key: str) -> str:
    """A key's description and first example: 'the IAM user …, e.g. iam_user = "ci"'."""
    field = model.model_fields[key]
    example = (f", e.g. {key} = {json.dumps(field.examples[0], ensure_ascii=False)}"
               if field.examples else "")
    return f"{field.description or key}{example}"


def _by_kind(value: Any, handler: ValidatorFunctionWrapHandler,
             info: ValidationInfo) -> SecretSettings:
    # The arms come from the kinds registry (breakglass/runbooks/rotate/kinds.py), which sits
    # above config: it imports the kind modules, which import the engine. Reached by name, on
    # the first [secrets.NAME] (a config without secrets never loads the kind modules), so that
    # no import goes from config up to the runbooks (the layers in .importlinter).
    kinds = importlib.import_module("breakglass.runbooks.rotate.kinds")
    settings: SecretSettings = kinds.validate_secret(value, info.context)
    return settings


#: `[secrets.NAME]`: a discriminated union on `kind`, one arm per registered kind.
#: SerializeAsAny: a dump (config.check) shows the arm's own keys, not only the shared ones.
SecretConfig = SerializeAsAny[Annotated[SecretSettings, WrapValidator(_by_kind)]]


class AccountsSqlConfig(Section):
    """[accounts.sql]: the generic preset's statements (docs/lockout.md). In `find`, %(user)s is
    what the user typed (an email or an id); everywhere else it is the id `find` returned."""

    #: returns one row: id, and optionally is_active, is_admin (column names matter)
    find: NonEmpty
    disable: NonEmpty | None = None
    revoke_sessions: NonEmpty | None = None
    revoke_tokens: NonEmpty | None = None
    force_reset: NonEmpty | None = None
    #: returns one row: the prior state that `restore` receives as %(column)s parameters
    snapshot: NonEmpty | None = None
    restore: NonEmpty | None = None
    #: returns the number of *other* active admins (refuses locking out the last one)
    other_admins: NonEmpty | None = None


def _probe_target(value: str) -> str:
    # A relative "private" would be joined under base_url's folder and answer a redirect that
    # proves nothing (issue #10): a path must be absolute, or the whole URL given.
    if value.startswith(("http://", "https://")):
        return http_url(value)
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise PydanticCustomError("path", 'must be a path starting with "/" (under [app] '
                                          'base_url, e.g. "/account/") or an http(s):// URL')
    return value


ProbeTarget = Annotated[str, AfterValidator(_probe_target)]


class AccountsConfig(Section):
    """[accounts]: where user accounts live, for `lockout USER` / `unlock USER`."""

    #: the [databases.NAME] holding the user accounts
    database: NonEmpty
    #: django: Django's auth tables; generic: your own SQL in [accounts.sql]
    preset: Literal["django", "generic"] = "django"
    #: where the proof replays a session cookie: a page that needs a login (a path under
    #: [app].base_url, or an http(s) URL)
    probe_session_url: ProbeTarget | None = None
    #: where the proof replays an API token: an API URL that needs authentication
    probe_token_url: ProbeTarget | None = None
    #: deprecated: one URL for both (what either of the two above falls back to)
    probe_url: ProbeTarget | None = None
    session_cookie: NonEmpty = "sessionid"
    #: a redirect whose Location contains this counts as "refused" (sent to the login page)
    login_path: NonEmpty = "login"
    #: django: SESSION_ENGINE db | cache | cached_db
    sessions: Literal["db", "cache", "cached_db"] = "db"
    #: a secret ref to the Redis URL holding sessions (cache sessions, generic key patterns)
    redis: SecretRef | None = None
    #: the Redis key of one session, {sid} = the session id (the cookie value)
    session_key: NonEmpty | None = None
    #: generic: a per-user set of session ids, e.g. "sessions:user:{id}"
    session_set: NonEmpty | None = None
    #: generic: key patterns deleted with SCAN + DEL, e.g. "sess:{id}:*"
    session_patterns: list[NonEmpty] = []
    sql: AccountsSqlConfig | None = None

    @model_validator(mode="after")
    def _preset_settings(self) -> AccountsConfig:
        if self.preset == "generic" and self.sql is None:
            raise PydanticCustomError("sql", 'preset = "generic" needs an [accounts.sql] table '
                                             "with at least find = \"select id ...\"")
        uses_redis = (self.sessions != "db" if self.preset == "django"
                      else bool(self.session_set or self.session_patterns))
        if uses_redis and self.redis is None:
            raise PydanticCustomError("redis", 'sessions in Redis need redis = "env:REDIS_URL" '
                                               "(a secret ref)")
        if self.session_set and not self.session_key:
            raise PydanticCustomError("session_key", 'session_set needs session_key, e.g. '
                                                     '"session:{sid}"')
        return self


class ReleasesConfig(Section):
    """[releases]: the fleet `breakglass rollback` acts on (docs/rollback.md). Each host keeps
    `PATH/releases/<id>/` and a `PATH/current` symlink to one of them."""

    #: the [hosts.NAME] that serve the app; changed one at a time, in this order
    hosts: list[NonEmpty] = Field(min_length=1)
    #: the base folder: absolute, or "~/..." for the login user's home
    path: NonEmpty = "/srv/app"
    #: shell line run on a host after its `current` moved (through sudo when hosts.NAME.sudo)
    restart: NonEmpty
    #: health URL template ({host} = the name, {address}); default: hosts.NAME.health_url,
    #: else [app] base_url + health_path
    health_url: NonEmpty | None = None
    #: command run on the first host before anything changes: exit 0 safe, 1 unsafe
    migration_check: NonEmpty | None = None
    #: hosts read and checked at the same time (changes are always one host at a time);
    #: 16 keeps a 16-host read within ~2x one host's time (bench/fleet.py)
    max_parallel: int = Field(default=16, ge=1, le=64)
    health_attempts: int = Field(default=10, ge=1, le=100)
    health_deadline: Timeout = timedelta(seconds=30)

    @field_validator("path")
    @classmethod
    def _base_path(cls, value: str) -> str:
        if not value.startswith(("/", "~/")) or "\n" in value:
            raise PydanticCustomError("path", 'must be absolute or start with "~/" (e.g. '
                                              '"/srv/app")')
        return value.rstrip("/") or "/"

    @field_validator("health_url")
    @classmethod
    def _health_template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                url = value.format(host="web1", address="127.0.0.1")
            except (KeyError, IndexError, ValueError):
                raise PydanticCustomError(
                    "template", "only {host} and {address} may appear in braces (e.g. "
                                '"http://{address}:8000/healthz")') from None
            http_url(url)
        return value


class MetricsConfig(Section):
    """Prometheus text-format gauges written after every run (docs/metrics.md)."""

    #: e.g. /var/lib/node_exporter/textfile_collector/breakglass.prom
    textfile: ConfigPath | None = None


class Config(Section):
    #: the file this was loaded from (set by the loader; not a key in the file)
    path: Path | None = None
    project: ProjectConfig
    #: responsibility -> people: key_rotation, incident_response, access_approvals,
    #: release_signoff, backup_restore, dependency_patching; each person needs a [people.NAME]
    owners: dict[str, list[NonEmpty]] = {}
    people: dict[str, PersonConfig] = {}
    #: runbook -> the events its runs tell owners (default: every event for a runbook that
    #: changes things; failure and unverified for a read-only one)
    notify_on: Annotated[dict[str, list[NoticeEventName]],
                         AfterValidator(_runbook_names)] = {}
    sentry: SentryConfig | None = None
    aws: AwsConfig = AwsConfig()
    app: AppConfig | None = None
    hosts: dict[str, HostConfig] = {}
    databases: dict[str, DatabaseConfig] = {}
    backups: dict[str, BackupConfig] = {}
    drills: DrillsConfig = DrillsConfig()
    secrets: dict[str, SecretConfig] = {}
    accounts: AccountsConfig | None = None
    releases: ReleasesConfig | None = None
    checklist: ChecklistConfig = ChecklistConfig()
    metrics: MetricsConfig = MetricsConfig()

    def owners_of(self, responsibility: str) -> list[str]:
        """People responsible for `responsibility` (empty when nobody is named)."""
        return list(self.owners.get(responsibility, []))
