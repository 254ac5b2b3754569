"""`kind = "env_file"`: a `KEY=value` line of an env file on one or more hosts, over SSH.

    [secrets.DJANGO_KEY]
    kind = "env_file"
    path = "/srv/app/.env"          # the same path on every host
    key = "SECRET_KEY"
    consumers = ["web1:gunicorn", "web2:gunicorn"]   # hosts default to the consumers' hosts

The value lives only in the files, so creating is deploying: `create` writes one generated value
to every host, one host at a time, through the store layer (stores/dotenv_hosts.py: temp file +
rename, mode and owner kept, a 0600 backup `<name>.breakglass-<run_id>.bak` of the original; the
file format is dotenv_format.py). Writing the new value is what
takes the old one out of the file (`revoked_by_promotion`). For Django's SECRET_KEY (`django =
true`, the default when key = "SECRET_KEY") the old key moves to SECRET_KEY_FALLBACKS so that
sessions survive (Django >= 4.1); with --leaked the fallbacks are emptied so every session dies.

Values are identified by a sha256 prefix (stores.value_digest): a snapshot says which host holds
which value without holding any. A value is never taken from the journal: a run killed between
two hosts reads the new value back from a host this run wrote (the one with this run's backup),
so every host ends on the same value, generated once.

"Old value dead" means, and is proven by reading every host's file again: the old value is no
host's KEY (verify_old); after `grace` (at once with --leaked) it is in no host's fallbacks and
this run's backups, which hold it, are deleted (delete). That the running app uses the new value
is proven by the consumers' restart and health check, not by this module.

A host that goes down once this run wrote the files (before or during the restarts) stops the
run with HOST_UNREACHABLE, the state of every host (which value its file holds, which value its
service runs) and a recovery plan; `breakglass runs.resume ID` finishes once the host is back.
"""

from __future__ import annotations

import posixpath
import re
import string
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, assert_never

from pydantic import Field

from breakglass.config.base import NonEmpty
from breakglass.connectors.ssh import Connection, host_from_config
from breakglass.engine.findings import Finding
from breakglass.engine.runbook import StepContext
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rotate import dotenv_format as fmt
from breakglass.runbooks.rotate.base import Cred, Kind, KindSpec, Snapshot, generate_value
from breakglass.runbooks.rotate.settings import EnvLine, Generated
from breakglass.runbooks.rotate.stores import value_digest
from breakglass.runbooks.rotate.stores.dotenv_hosts import (
    DotenvHosts,
    backup_path,
    check_path,
    remove,
)

if TYPE_CHECKING:
    from breakglass.config import Config

FALLBACKS = "SECRET_KEY_FALLBACKS"  # the name dotenv_format writes the previous key under
# django.core.management.utils.get_random_secret_key: 50 characters of this alphabet.
DJANGO_ALPHABET = string.ascii_lowercase + string.digits + "!@#$%^&*(-_=+)"
DJANGO_LENGTH = 50
# Django's SESSION_COOKIE_AGE default (two weeks): sessions signed with the old key live this
# long, so a Django key without `grace` keeps its fallback that long.
DJANGO_GRACE = timedelta(weeks=2)
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class HostView:
    """One host's env file, by digests only (journal-safe)."""

    host: str
    path: str  # the env file there (~ expanded)
    digest: str  # of KEY's value; "" when KEY is not set
    fallbacks: tuple[str, ...]  # digests of SECRET_KEY_FALLBACKS (Django)
    backup: str | None  # this run's backup, when it exists (it holds the old value)
    earlier: tuple[str, ...]  # backups left by earlier rotations of this file

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HostView:
        return cls(d["host"], d["path"], d["digest"], tuple(d["fallbacks"]), d["backup"],
                   tuple(d["earlier"]))


#: how a new value is made: Django's get_random_secret_key alphabet, or `alphabet`/`length`
Generator = Literal["random", "django"]


class Settings(EnvLine, Generated):
    """`[secrets.NAME]` with `kind = "env_file"`."""

    kind: Literal["env_file"]
    hosts: list[NonEmpty] | None = Field(
        None, description="the [hosts.NAME] whose env file holds the value (default: the "
                          "consumers' hosts)")
    django: bool | None = Field(
        None, description="a Django SECRET_KEY: the old key moves to SECRET_KEY_FALLBACKS "
                          '(default: true when key = "SECRET_KEY")')
    generator: Generator | None = Field(
        None, description='how the value is made: "django" (50 characters of Django\'s '
                          'alphabet; the default for Django keys) or "random"')
    required = ("path", "key")


class EnvFileKind(Kind[Settings]):
    noun = "value"
    revoked_by_promotion = True

    def __init__(self, secret: str, cfg: Settings, config: Config) -> None:
        where = f"secrets.{secret}"
        assert cfg.path is not None and cfg.key is not None  # Settings.required
        check_path(secret, cfg.path)
        if not _KEY.fullmatch(cfg.key):
            raise UsageError(f'{where}.key: "{cfg.key}" is not a variable name '
                             "([A-Za-z_][A-Za-z0-9_]*)")
        self.path, self.key = cfg.path, cfg.key
        self.django = cfg.django if cfg.django is not None else cfg.key == "SECRET_KEY"
        self.generator: Generator = cfg.generator or ("django" if self.django else "random")
        if self.django and cfg.grace is None:
            cfg = cfg.model_copy(update={"grace": DJANGO_GRACE})
        super().__init__(secret, cfg, config)
        self.hosts = self._host_names(config)
        self.store = DotenvHosts(config, secret, self.hosts, self.path, self.key)

    def _host_names(self, config: Config) -> list[str]:
        where = f"secrets.{self.secret}"
        names = list(self.cfg.hosts or [])
        if not names:
            from breakglass.runbooks.rotate.consumers import consumers_of

            names = list(dict.fromkeys(c.host for c in consumers_of(config, self.secret)))
        if not names:
            raise UsageError(f"{where}: set hosts = [\"web1\", …] or consumers = "
                             "[\"web1:SERVICE\", …]: the hosts whose env file holds the value")
        unknown = [n for n in names if n not in config.hosts]
        if unknown:
            known = ", ".join(sorted(config.hosts)) or "none"
            raise UsageError(f"{where}.hosts: no [hosts.{unknown[0]}] in the configuration "
                             f"(configured hosts: {known})")
        return names

    @property
    def where(self) -> str:
        return f"{self.key} in {self.path} on {', '.join(self.hosts)}"

    # -- reading ------------------------------------------------------------------------------
    def _text(self, ctx: StepContext, conn: Connection) -> str:
        path = self.store.path_on(conn)
        text = self.store.text_on(conn)
        if text is None:
            raise CouldNotVerify(f"{conn.host.label}: env file {path} does not exist",
                                 code="ENV_FILE_MISSING",
                                 action=f"check secrets.{self.secret}.path and the host "
                                        "(breakglass edits an existing env file)")
        return text

    def _values(self, ctx: StepContext, text: str) -> tuple[str | None, list[str]]:
        """KEY's value and the fallbacks in `text`, each registered with the redactor."""
        value = fmt.read_value(text, self.key)
        fallbacks = fmt.parse_list(fmt.read_value(text, FALLBACKS) or "") \
            if self.django else []
        for v in (value, *fallbacks):
            ctx.register_secret(v)
        return value, fallbacks

    def _view(self, ctx: StepContext, conn: Connection) -> HostView:
        value, fallbacks = self._values(ctx, self._text(ctx, conn))
        mine = self.store.backup_on(conn, ctx.run_id)
        backups = self.store.backups_on(conn)
        return HostView(conn.host.name, self.store.path_on(conn), value_digest(value),
                        tuple(value_digest(f) for f in fallbacks),
                        mine if mine in backups else None,
                        tuple(sorted(backups - {mine})))

    def _views(self, ctx: StepContext) -> list[HostView]:
        views = []
        for name in self.hosts:
            try:
                with self.store.connect(ctx, name) as conn:
                    views.append(self._view(ctx, conn))
            except CouldNotVerify as exc:
                if exc.code == "HOST_UNREACHABLE" and ctx.outputs.get("create"):
                    raise self._stranded(ctx, name, exc) from exc
                raise
        return views

    def _stranded(self, ctx: StepContext, down: str, exc: CouldNotVerify) -> CouldNotVerify:
        """`down` went away after this run wrote every host's file (create is done): say what
        each host holds and serves, and how to finish (resume) or go back (the plan)."""
        from breakglass.runbooks.rotate import consumers as cs

        digest = str((ctx.outputs.get("create") or {}).get("digest", ""))[:8]
        results = (ctx.outputs.get("consumers") or {}).get("results") or []
        restarted = {str(r["consumer"]).partition(":")[0] for r in results if r.get("ok")}
        state = "; ".join(
            f"{h}: file holds the new value (sha256 {digest}…), service runs the "
            f"{'new value' if h in restarted else 'OLD value (not restarted)'}"
            for h in self.hosts)
        found = cs.consumers_of(ctx.config, self.secret)
        hosts = {c.host: host_from_config(ctx.config, c.host, None) for c in found}
        restore = {h: self.store.restore_remote(h, ctx.run_id) for h in self.hosts}
        plan = cs.recovery_plan(found, hosts, restore=restore, app=ctx.config.app) if found \
            else [line for h in self.hosts for line in restore[h]]
        ctx.log("recovery plan", commands=plan)
        return CouldNotVerify(
            f"{down} is unreachable ({exc}) after this run wrote {self.key} on every host: "
            f"{state}", code="HOST_UNREACHABLE",
            action=f"when {down} is back, `breakglass runs.resume {ctx.run_id}` restarts the "
                   "consumers onto the new value and finishes; to go back to the old value "
                   "instead, run the recovery plan below", evidence={"recovery_plan": plan})

    # -- the Kind interface -------------------------------------------------------------------
    def current(self, ctx: StepContext) -> Cred:
        views = self._views(ctx)
        return Cred(views[0].digest or "unset")

    def start_findings(self, ctx: StepContext) -> list[Finding]:
        views = self._views(ctx)
        unset = [v.host for v in views if not v.digest]
        if unset:
            return [self.finding("ENV_KEY_MISSING", f"{self.key} is not set in {self.path} on "
                                 f"{', '.join(unset)}", "check secrets."
                                 f"{self.secret}.key and path: rotation replaces an existing "
                                 "value, it does not add one", hosts=unset)]
        if len({v.digest for v in views}) > 1:
            runs = sorted({b.rsplit(".breakglass-", 1)[1][:-4] for v in views for b in v.earlier})
            hint = (f" (backups of run {', '.join(runs)} are there: `breakglass runs.show ID` "
                    "shows its recovery plan)" if runs else "")
            return [self.finding("ENV_FILE_HOSTS_DIFFER", f"{self.key} in {self.path} differs "
                                 f"between hosts ({_by_value(views)}): a rotation that stopped "
                                 f"half-way, or a host changed by hand{hint}",
                                 "make every host hold the same value (restore the backups or "
                                 "copy the file), then rotate again",
                                 hosts={v.host: v.digest for v in views})]
        return []

    def snapshot(self, ctx: StepContext, old_id: str) -> Snapshot:
        views = self._views(ctx)
        digests = {v.digest for v in views}
        new_digest = next(iter(digests)) if len(digests) == 1 else None
        new = Cred(new_digest) if new_digest and new_digest != old_id else None
        if old_id in digests:
            state = "current"
        elif any(old_id in v.fallbacks or v.backup for v in views):
            state = "revoked"
        else:
            state = "gone"
        orphans = tuple(Cred(f"{v.host}:{b}", "revoked", "a backup left by an earlier rotation")
                        for v in views for b in v.earlier)
        return Snapshot(Cred(old_id, state), new, deployed=new is not None, orphans=orphans,
                        facts={"hosts": [asdict(v) for v in views],
                               "leaked": bool(ctx.params.get("leaked")),
                               "written": [v.host for v in views
                                           if v.digest != old_id and v.backup],
                               "pending": [v.host for v in views if v.digest == old_id],
                               "restore": self.store.restore_lines(
                                   ctx.run_id, [v.host for v in views if v.backup])})

    def _new_value(self, ctx: StepContext, snap: Snapshot) -> str:
        """The value this run writes: read back from a host it already wrote (a resumed run
        must not generate a second one), else generated now."""
        found: set[str] = set()
        for name in snap.facts["written"]:
            with self.store.connect(ctx, name) as conn:
                value, _ = self._values(ctx, self._text(ctx, conn))
            if value:
                found.add(value)
        if len(found) > 1:
            raise CouldNotVerify(f"hosts this run wrote hold different values of {self.key} "
                                 f"({', '.join(snap.facts['written'])})",
                                 code="ENV_FILE_HOSTS_DIFFER",
                                 action="someone else is changing the file: restore the backups "
                                        "(recovery plan) and rotate again")
        if found:
            return found.pop()
        value = self._generate()
        ctx.register_secret(value)
        return value

    def _generate(self) -> str:
        match self.generator:
            case "django":
                length = (self.cfg.length if "length" in self.cfg.model_fields_set
                          else DJANGO_LENGTH)
                return generate_value(self.cfg.model_copy(update={
                    "alphabet": DJANGO_ALPHABET, "exclude_characters": None, "length": length}))
            case "random":
                return generate_value(self.cfg)
            case unknown:
                assert_never(unknown)

    def create(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        for orphan in snap.orphans:  # never more than two live values, backups included
            name, _, path = orphan.id.partition(":")
            with self.store.connect(ctx, name) as conn:
                remove(conn, path)
        value = self._new_value(ctx, snap)
        leaked = bool(ctx.params.get("leaked"))
        done: list[str] = list(snap.facts["written"])
        changes: list[dict[str, object]] = []
        for name in self.hosts:
            if name in done:
                continue  # written before a crash: its value is the one read back above
            try:
                with self.store.connect(ctx, name) as conn:
                    change = self.store.write_on(ctx, conn, value, django=self.django,
                                                 leaked=leaked)
            except CouldNotVerify as exc:
                raise self._partial(ctx, done, name, exc) from exc
            changes.append(change.to_dict())
            done.append(name)
            ctx.progress(f"{self.path} written", len(done), len(self.hosts))
        return {"hosts": changes, "digest": value_digest(value)}

    def _partial(self, ctx: StepContext, done: list[str], failed: str,
                 exc: CouldNotVerify) -> CouldNotVerify:
        """A host failed with others already written: stop before anything else changes
        (nothing restarted, nothing revoked) and say how to put every host back."""
        plan = self.store.restore_lines(ctx.run_id, done)
        ctx.log("recovery plan", commands=plan)
        return CouldNotVerify(
            f"{self.key} was written on {', '.join(done) or 'no host'} but not on {failed}: "
            f"{exc}", code="ENV_FILE_PARTIAL",
            action="no service was restarted and nothing revoked; " + (
                "to put the old value back everywhere, run the recovery plan below; "
                if plan else "") + f"then fix {failed} ({exc.action or exc.code}) and resume "
            "the run (or rotate again)", evidence={"recovery_plan": plan})

    def create_text(self, snap: Snapshot) -> str:
        written = snap.facts.get("written") or []
        todo = [h for h in self.hosts if h not in written]
        what = (f"write the value this run already put on {', '.join(written)}" if written
                else f"generate a new value ({self._describe()}) and write it")
        django = ""
        if self.django:
            django = ("; SECRET_KEY_FALLBACKS emptied (--leaked: every session dies)"
                      if snap.facts.get("leaked") else
                      f"; the old key moves to {FALLBACKS} so sessions survive")
        return (f"{what} as {self.key} in {self.path} on {', '.join(todo)}, one host at a time "
                f"(temp file + rename, mode and owner kept, 0600 backup "
                f"{posixpath.basename(backup_path(self.path, 'RUN'))}){django}")

    def _describe(self) -> str:
        if self.generator == "django":
            return "Django get_random_secret_key alphabet"
        return f"{self.cfg.length} characters"

    def promotion_text(self) -> str:
        kept = f"{FALLBACKS} and " if self.django else ""
        return (f"writing the new value (step create) took the old one out of {self.key}; it "
                f"stays in {kept}this run's backups until deleted")

    def verify_new_text(self) -> str:
        return f"every host's {self.path} must hold the same new {self.key}"

    def verify_old_text(self) -> str:
        return f"no host's {self.key} may be the old value" + (
            f" (it stays in {FALLBACKS} until deleted)" if self.django else "")

    def delete_text(self, snap: Snapshot) -> str:
        what = f"remove the old key from {FALLBACKS} and " if self.django else ""
        return f"{what}delete this run's backups of {self.path} (they hold the old value)"

    def verify_works(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        if snap.new is None:
            views = [HostView.from_dict(v) for v in snap.facts["hosts"]]
            return [self.finding("ENV_FILE_HOSTS_DIFFER", f"{self.key} in {self.path} is not "
                                 f"one new value on every host ({_by_value(views)})",
                                 "run the recovery plan of this run or resume it",
                                 hosts={v.host: v.digest for v in views})]
        if self.django and ctx.params.get("leaked"):
            keep = [v["host"] for v in snap.facts["hosts"] if v["fallbacks"]]
            if keep:
                return [self.finding("FALLBACKS_NOT_CLEARED", f"{FALLBACKS} is not empty on "
                                     f"{', '.join(keep)} after a --leaked rotation",
                                     f"empty {FALLBACKS} there by hand, restart, and resume")]
        return []

    def verify_refused(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        views = [HostView.from_dict(v) for v in snap.facts["hosts"]]
        still = [v.host for v in views if v.digest == snap.old.id]
        if ctx.params.get("leaked"):
            still += [v.host for v in views if snap.old.id in v.fallbacks]
        if still:
            return [self.finding(self.still_valid_code, f"the old {self.key} is still in "
                                 f"{self.path} on {', '.join(sorted(set(still)))}",
                                 "find who writes the file, then resume the run",
                                 hosts=sorted(set(still)))]
        return []

    def verify_deleted(self, ctx: StepContext, snap: Snapshot) -> list[Finding]:
        views = [HostView.from_dict(v) for v in snap.facts["hosts"]]
        left = [v.host for v in views if snap.old.id in v.fallbacks or v.backup
                or v.digest == snap.old.id]
        if left:
            return [self.finding(self.still_valid_code, f"the old {self.key} is still in "
                                 f"{self.path} or its backup on {', '.join(left)}",
                                 "resume the run", hosts=left)]
        return []

    def delete(self, ctx: StepContext, snap: Snapshot) -> dict[str, Any]:
        removed = []
        for name in self.hosts:
            with self.store.connect(ctx, name) as conn:
                text, path = self._text(ctx, conn), self.store.path_on(conn)
                if self.django:
                    after = _drop_fallback(text, snap.old.id)
                    if after != text:
                        conn.write_file_atomic(path, after.encode("utf-8"), backup=False)
                backup = backup_path(path, ctx.run_id)
                if conn.stat(backup) is not None:
                    remove(conn, backup)
                    removed.append(f"{name}:{backup}")
        return {"backups_removed": removed}

    def old_value(self, ctx: StepContext, old_id: str) -> str | None:
        for name in self.hosts:
            with self.store.connect(ctx, name) as conn:
                value, fallbacks = self._values(ctx, self._text(ctx, conn))
                candidates = [value, *fallbacks]
                backup = self.store.text_on(conn, backup_of=ctx.run_id)
                if backup is not None:
                    candidates.append(self._values(ctx, backup)[0])
            for v in candidates:
                if v is not None and value_digest(v) == old_id:
                    return v
        return None

    def recovery(self, snap: Snapshot) -> list[str]:
        return list(snap.facts.get("restore") or [])


def _drop_fallback(text: str, digest: str) -> str:
    """`text` without the fallback whose digest is `digest` (Django's SECRET_KEY_FALLBACKS)."""
    raw = fmt.read_value(text, FALLBACKS)
    if raw is None:
        return text
    items = fmt.parse_list(raw)
    kept = [i for i in items if value_digest(i) != digest]
    if kept == items:
        return text
    return fmt.set_value(text, FALLBACKS,
                             fmt.format_list(kept, raw.strip().startswith("[")))


def _by_value(views: list[HostView]) -> str:
    groups: dict[str, list[str]] = {}
    for v in views:
        groups.setdefault(v.digest or "unset", []).append(v.host)
    return "; ".join(f"{', '.join(hosts)}: sha256 {d[:8]}…" if d != "unset" else
                     f"{', '.join(hosts)}: unset" for d, hosts in groups.items())


SPEC = KindSpec(Settings, EnvFileKind, docs="rotate.md#env_file",
                summary="a KEY=value line of an env file on your hosts, over SSH (Django's "
                        "SECRET_KEY keeps a fallback)")
