"""What `breakglass config.check` reports: every setting as (key path, display value), with each
secret reference resolved and shown masked (`env:DATABASE_URL (set, 52 chars)`).

The same facts feed the table for people and the --json document for machines.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from breakglass.config.models import Config
from breakglass.config.problems import key_path
from breakglass.errors import CouldNotVerify, SecretRefError
from breakglass.secrets import SecretResolver, is_ref


@dataclass(frozen=True)
class SecretStatus:
    key: str  # key path in the file, e.g. databases.main.dsn
    ref: str
    length: int | None = None  # set when resolved
    problem: str | None = None  # one line when not
    unverified: bool = False  # the problem is "could not verify" (AWS down), not a config error

    @property
    def display(self) -> str:
        if self.problem is not None:
            return f"{self.ref} (unresolved: {self.problem})"
        return f"{self.ref} (set, {self.length} chars)"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "ref": self.ref,
                "status": "set" if self.problem is None else "unresolved",
                "length": self.length, "problem": self.problem}


def secret_refs(config: Config) -> Iterator[tuple[str, str]]:
    """(key path, reference) for every secret reference in the config, in file order."""
    for name, person in config.people.items():
        for i, entry in enumerate(person.notify):
            if is_ref(entry):
                yield key_path(("people", name, "notify", i)), entry
    if config.sentry is not None:
        yield "sentry.dsn", config.sentry.dsn
    for name, host in config.hosts.items():
        if host.key is not None:
            yield key_path(("hosts", name, "key")), host.key
    for name, db in config.databases.items():
        yield key_path(("databases", name, "dsn")), db.dsn
    for name, backup in config.backups.items():
        if backup.identity is not None:
            yield key_path(("backups", name, "identity")), backup.identity


def resolve_all(config: Config, secrets: SecretResolver) -> list[SecretStatus]:
    out = []
    for key, ref in secret_refs(config):
        try:
            out.append(SecretStatus(key, ref, length=len(secrets.resolve(ref))))
        except SecretRefError as exc:
            out.append(SecretStatus(key, ref, problem=str(exc)))
        except CouldNotVerify as exc:
            out.append(SecretStatus(key, ref, problem=str(exc), unverified=True))
    return out


def settings(config: Config, statuses: list[SecretStatus]) -> list[tuple[str, Any]]:
    """Every setting as (key path, JSON value); secrets masked, literal notification
    URLs shown by scheme only (a webhook URL usually carries a token)."""
    masked = {s.key: s.display for s in statuses}
    data = config.model_dump(mode="json", exclude={"path"})
    rows: list[tuple[str, Any]] = []
    for loc, value in _leaves(data, ()):
        key = key_path(loc)
        if key in masked:
            rows.append((key, masked[key]))
        elif loc[:1] == ("people",) and isinstance(value, str) and "://" in value:
            scheme = urllib.parse.urlsplit(value).scheme
            rows.append((key, f"{scheme}://… (literal URL, not shown)"))
        else:
            rows.append((key, value))
    return rows


def _leaves(obj: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if v is None or v == {} or v == []:
                continue  # unset optional settings are noise in a listing
            yield from _leaves(v, (*loc, k))
    elif isinstance(obj, list) and any(_needs_own_row(v) for v in obj):
        # Element by element, so that each reference or URL is masked on its own.
        for i, v in enumerate(obj):
            yield from _leaves(v, (*loc, i))
    else:
        yield loc, obj


def _needs_own_row(value: Any) -> bool:
    return isinstance(value, dict | list) or (isinstance(value, str)
                                               and (is_ref(value) or "://" in value))


def display(value: Any) -> str:
    """A setting's value as text for the table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(display(v) for v in value)
    return str(value)
