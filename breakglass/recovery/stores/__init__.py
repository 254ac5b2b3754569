"""Backup stores: `open_store(url, aws_settings)` picks the implementation by URL scheme."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from breakglass.connectors.aws import AwsSettings
from breakglass.errors import ConfigError
from breakglass.recovery.stores.base import BackupObject, BackupStore

__all__ = ["BackupObject", "BackupStore", "open_store"]


def open_store(url: str, aws_settings: AwsSettings | None = None,
               key_path: str = "store") -> BackupStore:
    """A store for `url` (file:///abs/path/ or s3://bucket/prefix/). Nothing is contacted yet.
    A malformed URL is a configuration error naming `key_path`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from breakglass.recovery.stores.file import FileStore

        path = unquote(parsed.path)
        if parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ConfigError(f"{key_path}: {url!r} must be file:///absolute/path/")
        return FileStore(url, Path(path))
    if parsed.scheme == "s3":
        from breakglass.recovery.stores.s3 import S3Store

        if not parsed.netloc:
            raise ConfigError(f"{key_path}: {url!r} must be s3://bucket/prefix/")
        prefix = parsed.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return S3Store(url, parsed.netloc, prefix, aws_settings)
    raise ConfigError(f"{key_path}: {url!r}: unsupported store (use file:///… or s3://…)")
