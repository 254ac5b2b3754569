"""`server`: a scratch database `drill_<run id>` on a configured drill server, dropped after.

`[drills.restore] server` is a secret ref to the DSN of a maintenance database on the drill
server, for a role allowed to CREATE DATABASE. The scratch database carries a comment
`breakglass drill <run id>` so that the next drill finds the ones killed runs left behind.

The production guard (DESIGN principle 6). A drill restores a dump into a server; if that server
is a production one, the drill writes production. So the drill server's (ip, port) endpoints,
after DNS resolution, are compared with those of every `[databases.*]` DSN, and any overlap is
refused (UsageError, exit 2; DRILL_TARGET_IS_PRODUCTION as a blocking precondition). Addresses of
this machine are one host: loopback (127.0.0.0/8, ::1), the wildcard, this host name's addresses
and unix sockets all mean "a server on this machine", since one postmaster answers on all of
them. That refuses some legitimate setups (two local servers on different socket directories with
the same port number); it never lets a production server through under a second name.

Why names are not compared: `[drills.restore] environment` is a kind (local/server/rds) and
`[project] environment` a label ("production"); neither says where a DSN points. Endpoints do.
A production DSN that cannot be resolved (secret missing, DNS failure) makes the guard
unverified (exit 3), never a pass: we cannot prove the drill server is not production.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from breakglass.config.base import SecretRef, Section
from breakglass.connectors import postgres
from breakglass.engine.findings import Finding, Severity, unverified
from breakglass.errors import BreakglassError, CouldNotVerify, UsageError
from breakglass.recovery.environments.base import (
    Environment,
    Leftover,
    Target,
    recorded,
    safe_run_id,
)

if TYPE_CHECKING:
    import psycopg

    from breakglass.config import Config
    from breakglass.engine.redaction import Redactor
    from breakglass.secrets import SecretResolver

IS_PRODUCTION = "DRILL_TARGET_IS_PRODUCTION"
GUARD_UNVERIFIED = "DRILL_GUARD_UNVERIFIED"
COMMENT_PREFIX = "breakglass drill "
THIS_MACHINE = "this machine"


def mark(run_id: str, project: str) -> str:
    """The database comment that makes a scratch database recognisable as ours. It names the
    project: drills of several projects may share a drill server, and each judges only its own
    runs (liveness is a lock in its own state dir)."""
    return f"{COMMENT_PREFIX}{run_id} project={project}"


def run_of_mark(comment: object, project: str) -> str | None:
    if not isinstance(comment, str) or not comment.startswith(COMMENT_PREFIX):
        return None
    run_id, _, rest = comment[len(COMMENT_PREFIX):].partition(" project=")
    return run_id if rest == project and run_id else None


def database_name(run_id: str) -> str:
    return f"drill_{safe_run_id(run_id)}"[:63]  # NAMEDATALEN - 1


# -- the production guard ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def _own_addresses() -> frozenset[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return frozenset()
    return frozenset(str(i[4][0]) for i in infos)


def _normal(host: str, port: int) -> tuple[str, int]:
    if host.startswith("unix:"):
        return (THIS_MACHINE, port)
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return (host, port)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified or str(ip) in _own_addresses():
        return (THIS_MACHINE, port)
    return (str(ip), port)


def endpoints(dsn: str) -> set[tuple[str, int]]:
    """The normalised (host, port) pairs a DSN may reach."""
    return {_normal(h, p) for h, p in postgres.host_port(dsn)}


def _show(pairs: set[tuple[str, int]]) -> str:
    return ", ".join(f"{h}:{p}" for h, p in sorted(pairs))


class ServerDrillConfig(Section):
    """`server = "env:DRILL_SERVER_DSN"` under [drills.restore] (the short form of a
    [drills.restore.server] table with `dsn`)."""

    dsn: SecretRef = Field(description="a secret ref to the DSN of a maintenance database on "
                                       "the drill server, for a role allowed to CREATE DATABASE; "
                                       'usually written `server = "env:DRILL_SERVER_DSN"`; '
                                       "refused when it is the server of a [databases.*] DSN")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"dsn": data} if isinstance(data, str) else data


def drill_server_ref(config: Config) -> str:
    settings = ServerEnvironment.settings_in(config)
    if not isinstance(settings, ServerDrillConfig):
        raise UsageError(f"[drills.restore] server is not set ({ServerEnvironment.settings_hint})")
    return settings.dsn


def guard_findings(config: Config, secrets: SecretResolver) -> list[Finding]:
    """DRILL_TARGET_IS_PRODUCTION per production database the drill server resolves to;
    DRILL_GUARD_UNVERIFIED when an address cannot be worked out. Empty: the server is not one of
    the production databases of this config."""
    ref = drill_server_ref(config)
    subject = "[drills.restore] server"
    try:
        drill = endpoints(secrets.resolve(ref))
    except BreakglassError as exc:
        return [unverified(GUARD_UNVERIFIED, f"cannot work out where the drill server is: {exc}",
                           f"make {ref} resolvable to a DSN", subject)]
    findings: list[Finding] = []
    for name, db in sorted(config.databases.items()):
        if db.dsn == ref:
            same = drill
        else:
            try:
                same = drill & endpoints(secrets.resolve(db.dsn))
            except BreakglassError as exc:
                findings.append(unverified(
                    GUARD_UNVERIFIED,
                    f"cannot tell whether the drill server is [databases.{name}]: {exc}",
                    f"make {db.dsn} resolvable where the drill runs, so that breakglass can "
                    "prove the drill server is not production", subject))
                continue
        if same:
            findings.append(Finding(
                IS_PRODUCTION,
                f"the drill server ({_show(same)}) is the server of the production database "
                f"[databases.{name}]; a drill there would write into production",
                "point [drills.restore] server at a separate server, or use "
                'environment = "local"', Severity.CRITICAL, subject=subject,
                evidence={"database": name, "endpoints": sorted(f"{h}:{p}" for h, p in same)}))
    return findings


def refuse_production(config: Config, secrets: SecretResolver) -> None:
    """Raise UsageError (exit 2) when the drill server is a production database's server, and
    CouldNotVerify (exit 3) when that cannot be worked out."""
    findings = guard_findings(config, secrets)
    for f in findings:
        if f.code == IS_PRODUCTION:
            raise UsageError(f"refused: {f.message}")
    for f in findings:
        raise CouldNotVerify(f.message, code=f.code, action=f.action)


# -- the environment ----------------------------------------------------------------------------
class ServerEnvironment(Environment):
    kind = "server"
    summary = "database `drill_<run id>` on a drill server"
    needs = "a DSN (secret ref) of a role allowed to `CREATE DATABASE`"
    settings_key = "server"
    settings_model = ServerDrillConfig
    settings_hint = 'environment = "server" needs server = "env:DRILL_SERVER_DSN" (a secret ref)'
    guards_production = True

    @classmethod
    def refusals(cls, config: Config, secrets: SecretResolver) -> list[Finding]:
        return guard_findings(config, secrets)

    @classmethod
    def secret_refs(cls, config: Config) -> list[tuple[str, str]]:
        # guard_findings resolves the drill server and every production DSN
        return [("drills.restore.server", drill_server_ref(config))] + [
            (f"databases.{name}.dsn", db.dsn) for name, db in sorted(config.databases.items())]

    @property
    def dbname(self) -> str:
        return database_name(self.run_id)

    def _admin_dsn(self) -> str:
        return self.secrets.resolve(drill_server_ref(self.config))

    def _connect(self) -> psycopg.Connection[Any]:
        return postgres.connect(self._admin_dsn(), autocommit=True)

    def _where(self) -> str:
        """host:port as written in the DSN (for people; never the password)."""
        params = postgres.parse_dsn(self._admin_dsn())
        host = params.get("host") or params.get("hostaddr") or "local socket"
        return f"{host}:{params.get('port', postgres.DEFAULT_PORT)}"

    def describe_plan(self, major: int) -> str:
        refuse_production(self.config, self.secrets)
        return (f"CREATE DATABASE {self.dbname} on the drill server {self._where()} (checked: "
                "not a [databases.*] server); restore the PostgreSQL "
                f"{major} dump into it; DROP DATABASE {self.dbname} after the drill")

    def _target(self, major: int) -> Target:
        from psycopg.conninfo import make_conninfo

        dsn = make_conninfo(self._admin_dsn(), dbname=self.dbname)
        return Target(self.kind, dsn, self.dbname, major,
                      f"database {self.dbname} on the drill server {self._where()}",
                      {"dbname": self.dbname, "server": self._where(), "major": major,
                       "restored": False})

    def find(self) -> Target | None:
        with self._connect() as conn:
            if not _exists(conn, self.dbname):
                return None
            return self._target(postgres.server_version(conn)[1])

    def create(self, major: int) -> Target:
        from psycopg import sql

        refuse_production(self.config, self.secrets)
        self.write_record({"dbname": self.dbname, "server": self._where()})
        with self._connect() as conn:
            server_major = postgres.server_version(conn)[1]
            if server_major < major:
                raise CouldNotVerify(
                    f"the drill server runs PostgreSQL {server_major}, older than the dump's "
                    f"{major}: it cannot restore it", code="NO_MATCHING_POSTGRES",
                    action=f"use a drill server with PostgreSQL >= {major}, or environment = "
                           '"local"')
            if not _exists(conn, self.dbname):
                ident = sql.Identifier(self.dbname)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
                conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    ident, sql.Literal(mark(self.run_id, self.config.project.name))))
            return self._target(server_major)

    def destroy(self) -> bool:
        with self._connect() as conn:
            removed = _drop(conn, self.dbname)
        self.drop_record()
        return removed

    @classmethod
    def scan(cls, config: Config, secrets: SecretResolver, state_dir: Path,
             redactor: Redactor) -> list[Leftover]:
        probe = cls(config, "scan", secrets, state_dir, redactor)
        where = probe._where()
        found: dict[str, str] = {}
        with probe._connect() as conn:
            rows = conn.execute(
                "select datname, shobj_description(oid, 'pg_database') from pg_database "
                "where datname like 'drill\\_%'").fetchall()
            names = {str(r[0]) for r in rows}
            for name, comment in rows:
                run_id = run_of_mark(comment, config.project.name)
                if run_id is not None:
                    found[run_id] = str(name)
            # Killed between CREATE DATABASE and COMMENT: the record still names the run.
            for record in recorded(state_dir):
                run_id = record["run_id"]
                if record["kind"] == cls.kind and database_name(run_id) in names:
                    found.setdefault(run_id, database_name(run_id))
        return [Leftover(cls.kind, run_id, f"database {name} on the drill server {where}",
                         {"dbname": name, "server": where})
                for run_id, name in sorted(found.items())]


def _exists(conn: psycopg.Connection[Any], dbname: str) -> bool:
    row = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
    return row is not None


def _drop(conn: psycopg.Connection[Any], dbname: str) -> bool:
    from psycopg import sql

    if not _exists(conn, dbname):
        return False
    ident = sql.Identifier(dbname)
    if postgres.server_version(conn)[1] >= 13:
        # WITH (FORCE) ends the sessions still connected (a killed pg_restore's), PG 13+.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
    else:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                     "where datname = %s and pid <> pg_backend_pid()", (dbname,))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))
    return True
