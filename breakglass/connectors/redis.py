"""Redis (redis-py): the one place a client is built (`client`: timeouts, no retries), and its
errors translated to ours here (and in redisfacts.py, the knock of the redis.private check).

A lockout must not hang on a dead cache (a verifier that hangs is worse than exit 3), and its
error must not repeat the URL: `redis://:PASSWORD@host` carries the password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from breakglass.errors import CouldNotVerify, UsageError

if TYPE_CHECKING:
    import redis

REDIS_UNREACHABLE = "REDIS_UNREACHABLE"
TIMEOUT = 10  # seconds


def describe(url: str) -> str:
    """host:port/db of a Redis URL, without the user or the password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


def client(url: str, *, bare: bool = False) -> redis.Redis:
    """A client for `url` (not connected yet) with TIMEOUT and no retries: redis-py 8 retries a
    refused AUTH with backoff for about 5 s. `bare`: RESP2 without CLIENT SETINFO, so nothing is
    sent but the commands asked (no HELLO: Redis 5 has none). A URL that is not one is a
    UsageError that does not show it (it may carry the password)."""
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError("a Redis URL must start with redis://, rediss:// or unix:// "
                         "(the value is not shown)")
    extra: dict[str, Any] = {"protocol": 2, "driver_info": None} if bare else {}
    try:
        return redis_py.Redis.from_url(url, socket_timeout=TIMEOUT,
                                       socket_connect_timeout=TIMEOUT,
                                       retry=Retry(NoBackoff(), retries=0), **extra)
    except ValueError:
        raise UsageError("a Redis URL is malformed (the value is not shown)") from None


@contextmanager
def connect(url: str) -> Iterator[redis.Redis]:
    """A client for `url` that raises CouldNotVerify(REDIS_UNREACHABLE) for a server that is down
    or refuses the password, from connecting and from any command inside the block."""
    import redis as redis_py

    conn = client(url)
    try:
        conn.ping()
        yield conn
    except redis_py.RedisError as exc:
        raise CouldNotVerify(f"Redis at {describe(url)}: {type(exc).__name__}: "
                             f"{_first_line(exc, url)}", code=REDIS_UNREACHABLE,
                             action="check that Redis is up and the URL's password") from None
    finally:
        conn.close()


def scan_keys(client: redis.Redis, pattern: str) -> list[bytes]:
    """Every key matching `pattern` (SCAN, never KEYS: KEYS blocks a production server)."""
    return list(client.scan_iter(match=pattern, count=1000))


def _first_line(exc: Any, url: str) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    password = urlsplit(url).password
    return line.replace(password, "***") if password else line
