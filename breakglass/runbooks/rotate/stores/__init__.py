"""Where a secret's value lives, for the kinds that write it there: one small interface, one module
per place (the shape issue #13 asks of every plugin: the module declares its name; nothing else
keeps a table of names).

    aws_sm.py        store = "aws-sm:NAME"   a Secrets Manager secret (versions, AWSPREVIOUS)
    ssm.py           store = "ssm:NAME"      an SSM parameter (its version history)
    dotenv_hosts.py  path + key              the KEY line of an env file on every consumer host,
                                             over SSH/SFTP (backups beside it, `~/` expanded)

Every store does the same five things, so that each kind gets them right once:

    read_all     place -> the value there (one place, or one per host)
    previous     values this store still keeps from before (the old value, to prove it dead)
    write        the new value everywhere, or nowhere: a place that refuses it puts the places
                 already written back before the error is raised
    restore      put back the value this run replaced (undo of a write the server refused)
    recovery     the same as commands a person can paste
    leftovers    copies of replaced values this run left behind (an env file's .bak)
    clean_up     delete them (the kind's `cleanup` step, once the run succeeded)

Values are identified by `value_digest` (a sha256 prefix): journals, plans and findings say which
value is where without holding any.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from breakglass.errors import UsageError

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.runbook import StepContext


def value_digest(value: str | None) -> str:
    """A sha256 prefix of `value` ("" for None): names a value in a journal, reveals nothing."""
    return "" if value is None else hashlib.sha256(value.encode()).hexdigest()[:16]


class Store(ABC):
    #: the scheme of `store = "SCHEME:NAME"` that selects this store ("" for path + key)
    scheme: ClassVar[str]
    #: where the value is, for plans and findings (`aws-sm:prod/db`, `KEY in PATH on web1`)
    where: str

    @abstractmethod
    def read_all(self, ctx: StepContext) -> dict[str, str | None]: ...

    @abstractmethod
    def previous(self, ctx: StepContext) -> list[str]: ...

    @abstractmethod
    def write(self, ctx: StepContext, value: str) -> dict[str, Any]:
        """Write `value` everywhere (all or nothing) and return a non-secret result."""

    @abstractmethod
    def restore(self, ctx: StepContext) -> dict[str, Any]:
        """Put back the value this run's write replaced; a no-op when it wrote nothing."""

    def recovery(self, ctx: StepContext) -> list[str]:
        return []

    def leftovers(self, ctx: StepContext) -> list[str]:
        return []

    def clean_up(self, ctx: StepContext) -> dict[str, Any]:
        return {"removed": []}


def store_for(config: Config, secret: str, *, ref: str | None, path: str | None = None,
              key: str | None = None) -> Store:
    """The store named by `ref` ("aws-sm:NAME", "ssm:NAME"), or the env file at `path` (line
    `key`) on the consumers' hosts of `secret`."""
    from breakglass.runbooks.rotate.stores import aws_sm, dotenv_hosts, ssm

    if ref is None:
        assert path is not None and key is not None
        return dotenv_hosts.DotenvHosts.for_consumers(config, secret, path, key)
    scheme, _, name = ref.partition(":")
    found = {cls.scheme: cls for cls in (aws_sm.SecretsManagerStore, ssm.SsmStore)}
    if scheme not in found or not name:
        raise UsageError(f'secrets.{secret}.store: "{ref}" is not one of '
                         f"{', '.join(s + ':NAME' for s in found)}")
    return found[scheme](config, name, secret)
