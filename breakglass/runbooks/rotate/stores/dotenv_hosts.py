"""`path` + `key`: the KEY line of an env file on every consumer host, over SSH/SFTP.

A write is dotenv_format's rewrite of the file, replaced atomically (connectors/ssh.py
write_file_atomic: temp file + rename, mode and owner kept) with a 0600 copy of the original
beside it, `<name>.breakglass-<run_id>.bak` — the value this run replaced, and the only place a
resumed run can read it back from. `write` is all or nothing: a host that refuses the file puts
the hosts already written back from those copies before the error is raised, so consumers never
find a value the server has not accepted yet. `clean_up` deletes this run's copies once the run
succeeded: they hold the old (maybe leaked) value.

`path` is absolute or starts with `~/`: SFTP does not expand `~`, so it is resolved against the
SFTP session's home (the login user's) on each host.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rotate import dotenv_format as fmt
from breakglass.runbooks.rotate.stores import Store, value_digest

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.connectors.ssh import Connection, SSHHost
    from breakglass.engine.runbook import StepContext

#: a rewrite of the file's text (default: set KEY to the value)
Edit = Callable[[str], str]


@dataclass(frozen=True)
class EnvFileChange:
    """What `apply` did on one host. Never holds a value: `digest` is a sha256 prefix of the
    value now in the file (for the journal: proves which value is deployed, reveals nothing)."""

    host: str
    path: str
    changed: bool
    backup_path: str | None
    mode: int | None
    notes: tuple[str, ...]
    digest: str

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "path": self.path, "changed": self.changed,
                "backup_path": self.backup_path,
                "mode": None if self.mode is None else f"{self.mode:04o}",
                "notes": list(self.notes), "digest": self.digest}


def check_path(secret: str, path: str) -> None:
    if not path.startswith(("/", "~/")):
        raise UsageError(f'secrets.{secret}.path: "{path}" must be absolute or start with ~/ '
                         "(the same path on every host, e.g. /srv/app/.env)")


def backup_path(path: str, run_id: str) -> str:
    """The copy of the original a run leaves beside the file (connectors/ssh.py names it)."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f"{name}.breakglass-{run_id}.bak")


def read_remote(conn: Connection, path: str, *, sudo: bool | None = None) -> str | None:
    """The env file's text, or None when it does not exist."""
    data = conn.read_file(path, sudo=conn.host.sudo if sudo is None else sudo)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CouldNotVerify(f"{conn.host.label}: {path} is not UTF-8 text",
                             code="ENV_FILE_UNREADABLE",
                             action="check that the path names an env file") from None


def apply(conn: Connection, path: str, key: str, value: str, *, run_id: str,
          django: bool = False, leaked: bool = False) -> EnvFileChange:
    """Set `key` to `value` in the env file at `path` on the connected host: atomic replace,
    mode and owner kept, a 0600 backup `<name>.breakglass-<run_id>.bak` of the original.
    A file that already holds `value` is left alone (resume after a crash applies nothing
    twice). Re-reads the file afterwards and proves the value is there. `django`: Django's
    SECRET_KEY, the old key moving to SECRET_KEY_FALLBACKS (emptied when `leaked`)."""
    before = read_remote(conn, path)
    if before is None:
        raise CouldNotVerify(f"{conn.host.label}: env file {path} does not exist",
                             code="ENV_FILE_MISSING",
                             action="check the path in [secrets.NAME] (breakglass edits an "
                                    "existing env file; it does not create one)")
    after = (fmt.rotate_django_secret_key(before, value, leaked=leaked, key=key) if django
             else fmt.set_value(before, key, value))
    if after == before:
        st = conn.stat(path)
        return EnvFileChange(conn.host.name, path, False, None, st.mode if st else None, (),
                             value_digest(value))
    res = conn.write_file_atomic(path, after.encode("utf-8"), run_id=run_id)
    check = read_remote(conn, path)
    if check is None or fmt.read_value(check, key) != value:
        raise CouldNotVerify(f"{conn.host.label}: {path} does not hold the new {key} after "
                             "the write", code="ENV_FILE_NOT_UPDATED",
                             action="check for another process rewriting the file")
    return EnvFileChange(conn.host.name, path, True, res.backup_path, res.mode, res.notes,
                         value_digest(value))


def restore_commands(path: str, backup: str | None, *, sudo: bool = False) -> list[str]:
    """Shell lines that put the backup back in place (atomically: copy beside it, rename), for
    recovery plans. Empty when there is no backup."""
    if backup is None:
        return []
    directory, _, name = path.rpartition("/")
    tmp = f"{directory}/.{name}.breakglass-restore"
    # The copy of the live file keeps its mode and owner; only the content comes from the
    # backup (which is 0600 and owned by the login user); the rename makes it atomic.
    line = (f"cp -p {_quote(path)} {_quote(tmp)} && cat {_quote(backup)} > {_quote(tmp)} && "
            f"mv -f {_quote(tmp)} {_quote(path)}")
    return [f"sudo -n sh -c {shlex.quote(line)}" if sudo else line]


def _quote(path: str) -> str:
    """`path` for a shell line; `~/x` (not expanded yet) as "$HOME"/x."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def remove(conn: Connection, path: str) -> None:
    res = conn.run(["rm", "-f", "--", path], sudo=conn.host.sudo)
    if not res.ok:
        raise CouldNotVerify(f"{conn.host.label}: cannot delete {path}: {res.tail()}",
                             code="REMOTE_PERMISSION",
                             action=f"delete it by hand, or set hosts.{conn.host.name}.sudo")


class DotenvHosts(Store):
    scheme = ""  # chosen by `path` + `key`, not by a `store = "…"` reference

    def __init__(self, config: Config, secret: str, hosts: list[str], path: str,
                 key: str) -> None:
        check_path(secret, path)
        self.config, self.secret, self.hosts = config, secret, hosts
        self.path, self.key = path, key
        self.where = f"{key} in {path} on {', '.join(hosts)}"
        self._ssh: dict[str, SSHHost] = {}
        self._paths: dict[str, str] = {}  # host -> `path` with ~ expanded there

    @classmethod
    def for_consumers(cls, config: Config, secret: str, path: str, key: str) -> DotenvHosts:
        from breakglass.runbooks.rotate.consumers import consumers_of

        hosts = list(dict.fromkeys(c.host for c in consumers_of(config, secret)))
        return cls(config, secret, hosts, path, key)

    # -- hosts --------------------------------------------------------------------------------
    def host(self, ctx: StepContext, name: str) -> SSHHost:
        from breakglass.connectors.ssh import host_from_config

        if name not in self._ssh:
            self._ssh[name] = host_from_config(ctx.config, name, ctx.secrets)
        return self._ssh[name]

    @contextmanager
    def connect(self, ctx: StepContext, name: str) -> Iterator[Connection]:
        with self.host(ctx, name).connect() as conn:
            yield conn

    def each(self, ctx: StepContext, hosts: list[str] | None = None
             ) -> Iterator[tuple[str, Connection]]:
        for name in self.hosts if hosts is None else hosts:
            with self.connect(ctx, name) as conn:
                yield name, conn

    def path_on(self, conn: Connection) -> str:
        """`path` on the connected host, `~/` resolved against the SFTP session's home."""
        name = conn.host.name
        if name not in self._paths:
            path = self.path
            if path.startswith("~/"):
                home = conn.home()
                if not home.startswith("/"):
                    raise CouldNotVerify(f"{conn.host.label}: cannot tell the SFTP home to "
                                         f"expand {path}", code="SSH_ERROR",
                                         action=f"set secrets.{self.secret}.path absolute")
                path = posixpath.join(home, path[2:])
            self._paths[name] = path
        return self._paths[name]

    def path_of(self, name: str) -> str:
        """`path` on host `name` as far as known without connecting (`~/` stays when the host
        was not reached by this process: restore_commands then reads it as $HOME)."""
        return self._paths.get(name, self.path)

    def backup_on(self, conn: Connection, run_id: str) -> str:
        return backup_path(self.path_on(conn), run_id)

    def backups_on(self, conn: Connection) -> set[str]:
        """Every `<name>.breakglass-*.bak` beside the file (this run's and earlier runs')."""
        directory, name = posixpath.split(self.path_on(conn))
        pattern = re.compile(re.escape(f"{name}.breakglass-") + r".+\.bak")
        try:
            listing = conn.sftp().listdir(directory)
        except OSError:
            return set()  # an unlistable directory: backups are simply not seen
        return {posixpath.join(directory, f) for f in listing if pattern.fullmatch(f)}

    # -- values -------------------------------------------------------------------------------
    def text_on(self, conn: Connection, *, backup_of: str | None = None) -> str | None:
        """The file's text (or, with `backup_of=RUN_ID`, that run's backup of it)."""
        path = self.path_on(conn)
        return read_remote(conn, backup_path(path, backup_of) if backup_of else path)

    def value_on(self, ctx: StepContext, conn: Connection, *,
                 backup_of: str | None = None) -> str | None:
        text = self.text_on(conn, backup_of=backup_of)
        value = fmt.read_value(text, self.key) if text is not None else None
        ctx.register_secret(value)
        return value

    def read_all(self, ctx: StepContext, hosts: list[str] | None = None
                 ) -> dict[str, str | None]:
        return {name: self.value_on(ctx, conn) for name, conn in self.each(ctx, hosts)}

    def previous(self, ctx: StepContext) -> list[str]:
        return [v for _, conn in self.each(ctx)
                if (v := self.value_on(ctx, conn, backup_of=ctx.run_id)) is not None]

    def write_on(self, ctx: StepContext, conn: Connection, value: str, *, django: bool = False,
                 leaked: bool = False) -> EnvFileChange:
        return apply(conn, self.path_on(conn), self.key, value, run_id=ctx.run_id,
                     django=django, leaked=leaked)

    def write(self, ctx: StepContext, value: str, hosts: list[str] | None = None
              ) -> dict[str, Any]:
        todo = self.hosts if hosts is None else hosts
        changes: list[dict[str, object]] = []
        for name in todo:
            try:
                with self.connect(ctx, name) as conn:
                    changes.append(self.write_on(ctx, conn, value).to_dict())
            except CouldNotVerify as exc:
                raise self._put_back(ctx, [str(c["host"]) for c in changes], name,
                                     exc) from exc
            ctx.progress(f"write {self.key} on each host", len(changes), len(todo))
        return {"stored_in": self.where, "hosts": changes}

    def _put_back(self, ctx: StepContext, written: list[str], failed: str,
                  exc: CouldNotVerify) -> CouldNotVerify:
        """`failed` refused the file: the hosts written before it get their file back, so every
        host holds the value it had (all or nothing)."""
        try:
            self.restore(ctx, written)
        except CouldNotVerify as again:
            plan = self.recovery(ctx, written)
            return CouldNotVerify(
                f"{self.key} could not be written on {failed} ({exc}), and putting the old file "
                f"back on {', '.join(written)} failed too ({again}): those hosts hold the new "
                "value", code=exc.code, action="run the recovery plan below, then resume",
                evidence={"recovery_plan": plan})
        back = f"; put back as it was on {', '.join(written)}" if written else ""
        return CouldNotVerify(f"{self.key} could not be written on {failed}: {exc}{back}. "
                              "Every host holds the value it had", code=exc.code,
                              action=f"{exc.action or 'fix the host'}; then resume the run")

    def restore(self, ctx: StepContext, hosts: list[str] | None = None) -> dict[str, Any]:
        """Each host's file as this run's backup holds it (atomically; the backup is then
        removed: the file holds its content again)."""
        restored = []
        for name, conn in self.each(ctx, hosts):
            backup = self.backup_on(conn, ctx.run_id)
            data = conn.read_file(backup, sudo=conn.host.sudo)
            if data is None:
                continue
            conn.write_file_atomic(self.path_on(conn), data, backup=False)
            remove(conn, backup)
            restored.append(name)
        return {"restored": restored}

    def recovery(self, ctx: StepContext, hosts: list[str] | None = None) -> list[str]:
        """The commands that put this run's backups back, for the hosts that have one."""
        present = [name for name, conn in self.each(ctx, hosts)
                   if conn.stat(self.backup_on(conn, ctx.run_id)) is not None]
        return self.restore_lines(ctx.run_id, present)

    def restore_remote(self, name: str, run_id: str) -> list[str]:
        """The commands, run on host `name`, that copy run `run_id`'s backup back over the file
        (atomically), without connecting: the path as this store's earlier reads expanded it."""
        from breakglass.connectors.ssh import host_from_config

        path = self.path_of(name)
        sudo = host_from_config(self.config, name, None).sudo
        return restore_commands(path, backup_path(path, run_id), sudo=sudo)

    def restore_lines(self, run_id: str, hosts: list[str] | None = None) -> list[str]:
        """restore_remote as `ssh … 'COMMAND'` lines a person can paste."""
        from breakglass.connectors.ssh import host_from_config
        from breakglass.runbooks.rotate.consumers import ssh_line

        return [ssh_line(host_from_config(self.config, name, None), cmd)
                for name in (self.hosts if hosts is None else hosts)
                for cmd in self.restore_remote(name, run_id)]

    def leftovers(self, ctx: StepContext) -> list[str]:
        found = []
        for name, conn in self.each(ctx):
            backup = self.backup_on(conn, ctx.run_id)
            if backup in self.backups_on(conn):
                found.append(f"{name}:{backup}")
        return found

    def clean_up(self, ctx: StepContext) -> dict[str, Any]:
        removed = []
        for name, conn in self.each(ctx):
            backup = self.backup_on(conn, ctx.run_id)
            if conn.stat(backup) is not None:
                remove(conn, backup)
                removed.append(f"{name}:{backup}")
        return {"removed": removed}
