"""db.least_privilege and redis.private against real PostgreSQL roles and real redis-server
processes on loopback (tests/servers/). Every password used here is a canary: it must appear in
no finding, no evidence and no repr."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
from psycopg import sql

from breakglass.checklist.checks.datastores import judge_privileges, judge_redis
from breakglass.checklist.evaluate import evaluate
from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckResult
from breakglass.checklist.pgroles import Privileges, Role
from breakglass.connectors.redisfacts import RedisFacts, classify
from breakglass.engine.findings import Outcome, Severity
from tests.checklist.context import codes, make_ctx
from tests.servers._util import free_port
from tests.servers.postgres import PostgresFactory, PostgresServer
from tests.servers.redis import RedisFactory
from tests.servers.redis_netns import ADDRESS as NETNS_ADDRESS
from tests.servers.redis_netns import netns_redis

DB = "db.least_privilege"
REDIS = "redis.private"


def _check(tmp_path: Path, toml: str, env: dict[str, str], item: str) -> CheckResult:
    # evaluate(): the same path as `breakglass check` (CouldNotVerify -> UNVERIFIED finding)
    return evaluate(make_ctx(tmp_path, toml, env), BY_ID[item])


def _dump(result: CheckResult) -> str:
    return json.dumps({"findings": [f.to_dict() for f in result.findings],
                       "evidence": result.evidence}) + repr(result)


def _assert_no_canary(result: CheckResult, *canaries: str) -> None:
    text = _dump(result)
    for canary in canaries:
        assert canary not in text
        assert quote(canary, safe="") not in text


def _one(result: CheckResult, code: str) -> dict[str, object]:
    [finding] = [f for f in result.findings if f.code == code]
    return finding.to_dict()


# -- PostgreSQL ---------------------------------------------------------------------------------


class Roles:
    """Creates login roles on one server (names unique per test) in one database."""

    def __init__(self, server: PostgresServer, tag: str) -> None:
        self.server = server
        self.tag = tag
        self.db = f"app_{tag}"
        server.create_database(self.db)
        self.admin(self.db, "create table public.invoices (id int primary key, tenant_id int)")

    def admin(self, dbname: str, statement: str | sql.Composed) -> None:
        with psycopg.connect(self.server.dsn(dbname), autocommit=True) as conn:
            conn.execute(statement)

    def login(self, name: str, *clauses: str) -> tuple[str, str]:
        """CREATE ROLE name LOGIN PASSWORD … clauses; (role, its DSN to the app database)."""
        role = f"{name}_{self.tag}"
        password = secrets.token_urlsafe(18)
        self.admin("postgres", sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + " ".join(clauses))
                   .format(sql.Identifier(role), sql.Literal(password)))
        return role, (f"postgresql://{role}:{quote(password, safe='')}@{self.server.host}:"
                      f"{self.server.port}/{self.db}")

    def seed_grants(self, role: str) -> None:
        """The seed's §8 example: CONNECT, USAGE and table DML only."""
        ident = sql.Identifier(role)
        self.admin(self.db, sql.SQL("GRANT CONNECT ON DATABASE {} TO {}")
                   .format(sql.Identifier(self.db), ident))
        self.admin(self.db, sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        self.admin(self.db, sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN "
                                    "SCHEMA public TO {}").format(ident))


@pytest.fixture
def roles(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Roles:
    return Roles(pg_server, request.node.name.removeprefix("test_")[:40].lower())


def _db_toml() -> str:
    return '[databases.app]\ndsn = "env:DATABASE_URL"\n'


def _run_db(tmp_path: Path, dsn: str) -> CheckResult:
    return _check(tmp_path, _db_toml(), {"DATABASE_URL": dsn}, DB)


def _password(dsn: str) -> str:
    return dsn.split("@", 1)[0].rsplit(":", 1)[1]


def test_least_privilege_role_with_the_seeds_grants_passes(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("app")
    roles.seed_grants(role)
    result = _run_db(tmp_path, dsn)
    assert result.findings == []
    ev = result.evidence
    assert ev["role"] == role and ev["database"] == roles.db
    assert ev["attributes"] == {"superuser": False, "createrole": False, "createdb": False,
                                "replication": False, "bypassrls": False}
    assert ev["member_of"] == {} and ev["owned_count"] == 0 and ev["grant_option_count"] == 0
    _assert_no_canary(result, _password(dsn))


def test_least_privilege_passes_on_postgresql_18(tmp_path: Path,
                                                 pg_server_factory: PostgresFactory) -> None:
    roles = Roles(pg_server_factory.start(18), "pg18")
    role, dsn = roles.login("app")
    roles.seed_grants(role)
    result = _run_db(tmp_path / "good", dsn)
    assert result.findings == [] and result.evidence["server_major"] == 18
    reader, dsn = roles.login("reader", "CREATEROLE")
    roles.admin("postgres", sql.SQL("GRANT pg_read_server_files TO {}")
                .format(sql.Identifier(reader)))
    result = _run_db(tmp_path / "bad", dsn)
    assert sorted(codes(result)) == ["DB_CREATEROLE", "DB_PRIVILEGED_ROLE"]


def test_superuser_login_fails_with_db_superuser(tmp_path: Path, roles: Roles) -> None:
    _, dsn = roles.login("root", "SUPERUSER CREATEDB")
    result = _run_db(tmp_path, dsn)
    # one finding: a superuser's other attributes are named in it, not reported each
    assert codes(result) == ["DB_SUPERUSER"]
    finding = _one(result, "DB_SUPERUSER")
    assert finding["severity"] == "critical"
    assert finding["evidence"] == {"via": [], "also": ["createdb"]}
    _assert_no_canary(result, _password(dsn))


def test_the_default_postgres_login_is_reported(tmp_path: Path, pg_server: PostgresServer
                                                ) -> None:
    result = _run_db(tmp_path, pg_server.dsn())
    assert {"DB_SUPERUSER", "DB_DEFAULT_ROLE", "DB_OWNS_DATABASE"} <= set(codes(result))
    _assert_no_canary(result, pg_server.password)


def test_createrole_fails_with_db_createrole(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("mgr", "CREATEROLE")
    roles.seed_grants(role)
    result = _run_db(tmp_path, dsn)
    assert codes(result) == ["DB_CREATEROLE"]
    assert result.evidence["attributes"]["createrole"] is True


def test_createdb_replication_bypassrls_are_each_a_finding(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("attrs", "CREATEDB REPLICATION BYPASSRLS")
    roles.seed_grants(role)
    result = _run_db(tmp_path, dsn)
    assert sorted(codes(result)) == ["DB_BYPASSRLS", "DB_CREATEDB", "DB_REPLICATION"]


def test_member_of_pg_read_server_files_fails(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("reader")
    roles.seed_grants(role)
    roles.admin("postgres", sql.SQL("GRANT pg_read_server_files TO {}")
                .format(sql.Identifier(role)))
    result = _run_db(tmp_path, dsn)
    finding = _one(result, "DB_PRIVILEGED_ROLE")
    assert finding["severity"] == "critical"
    assert finding["evidence"] == {"role": "pg_read_server_files",
                                   "via": ["pg_read_server_files"]}
    assert result.evidence["member_of"] == {"pg_read_server_files": "pg_read_server_files"}


def test_superuser_reached_through_a_group_role_is_found(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("member")
    roles.seed_grants(role)
    group = f"admins_{roles.tag}"
    roles.admin("postgres", sql.SQL("CREATE ROLE {} NOLOGIN SUPERUSER").format(
        sql.Identifier(group)))
    roles.admin("postgres", sql.SQL("GRANT {} TO {}").format(sql.Identifier(group),
                                                            sql.Identifier(role)))
    result = _run_db(tmp_path, dsn)
    assert _one(result, "DB_SUPERUSER")["evidence"] == {"via": [group], "also": []}
    assert result.evidence["attributes"]["superuser"] is False


def test_owning_the_database_and_its_tables_is_reported(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("owner")
    ident = sql.Identifier(role)
    roles.admin("postgres", sql.SQL("ALTER DATABASE {} OWNER TO {}")
                .format(sql.Identifier(roles.db), ident))
    roles.admin(roles.db, sql.SQL("ALTER TABLE public.invoices OWNER TO {}").format(ident))
    result = _run_db(tmp_path, dsn)
    assert sorted(codes(result)) == ["DB_OWNS_DATABASE", "DB_OWNS_OBJECTS"]
    assert _one(result, "DB_OWNS_OBJECTS")["evidence"] == {"relations": ["public.invoices"],
                                                          "count": 1}


def test_grants_with_grant_option_are_reported(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("granter")
    roles.seed_grants(role)
    roles.admin(roles.db, sql.SQL("GRANT SELECT ON public.invoices TO {} WITH GRANT OPTION")
                .format(sql.Identifier(role)))
    result = _run_db(tmp_path, dsn)
    assert codes(result) == ["DB_GRANT_OPTION"]
    assert _one(result, "DB_GRANT_OPTION")["evidence"] == {
        "grants": ["table public.invoices: SELECT"], "count": 1}


def test_a_refused_password_is_unverified_db_auth_failed(tmp_path: Path, roles: Roles) -> None:
    _, dsn = roles.login("app")
    wrong = secrets.token_urlsafe(18)
    result = _run_db(tmp_path, dsn.replace(_password(dsn), wrong))
    [finding] = result.findings
    assert (finding.code, finding.outcome) == ("DB_AUTH_FAILED", Outcome.UNVERIFIED)
    _assert_no_canary(result, wrong, _password(dsn))


def test_a_server_that_is_down_is_unverified_db_unreachable(tmp_path: Path) -> None:
    canary = secrets.token_urlsafe(18)
    result = _run_db(tmp_path, f"postgresql://app:{canary}@127.0.0.1:{free_port()}/app")
    [finding] = result.findings
    assert (finding.code, finding.outcome) == ("DB_UNREACHABLE", Outcome.UNVERIFIED)
    _assert_no_canary(result, canary)


def test_no_database_configured_is_not_configured(tmp_path: Path) -> None:
    result = _check(tmp_path, "", {}, DB)
    assert codes(result) == ["NOT_CONFIGURED"]
    assert result.findings[0].outcome is Outcome.UNVERIFIED


def test_several_databases_without_app_database_say_which_to_set(tmp_path: Path) -> None:
    toml = ('[databases.main]\ndsn = "env:A"\n[databases.admin]\ndsn = "env:B"\n')
    result = _check(tmp_path, toml, {"A": "postgresql://x@127.0.0.1/a"}, DB)
    [finding] = result.findings
    assert (finding.code, finding.outcome) == ("DB_APP_DATABASE_UNSET", Outcome.UNVERIFIED)
    assert "app_database" in finding.action and "admin, main" in finding.message


def test_app_database_picks_the_apps_dsn_among_several(tmp_path: Path, roles: Roles) -> None:
    role, dsn = roles.login("app")
    roles.seed_grants(role)
    toml = ('[databases.admin]\ndsn = "env:ADMIN"\n[databases.app]\ndsn = "env:APP"\n'
            '[checklist.data]\napp_database = "app"\n')
    result = _check(tmp_path, toml, {"ADMIN": roles.server.dsn(), "APP": dsn}, DB)
    assert result.findings == [] and result.evidence["role"] == role


def test_createrole_is_critical_before_postgresql_16() -> None:
    me = Role("app", False, True, False, False, False)

    def judged(major: int) -> Severity:
        p = Privileges("app", "app", "app", major, (me,), "admin", (), 0, (), 0)
        [finding] = judge_privileges(p, "databases.app")
        return finding.severity

    # 16 limits CREATEROLE to roles it has ADMIN on; before, it could grant itself
    # pg_execute_server_program.
    assert (judged(15), judged(16)) == (Severity.CRITICAL, Severity.ERROR)


# -- Redis --------------------------------------------------------------------------------------


def _run_redis(tmp_path: Path, *urls: str) -> CheckResult:
    env = {f"REDIS_{i}": url for i, url in enumerate(urls)}
    refs = ", ".join(f'"env:{name}"' for name in env)
    return _check(tmp_path, f"[checklist.data]\nredis = [{refs}]\n", env, REDIS)


@pytest.fixture
def redis_servers(redis_server_factory: RedisFactory) -> Iterator[RedisFactory]:
    yield redis_server_factory


def test_redis_on_loopback_without_auth_passes(tmp_path: Path,
                                               redis_servers: RedisFactory) -> None:
    server = redis_servers.start(bind="127.0.0.1")
    result = _run_redis(tmp_path, server.url)
    assert result.findings == []
    [seen] = result.evidence["redis"].values()
    assert (seen["auth"], seen["bind"]) == ("none", "127.0.0.1")


def test_redis_on_all_interfaces_without_auth_fails(tmp_path: Path,
                                                    redis_servers: RedisFactory) -> None:
    # Reached on 127.0.0.1, yet CONFIG GET bind tells the truth: it listens everywhere.
    # (protected-mode stays yes, so this test server refuses clients from other hosts.)
    server = redis_servers.start(bind="0.0.0.0")
    result = _run_redis(tmp_path, server.url)
    finding = _one(result, "REDIS_NO_AUTH_EXPOSED")
    assert finding["evidence"]["exposed"] == ["0.0.0.0"]  # type: ignore[index]
    # Redis 7 keeps refusing remote clients in protected mode: an error, not critical.
    assert (finding["severity"], finding["outcome"]) == ("error", "failed")


def test_redis_with_a_password_on_all_interfaces_passes(tmp_path: Path,
                                                        redis_servers: RedisFactory) -> None:
    password = secrets.token_urlsafe(18)
    server = redis_servers.start(password, bind="0.0.0.0")
    result = _run_redis(tmp_path, server.url)
    assert result.findings == []
    [seen] = result.evidence["redis"].values()
    assert (seen["auth"], seen["acl_nopass_users"]) == ("required", [])
    _assert_no_canary(result, password)


def test_requirepass_with_a_nopass_default_user_is_reported(tmp_path: Path,
                                                            redis_servers: RedisFactory) -> None:
    password = secrets.token_urlsafe(18)
    server = redis_servers.start(password)
    with redis.Redis.from_url(server.url) as client:
        client.execute_command("ACL", "SETUSER", "default", "nopass")
    result = _run_redis(tmp_path, server.url)
    assert codes(result) == ["REDIS_REQUIREPASS_IGNORED"]  # loopback-only: no exposure
    _assert_no_canary(result, password)


def test_an_acl_user_accepting_any_password_is_reported(tmp_path: Path,
                                                        redis_servers: RedisFactory) -> None:
    password = secrets.token_urlsafe(18)
    server = redis_servers.start(password, bind="0.0.0.0")
    with redis.Redis.from_url(server.url) as client:
        client.execute_command("ACL", "SETUSER", "worker", "on", "nopass", "+@all", "~*")
    result = _run_redis(tmp_path, server.url)
    assert _one(result, "REDIS_ACL_NOPASS_USER")["evidence"] == {"users": ["worker"]}
    _assert_no_canary(result, password)


def test_redis_without_config_on_a_loopback_url_is_unverified(
        tmp_path: Path, redis_servers: RedisFactory) -> None:
    server = redis_servers.start(extra='rename-command CONFIG ""\n')
    result = _run_redis(tmp_path, server.url)
    [finding] = result.findings
    assert (finding.code, finding.outcome) == ("REDIS_BIND_UNKNOWN", Outcome.UNVERIFIED)


def test_redis_that_is_down_is_unverified_and_others_still_checked(
        tmp_path: Path, redis_servers: RedisFactory) -> None:
    canary = secrets.token_urlsafe(18)
    server = redis_servers.start(bind="127.0.0.1")
    result = _run_redis(tmp_path, f"redis://:{canary}@127.0.0.1:{free_port()}/0", server.url)
    [finding] = result.findings
    assert (finding.code, finding.outcome) == ("REDIS_UNREACHABLE", Outcome.UNVERIFIED)
    assert len(result.evidence["redis"]) == 2
    _assert_no_canary(result, canary)


def test_no_redis_configured_is_not_configured(tmp_path: Path) -> None:
    result = _check(tmp_path, "", {}, REDIS)
    assert codes(result) == ["NOT_CONFIGURED"]


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("-::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("*", "any"), ("0.0.0.0", "any"), ("-::*", "any"), ("", "any"),
    ("10.0.0.5", "private"), ("fe80::1%eth0", "private"), ("93.184.216.34", "public"),
    ("redis.internal", "unknown"),
])
def test_bind_addresses_are_classified(address: str, kind: str) -> None:
    assert classify(address) == kind


def test_an_explicit_bind_without_auth_is_critical_before_redis_7() -> None:
    # Redis 6 switched protected mode off whenever `bind` was set (redis.conf 6.x); 7 keeps it.
    def severity(version: str) -> Severity:
        facts = RedisFacts("none", "loopback", version, bind="0.0.0.0", protected_mode="yes",
                           tcp_ports=("6379",))
        [finding] = judge_redis(facts, "r:6379/0")
        return finding.severity

    assert (severity("6.2.14"), severity("7.2.4")) == (Severity.CRITICAL, Severity.ERROR)


def test_a_unix_socket_only_redis_without_auth_passes() -> None:
    facts = RedisFacts("none", "loopback", "7.2.4", bind="*", protected_mode="yes", tcp_ports=())
    assert judge_redis(facts, "r:0/0") == []


# -- Redis in a network namespace: exposures that must not touch the machine's interfaces ------

needs_root = pytest.mark.needs(tools=("ip", "redis-server"),
                               root="Redis runs in a network namespace")


@needs_root
def test_redis_open_to_the_network_is_critical(tmp_path: Path) -> None:
    with netns_redis(protected=False) as server:
        result = server.call(lambda: _run_redis(tmp_path, server.url("127.0.0.1")))
    finding = _one(result, "REDIS_NO_AUTH_EXPOSED")
    assert finding["severity"] == "critical"
    assert finding["evidence"]["protected_mode"] == "no"  # type: ignore[index]


@needs_root
def test_redis_refusing_a_remote_client_in_protected_mode_is_exposed(tmp_path: Path) -> None:
    # Reached on a non-loopback address: protected mode answers DENIED, which proves there is
    # no password and a network listener.
    with netns_redis(protected=True) as server:
        result = server.call(lambda: _run_redis(tmp_path, server.url(NETNS_ADDRESS)))
    finding = _one(result, "REDIS_NO_AUTH_EXPOSED")
    assert (finding["severity"], finding["outcome"]) == ("error", "failed")
    assert finding["evidence"] == {"auth": "denied", "url_host": "private",
                                   "protected_mode": "yes"}


@needs_root
def test_redis_answering_without_auth_on_a_network_url_is_exposed_even_without_config(
        tmp_path: Path) -> None:
    with netns_redis(protected=False, extra='rename-command CONFIG ""\n') as server:
        result = server.call(lambda: _run_redis(tmp_path, server.url(NETNS_ADDRESS)))
    finding = _one(result, "REDIS_NO_AUTH_EXPOSED")
    assert finding["severity"] == "critical"
    evidence = finding["evidence"]
    assert "bind" not in evidence and evidence["url_host"] == "private"  # type: ignore[operator,index]
