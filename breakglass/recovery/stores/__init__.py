"""Backup stores, chosen by the URL's scheme: STORES is the one registry (file://, s3://, and
any installed distribution's through the entry-point group `breakglass.backup_stores`).

    base.py     BackupStore (each implementation declares its scheme, example, summary and URL
                rules), BackupObject, Upload
    file.py     file:///abs/path/
    s3.py       s3://bucket/prefix/ (boto3 is imported when the store is first used)
"""

from __future__ import annotations

from urllib.parse import urlsplit

from breakglass.connectors.aws import AwsSettings
from breakglass.errors import ConfigError
from breakglass.plugins import Registry
from breakglass.recovery.stores.base import BackupObject, BackupStore
from breakglass.recovery.stores.file import FileStore
from breakglass.recovery.stores.s3 import S3Store

__all__ = ["STORES", "BackupObject", "BackupStore", "open_store", "store_class",
           "store_problem"]


def _builtin() -> tuple[type[BackupStore], ...]:
    return (FileStore, S3Store)


STORES: Registry[BackupStore] = Registry("backup store", "breakglass.backup_stores", _builtin,
                                         lambda cls: cls.scheme, BackupStore)


def store_problem(url: str) -> str | None:
    """What is wrong with a store URL, one line (None: a registered scheme accepts it)."""
    parsed = urlsplit(url)
    cls = STORES.plugins.get(parsed.scheme)
    if cls is None:
        return f"expected {' or '.join(c.example for c in STORES.plugins.values())}"
    return cls.url_problem(parsed)


def store_class(url: str) -> type[BackupStore] | None:
    """The store that takes `url`'s scheme (None: none does), for what it declares."""
    return STORES.plugins.get(urlsplit(url).scheme)


def open_store(url: str, aws_settings: AwsSettings | None = None,
               key_path: str = "store") -> BackupStore:
    """A store for `url` (file:///abs/path/, s3://bucket/prefix/, …). Nothing is contacted yet.
    A malformed URL is a configuration error naming `key_path`."""
    problem = store_problem(url)
    if problem is not None:
        raise ConfigError(f"{key_path}: {problem}")
    parsed = urlsplit(url)
    return STORES.get(parsed.scheme).from_url(url, parsed, aws_settings)
