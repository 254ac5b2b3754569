"""What a Redis server shows a client without credentials (redis.private's facts; the judging is
in breakglass/checklist/checks/datastores.py). A connector: it speaks the protocol below
redis-py's commands (the greeting before any command).

    observe(url, redactor) -> RedisFacts    knock without credentials; if refused, look at the
                                            ACL with the URL's own; if answered, CONFIG GET
    classify(address)                       loopback | any | private | public | unknown

The knock never sends the URL's password; a `requirepass` value read back from CONFIG is
registered with the redactor and only its presence is kept. A server that cannot be reached is
CouldNotVerify(REDIS_UNREACHABLE), raised from here (redis-py errors stop at this module and
at redis.py).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from breakglass.errors import CouldNotVerify
from breakglass.text import error_line

if TYPE_CHECKING:
    import redis

    from breakglass.engine.redaction import Redactor

#: how long the knock waits for a greeting (protected mode's DENIED) before its PING
GREETING_WAIT = 0.3  # seconds; DENIED is written on accept, so about one round trip


@dataclass(frozen=True)
class RedisFacts:
    #: required: NOAUTH without credentials; none: it answered; denied: protected mode refused
    #: this (non-loopback) client, which it does only while the default user has no password
    auth: Literal["required", "none", "denied"]
    #: how the URL's host classifies (classify())
    url_host: str
    version: str | None = None
    #: CONFIG GET bind; None when CONFIG is renamed away, disabled or denied
    bind: str | None = None
    protected_mode: str | None = None
    #: port and tls-port that are not 0 (None: not seen)
    tcp_ports: tuple[str, ...] | None = None
    requirepass_set: bool | None = None
    #: auth required: ACL users that are `on` and `nopass`; None when not seen (acl_note: why)
    acl_nopass_users: tuple[str, ...] | None = None
    acl_note: str | None = None

    def evidence(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self).items() if v is not None}


def classify(address: str) -> str:
    """'loopback', 'any' (all interfaces), 'private' (RFC 1918, ULA, link-local), 'public', or
    'unknown' (a name). Redis `bind` entries may start with "-" ("skip if unavailable")."""
    addr = address.strip().lstrip("-").split("%", 1)[0]
    if addr in ("", "*", "::*", "0.0.0.0", "::"):  # noqa: S104 (naming it, not binding)
        return "any"
    if addr == "localhost":
        return "loopback"
    try:
        ip = ipaddress.ip_address(addr.strip("[]"))
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_private or ip.is_link_local:
        return "private"
    return "public"


def url_class(url: str) -> str:
    """How the URL's host classifies: 'loopback' for a unix socket or a name resolving to
    loopback only; 'unknown' for a name that does not resolve."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return "loopback"
    host = parts.hostname or "localhost"
    kind = classify(host)
    if kind != "unknown":
        return kind
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return "unknown"
    kinds = {classify(str(info[4][0])) for info in infos}
    for kind in ("public", "any", "private"):
        if kind in kinds:
            return kind
    return "loopback" if kinds == {"loopback"} else "unknown"


def without_credentials(url: str) -> str:
    """The URL with no user or password (in the netloc or the query: unix://…?password=) and no
    database: the knock must send nothing before reading the server's greeting (SELECT would),
    and PING, INFO and CONFIG do not depend on the database."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(q for q in parts.query.split("&")
                     if q and q.split("=", 1)[0] not in ("password", "username", "db"))
    path = parts.path if parts.scheme == "unix" else ""  # redis://host/N: N is the database
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def observe(url: str, redactor: Redactor) -> RedisFacts:
    import redis as redis_py

    from breakglass.connectors.redis import REDIS_UNREACHABLE, describe

    host = url_class(url)
    client = _anonymous(url)
    try:
        greeting = _greeting(client)
        if greeting is not None:
            raise redis_py.ResponseError(greeting)
        client.ping()
        try:
            version: str | None = str(client.info("server").get("redis_version", "?"))
        except redis_py.ResponseError:  # INFO denied by an ACL: the version only refines
            version = None
        ports = [_config(client, "port"), _config(client, "tls-port")]
        requirepass = _config(client, "requirepass")
        redactor.register(requirepass)  # judged by presence only; never kept, never shown
        return RedisFacts(
            "none", host, version, bind=_config(client, "bind"),
            protected_mode=_config(client, "protected-mode"),
            tcp_ports=tuple(p for p in ports if p and p != "0"),
            requirepass_set=bool(requirepass))
    except redis_py.AuthenticationError:
        pass  # NOAUTH: the property redis.private asks for; now look at the ACL
    except redis_py.RedisError as exc:
        if "DENIED" in str(exc):
            return RedisFacts("denied", host, protected_mode="yes")
        raise CouldNotVerify(f"Redis at {describe(url)}: {error_line(exc, limit=200)}",
                             code=REDIS_UNREACHABLE,
                             action="check that Redis is up and reachable from here") from None
    finally:
        client.close()
    users, note = _acl_nopass(url)
    return RedisFacts("required", host, acl_nopass_users=users, acl_note=note)


def _anonymous(url: str) -> redis.Redis:
    """A client for `url` without its credentials, bare: a plain PING is the knock whose NOAUTH
    refusal proves auth is on."""
    from breakglass.connectors.redis import client

    return client(without_credentials(url), bare=True)


def _greeting(client: redis.Redis) -> str | None:
    """What the server says before any command, if anything: protected mode answers a
    non-loopback client without a password by writing `-DENIED …` and closing at once (Redis
    networking.c), which a PING sent meanwhile can turn into a bare "connection reset"."""
    import redis as redis_py

    conn = client.connection_pool.make_connection()
    try:
        conn.connect()  # type: ignore[no-untyped-call]  # RESP2, no auth, no db: sends nothing
        if not conn.can_read(timeout=GREETING_WAIT):
            return None
        try:
            conn.read_response()
        except redis_py.ResponseError as exc:
            return str(exc)
        return "unexpected data before any command"
    finally:
        conn.disconnect()  # type: ignore[no-untyped-call]


def _config(client: redis.Redis, name: str) -> str | None:
    """CONFIG GET name, or None when CONFIG is renamed away, disabled or denied by an ACL."""
    import redis as redis_py

    try:
        value = client.config_get(name).get(name)
    except redis_py.ResponseError:
        return None
    return None if value is None else _text(value)


def _acl_nopass(url: str) -> tuple[tuple[str, ...] | None, str | None]:
    """ACL users that are `on` and `nopass` ("any password will work", Redis ACL docs), looked
    at with the URL's own credentials; or (None, why they could not be seen)."""
    import redis as redis_py

    from breakglass.connectors.redis import connect

    parts = urlsplit(url)
    if not (parts.username or parts.password or "password=" in parts.query):
        return None, "not seen: the URL has no credentials"
    try:
        with connect(url) as client:
            try:
                return tuple(name for name in map(_text, client.acl_users())
                             if {"on", "nopass"} <= _acl_flags(client, name)), None
            except redis_py.ResponseError as exc:  # ACL denied to the app's user, or Redis 5
                return None, f"not seen: {error_line(exc, named=False, limit=80)}"
    except CouldNotVerify as exc:
        return None, f"not seen: {exc}"


def _acl_flags(client: redis.Redis, user: str) -> set[str]:
    info = client.acl_getuser(user)  # never kept: it holds the user's password hashes
    flags = info.get("flags", []) if isinstance(info, dict) else []
    return {_text(f) for f in flags if isinstance(f, bytes | str)} if isinstance(
        flags, list) else set()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
