"""`file:///abs/path/` stores: a directory (searched recursively) on this machine or a mount."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from breakglass.recovery.manifest import Manifest, manifest_key, parse_manifest
from breakglass.recovery.stores.base import BackupObject, BackupStore, is_backup_name, unreachable


class FileStore(BackupStore):
    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root

    def _check_root(self) -> None:
        # A missing or unreadable directory is "could not look" (exit 3), not "no backups":
        # an unmounted backup disk looks exactly like an empty one otherwise.
        if not self.root.is_dir():
            what = "does not exist" if not self.root.exists() else "is not a directory"
            raise unreachable(f"{self.url}: {self.root} {what}",
                              "mount or create the backup directory, or fix `store`")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise unreachable(f"{self.url}: {self.root} is not readable",
                              "run as a user that can read the backup directory")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} escapes the store")
        return path

    def _object(self, path: Path) -> BackupObject:
        st = path.stat()
        return BackupObject(key=path.relative_to(self.root).as_posix(), size=st.st_size,
                            modified=datetime.fromtimestamp(st.st_mtime, UTC))

    def list_backups(self) -> list[BackupObject]:
        self._check_root()
        try:
            objs = [self._object(p) for p in self.root.rglob("*")
                    if p.is_file() and is_backup_name(p.name)]
        except OSError as exc:
            raise unreachable(f"{self.url}: cannot list: {exc}", "check the directory") from exc
        return sorted(objs, key=lambda o: (o.modified, o.key))

    def stat(self, key: str) -> BackupObject:
        try:
            return self._object(self._path(key))
        except OSError as exc:
            raise unreachable(f"{self.url}: cannot stat {key}: {exc}",
                              "check the directory") from exc

    @contextmanager
    def open(self, key: str) -> Iterator[IO[bytes]]:
        try:
            fh = self._path(key).open("rb")
        except OSError as exc:
            raise unreachable(f"{self.url}: cannot open {key}: {exc}",
                              "check the directory") from exc
        with fh:
            yield fh

    def read_head(self, key: str, n: int) -> bytes:
        with self.open(key) as fh:
            return fh.read(n)

    def read_manifest(self, key: str) -> Manifest | None:
        path = self._path(manifest_key(key))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise unreachable(f"{self.url}: cannot read {path.name}: {exc}",
                              "check the directory") from exc
        return parse_manifest(data, key)
