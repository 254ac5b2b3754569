"""`rds`: restore an RDS snapshot into a new instance, prove it, delete it.

For RDS the snapshot restore *is* the restore: the Target's database already holds the data
(`handle["restored"] is True`) and the drill goes straight to validation.

The instance is `bg-drill-<run id>` (RDS identifiers: letters, digits, single hyphens, <= 63),
tagged `breakglass:drill = <run id>` and `breakglass:project = <project name>`. Only an instance
carrying the drill tag of this run is ever deleted, and always with SkipFinalSnapshot and
DeleteAutomatedBackups (a drill copy must not leave billable snapshots behind). `scan` lists the
instances tagged for this project, so the next drill removes what a killed one left.

TLS: the Target asks for `sslmode=require` (encrypted). Verifying the server certificate needs
the RDS CA bundle on this machine (verify-full with sslrootcert); the drill instance holds a copy
of production data, so set PGSSLROOTCERT-style trust in a later version — noted in
docs/environments.md.

Waiting: boto3's `db_instance_available` / `db_instance_deleted` waiters, bounded by
`[drills.restore.rds] timeout`. A timeout is CouldNotVerify (exit 3): the drill did not prove the
snapshot restores, which is not the same as proving it does not.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from breakglass.config.base import NonEmpty, SecretRef, Section
from breakglass.config.durations import Timeout, format_duration
from breakglass.connectors import aws
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.recovery.environments.base import Leftover, SnapshotEnvironment, Target

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.redaction import Redactor
    from breakglass.secrets import SecretResolver

TAG_DRILL = "breakglass:drill"
TAG_PROJECT = "breakglass:project"
PREFIX = "bg-drill-"
POLL_SECONDS = 15  # AWS's own waiters poll every 30 s; a drill is timed, so look more often
UNREACHABLE = "RDS_UNREACHABLE"
#: statuses in which an instance accepts connections. Right after a restore RDS often moves an
#: instance on to `backing-up` (its first automated backup) or `configuring-*`; it is usable and
#: still ours to validate and delete ("Viewing Amazon RDS DB instance status", RDS User Guide).
USABLE = frozenset({"available", "backing-up", "storage-optimization", "modifying",
                    "configuring-enhanced-monitoring", "configuring-iam-database-auth",
                    "configuring-log-exports"})


class RdsDrillConfig(Section):
    """[drills.restore.rds]: restore an RDS snapshot into a new, tagged instance; deleted after
    the drill."""

    source_instance: NonEmpty | None = Field(
        default=None, description="the instance whose newest available snapshot is restored "
                                  "(exactly one of source_instance, snapshot)")
    snapshot: NonEmpty | None = Field(default=None, description="or one named snapshot")
    instance_class: NonEmpty = Field(default="db.t3.micro",
                                     description="the class of the temporary instance")
    subnet_group: NonEmpty | None = Field(default=None, description="where the temporary "
                                          "instance lives (the drill machine must reach it)")
    security_groups: list[NonEmpty] = Field(default=[], description="VPC security groups of "
                                            "the temporary instance")
    user: NonEmpty = Field(default="postgres", description="the source's master user (the "
                           "snapshot keeps it)")
    password: SecretRef | None = Field(default=None, description="a secret ref to its password")
    dbname: NonEmpty = Field(default="postgres", description="the database validated")
    timeout: Timeout = Field(default=timedelta(minutes=40), description="how long to wait for "
                             "the instance to become available (and to be deleted)")

    @model_validator(mode="after")
    def _one_source(self) -> RdsDrillConfig:
        if (self.source_instance is None) == (self.snapshot is None):
            raise PydanticCustomError("rds", "set exactly one of source_instance, snapshot")
        return self


def instance_id(run_id: str) -> str:
    """`bg-drill-20251129t130512123456-ab12`: lowercase (RDS stores identifiers lowercased),
    only letters, digits and single hyphens, no trailing hyphen."""
    tail = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")
    return (PREFIX + tail)[:63].rstrip("-")


def _tags(inst: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in inst.get("TagList", [])}


def _major(engine_version: str) -> int:
    try:
        return int(engine_version.split(".", 1)[0])
    except ValueError:
        return 0


class RdsEnvironment(SnapshotEnvironment):
    kind = "rds"
    summary = "RDS instance `bg-drill-<run id>` restored from a snapshot"
    needs = "AWS credentials allowed to restore, tag, describe and delete instances"
    settings_key = "rds"
    settings_model = RdsDrillConfig
    settings_hint = ('environment = "rds" needs a [drills.restore.rds] table (source_instance '
                     "or snapshot)")
    uses_aws = True
    unreachable_action = ("the drill instance must accept connections from this machine: set "
                          "[drills.restore.rds] subnet_group and security_groups so that it "
                          "does, and user/password to the source instance's master login")
    snapshot_noun, instance_noun = "RDS snapshot", "RDS instance"
    snapshot_missing, snapshot_undated = "RDS_SNAPSHOT_MISSING", "RDS_SNAPSHOT_UNDATED"

    @classmethod
    def secret_refs(cls, config: Config) -> list[tuple[str, str]]:
        settings = cls.settings_in(config)
        if isinstance(settings, RdsDrillConfig) and settings.password is not None:
            return [("drills.restore.rds.password", settings.password)]
        return []

    # -- settings and clients ----------------------------------------------------------------
    @property
    def settings(self) -> RdsDrillConfig:
        settings = self.settings_in(self.config)
        if not isinstance(settings, RdsDrillConfig):
            raise UsageError(self.settings_hint)
        return settings

    @property
    def identifier(self) -> str:
        return instance_id(self.run_id)

    def _client(self) -> Any:
        return aws.client(self.config.aws, "rds")

    def _describe(self, client: Any) -> dict[str, Any] | None:
        with aws.translated("RDS DescribeDBInstances", UNREACHABLE), \
                aws.absent("DBInstanceNotFound") as missing:
            found = client.describe_db_instances(DBInstanceIdentifier=self.identifier)
        if missing:
            return None
        instances = found.get("DBInstances", [])
        return dict(instances[0]) if instances else None

    def _ours(self, inst: dict[str, Any]) -> bool:
        return _tags(inst).get(TAG_DRILL) == self.run_id

    # -- plan --------------------------------------------------------------------------------
    def describe_plan(self, major: int, *, snapshot: str | None = None) -> str:
        """`snapshot`: the one the drill selected (its plan names it), else the configured
        source."""
        s = self.settings
        source = (f"RDS snapshot {snapshot or s.snapshot}" if snapshot or s.snapshot else
                  f"the newest available snapshot of RDS instance {s.source_instance}")
        return (f"restore {source} into a new instance {self.identifier} ({s.instance_class}), "
                f"tagged {TAG_DRILL}={self.run_id}; wait up to {format_duration(s.timeout)} for "
                "it; delete it after the drill (no final snapshot, automated backups deleted)")

    def snapshot_id(self, client: Any) -> tuple[str, str]:
        """(snapshot identifier, engine version) to restore."""
        newest = self._newest_snapshot(client)
        return str(newest["DBSnapshotIdentifier"]), str(newest.get("EngineVersion", ""))

    def newest_snapshot(self) -> dict[str, Any]:
        """The snapshot a drill restores, for its plan and RPO: `snapshot`, `engine_version`,
        `major`, `created` (SnapshotCreateTime, an aware datetime, or None), `instance`,
        `type`, `instance_class`. CouldNotVerify(RDS_SNAPSHOT_MISSING) when there is none
        available."""
        snap = self._newest_snapshot(self._client())
        created = snap.get("SnapshotCreateTime") or snap.get("OriginalSnapshotCreateTime")
        engine = str(snap.get("EngineVersion", ""))
        return {"snapshot": str(snap["DBSnapshotIdentifier"]), "engine_version": engine,
                "major": _major(engine), "created": created,
                "instance": snap.get("DBInstanceIdentifier"),
                "type": snap.get("SnapshotType"), "instance_class": self.settings.instance_class}

    def _newest_snapshot(self, client: Any) -> dict[str, Any]:
        s = self.settings
        with aws.translated("RDS DescribeDBSnapshots", UNREACHABLE):
            if s.snapshot:
                with aws.absent("DBSnapshotNotFound") as missing:
                    snaps = client.describe_db_snapshots(DBSnapshotIdentifier=s.snapshot)
                if missing:
                    raise CouldNotVerify(f"RDS snapshot {s.snapshot} does not exist",
                                         code=self.snapshot_missing,
                                         action="fix [drills.restore.rds] snapshot")
            else:
                snaps = client.describe_db_snapshots(DBInstanceIdentifier=s.source_instance)
        ready = [x for x in snaps.get("DBSnapshots", []) if x.get("Status") == "available"]
        if not ready:
            raise CouldNotVerify(
                f"no available snapshot of RDS instance {s.source_instance}",
                code=self.snapshot_missing,
                action="enable automated backups on the instance or take a manual snapshot")
        newest = max(ready, key=lambda x: x.get("SnapshotCreateTime") or 0)
        return dict(newest)

    # -- observe -----------------------------------------------------------------------------
    def find(self) -> Target | None:
        inst = self._describe(self._client())
        if inst is None or not self._ours(inst) or inst.get("DBInstanceStatus") not in USABLE:
            return None
        return self._target(inst)

    def _target(self, inst: dict[str, Any]) -> Target:
        from psycopg.conninfo import make_conninfo

        s = self.settings
        endpoint = inst.get("Endpoint") or {}
        host, port = str(endpoint.get("Address", "")), int(endpoint.get("Port", 5432))
        password = self.secrets.resolve(s.password) if s.password else None
        self.redactor.register(password)
        params: dict[str, Any] = {"host": host, "port": port, "dbname": s.dbname,
                                  "user": s.user, "sslmode": "require"}
        if password is not None:
            params["password"] = password
        major = _major(str(inst.get("EngineVersion", "")))
        return Target(self.kind, make_conninfo("", **params), s.dbname, major,
                      f"RDS instance {self.identifier} ({host}:{port}, PostgreSQL {major})",
                      {"instance": self.identifier, "arn": inst.get("DBInstanceArn"),
                       "snapshot": _tags(inst).get("breakglass:snapshot"), "host": host,
                       "port": port, "major": major, "restored": True})

    # -- apply -------------------------------------------------------------------------------
    def create(self, major: int, *, snapshot: str | None = None) -> Target:
        """`snapshot`: restore this one (the drill's plan named it) rather than look up the
        newest again, which may have changed since."""
        client = self._client()
        inst = self._describe(client)
        if inst is not None and not self._ours(inst):
            raise UsageError(f"an RDS instance {self.identifier} exists without the tag "
                             f"{TAG_DRILL}={self.run_id}; breakglass will not use or delete it")
        if inst is not None and inst.get("DBInstanceStatus") == "deleting":
            self._wait(client, "db_instance_deleted")
            inst = None
        if inst is None:
            if snapshot is None:
                snapshot, _engine = self.snapshot_id(client)
            self.write_record({"instance": self.identifier, "snapshot": snapshot})
            self._restore(client, snapshot)
        self._wait(client, "db_instance_available")
        inst = self._describe(client)
        if inst is None:
            raise CouldNotVerify(f"RDS instance {self.identifier} vanished while starting",
                                 code=UNREACHABLE, action="look at the RDS events and retry")
        return self._target(inst)

    def _restore(self, client: Any, snapshot: str) -> None:
        s = self.settings
        args: dict[str, Any] = {
            "DBInstanceIdentifier": self.identifier, "DBSnapshotIdentifier": snapshot,
            "DBInstanceClass": s.instance_class, "MultiAZ": False,
            "PubliclyAccessible": False, "DeletionProtection": False,
            "Tags": [{"Key": TAG_DRILL, "Value": self.run_id},
                     {"Key": TAG_PROJECT, "Value": self.config.project.name},
                     {"Key": "breakglass:snapshot", "Value": snapshot[:256]}],
        }
        if s.subnet_group:
            args["DBSubnetGroupName"] = s.subnet_group
        if s.security_groups:
            args["VpcSecurityGroupIds"] = list(s.security_groups)
        with aws.translated("RDS RestoreDBInstanceFromDBSnapshot", UNREACHABLE):
            client.restore_db_instance_from_db_snapshot(**args)

    def _wait(self, client: Any, waiter_name: str) -> None:
        timeout = self.settings.timeout.total_seconds()
        attempts = max(1, math.ceil(timeout / POLL_SECONDS))
        try:
            with aws.translated(f"RDS {waiter_name}", UNREACHABLE):
                client.get_waiter(waiter_name).wait(
                    DBInstanceIdentifier=self.identifier,
                    WaiterConfig={"Delay": POLL_SECONDS, "MaxAttempts": attempts})
        except aws.WaitTimedOut as exc:
            raise CouldNotVerify(
                f"RDS instance {self.identifier}: {waiter_name} not reached within "
                f"{self.settings.timeout} ({exc.reason})",
                code="RDS_TIMEOUT",
                action="raise [drills.restore.rds] timeout or look at the instance's RDS "
                       "events") from None

    def destroy(self) -> bool:
        client = self._client()
        inst = self._describe(client)
        if inst is None:
            self.drop_record()
            return False
        if not self._ours(inst):
            raise UsageError(f"the RDS instance {self.identifier} lacks the tag "
                             f"{TAG_DRILL}={self.run_id}; not deleting it")
        if inst.get("DBInstanceStatus") != "deleting":
            with aws.translated("RDS DeleteDBInstance", UNREACHABLE), \
                    aws.absent("DBInstanceNotFound") as missing:
                client.delete_db_instance(DBInstanceIdentifier=self.identifier,
                                          SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
            if missing:
                self.drop_record()
                return False
        self._wait(client, "db_instance_deleted")
        self.drop_record()
        return True

    # -- leftovers ---------------------------------------------------------------------------
    @classmethod
    def scan(cls, config: Config, secrets: SecretResolver, state_dir: Path,
             redactor: Redactor) -> list[Leftover]:
        client = aws.client(config.aws, "rds")
        out: list[Leftover] = []
        with aws.translated("RDS DescribeDBInstances", UNREACHABLE):
            for page in client.get_paginator("describe_db_instances").paginate():
                for inst in page.get("DBInstances", []):
                    ident = str(inst.get("DBInstanceIdentifier", ""))
                    tags = _tags(inst)
                    if (not ident.startswith(PREFIX) or TAG_DRILL not in tags
                            or tags.get(TAG_PROJECT) != config.project.name):
                        continue
                    out.append(Leftover(
                        cls.kind, tags[TAG_DRILL],
                        f"RDS instance {ident} ({inst.get('DBInstanceStatus')})",
                        {"instance": ident, "arn": inst.get("DBInstanceArn")}))
        return out
