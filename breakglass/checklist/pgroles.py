"""What the app's PostgreSQL login role holds, read from the catalogs (db.least_privilege's facts;
the judging is in breakglass/checklist/checks/datastores.py).

    read_privileges(conn) -> Privileges    attributes, memberships (recursive), the database's
                                           owner, relations owned, grants WITH GRANT OPTION

Read-only: the caller runs it in a READ ONLY transaction. Catalog columns as in PostgreSQL 16
and 18 (pg_roles, pg_auth_members, pg_class, pg_namespace, pg_database, aclexplode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Role:
    """A role the app's login role is or reaches (its attributes, from pg_roles)."""

    name: str
    superuser: bool
    createrole: bool
    createdb: bool
    replication: bool
    bypassrls: bool
    #: how the login role reaches it: () for itself, else the chain of memberships
    via: tuple[str, ...] = ()

    @property
    def how(self) -> str:
        return "" if not self.via else f" through membership in {' > '.join(self.via)}"


@dataclass(frozen=True)
class Privileges:
    """What the app's login role holds, as read from the catalogs."""

    login: str
    current: str
    database: str
    major: int
    roles: tuple[Role, ...]  # the login role first, then every role it is a member of
    db_owner: str
    owned: tuple[str, ...]  # relations of this database owned by one of `roles`
    owned_count: int
    grantable: tuple[str, ...]  # "table public.users: SELECT" …
    grantable_count: int

    def evidence(self) -> dict[str, Any]:
        me = self.roles[0]
        return {"role": self.login, "current_user": self.current, "database": self.database,
                "server_major": self.major,
                "attributes": {"superuser": me.superuser, "createrole": me.createrole,
                               "createdb": me.createdb, "replication": me.replication,
                               "bypassrls": me.bypassrls},
                "member_of": {r.name: " > ".join(r.via) for r in self.roles[1:]},
                "database_owner": self.db_owner,
                "owned_relations": list(self.owned), "owned_count": self.owned_count,
                "grant_option": list(self.grantable), "grant_option_count": self.grantable_count}


_ROLE_SQL = """
select r.oid, r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
       r.rolbypassrls, current_user::text, current_database()::text,
       current_setting('server_version_num')::int / 10000
from pg_roles r where r.rolname = session_user
"""

# Every role the login role is a member of, directly or through other roles, with the first
# chain found. Membership is followed whatever its INHERIT/SET options (PostgreSQL 16 added
# them per grant): a member may SET ROLE to the role, or was once meant to — either way it is a
# grant the app should not need. Role attributes are never inherited, but SET ROLE assumes them
# ("Role Membership", PostgreSQL docs §22.3), so a member of a superuser role is one.
_MEMBERS_SQL = """
with recursive m(roleid, path) as (
    select a.roleid, array[a.roleid] from pg_auth_members a where a.member = %(me)s
  union
    select a.roleid, m.path || a.roleid from pg_auth_members a join m on a.member = m.roleid
    where a.roleid <> all(m.path) and a.roleid <> %(me)s
)
select r.oid, r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
       r.rolbypassrls, (select array_agg(x.rolname::text order by u.n)
        from unnest(m.path) with ordinality u(oid, n) join pg_roles x on x.oid = u.oid)
from m join pg_roles r on r.oid = m.roleid
order by array_length(m.path, 1), r.rolname
"""

_OWNED_SQL = """
select n.nspname || '.' || c.relname
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relowner = any(%(roles)s::oid[]) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
  and n.nspname <> 'information_schema' and n.nspname !~ '^pg_'
order by 1
"""

# Grants the role may pass on. The owner of an object holds every grant option implicitly
# (GRANT docs: "the owner … can grant them to others"), which DB_OWNS_* already reports.
_GRANTABLE_SQL = """
select 'table ' || n.nspname || '.' || c.relname, a.privilege_type
from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a
where a.is_grantable and a.grantee = any(%(roles)s::oid[]) and a.grantee <> c.relowner
union all
select 'schema ' || n.nspname, a.privilege_type
from pg_namespace n, aclexplode(n.nspacl) a
where a.is_grantable and a.grantee = any(%(roles)s::oid[]) and a.grantee <> n.nspowner
union all
select 'database ' || d.datname, a.privilege_type
from pg_database d, aclexplode(d.datacl) a
where d.datname = current_database() and a.is_grantable and a.grantee = any(%(roles)s::oid[])
  and a.grantee <> d.datdba
order by 1, 2
"""

_LIST_MAX = 20  # evidence stays small: the first 20 names and a count


def _role(row: Sequence[Any], via: tuple[str, ...] = ()) -> Role:
    """A Role from (rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication,
    rolbypassrls)."""
    return Role(str(row[0]), bool(row[1]), bool(row[2]), bool(row[3]), bool(row[4]),
                bool(row[5]), via)


def read_privileges(conn: psycopg.Connection[Any]) -> Privileges:
    row = conn.execute(_ROLE_SQL).fetchone()
    if row is None:  # session_user always has a row; the runner reports this as CHECK_ERROR
        raise RuntimeError("the login role (session_user) is not in pg_roles")
    me_oid = int(row[0])
    me = _role(row[1:7])
    members = conn.execute(_MEMBERS_SQL, {"me": me_oid}).fetchall()
    seen: dict[int, Role] = {}
    for m in members:  # shortest chain first (ORDER BY): keep it
        if int(m[0]) not in seen:
            seen[int(m[0])] = _role(m[1:7], via=tuple(str(v) for v in m[7]))
    oids = [me_oid, *seen]
    db_owner = conn.execute("select pg_get_userbyid(datdba)::text from pg_database "
                            "where datname = current_database()").fetchone()
    owned = [str(r[0]) for r in conn.execute(_OWNED_SQL, {"roles": oids}).fetchall()]
    grantable = [f"{r[0]}: {r[1]}" for r in conn.execute(_GRANTABLE_SQL,
                                                          {"roles": oids}).fetchall()]
    return Privileges(
        login=me.name, current=str(row[7]), database=str(row[8]), major=int(row[9]),
        roles=(me, *seen.values()), db_owner=str(db_owner[0]) if db_owner else "",
        owned=tuple(owned[:_LIST_MAX]), owned_count=len(owned),
        grantable=tuple(grantable[:_LIST_MAX]), grantable_count=len(grantable))
