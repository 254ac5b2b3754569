"""`file:///abs/path/` stores: a directory (searched recursively) on this machine or a mount."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import SplitResult, unquote

from breakglass.connectors.files import fsync_dir, write_private
from breakglass.errors import CouldNotVerify
from breakglass.recovery.manifest import Manifest, manifest_key, parse_manifest
from breakglass.recovery.stores.base import (
    BackupObject,
    BackupStore,
    Upload,
    is_backup_name,
    unreachable,
)

if TYPE_CHECKING:
    from breakglass.connectors.aws import AwsSettings

PARTIAL_SUFFIX = ".partial"


def partial_path(final: Path) -> Path:
    """`.<name>.partial` beside `final`: hidden, and never a backup name (it does not end in
    .dump or .dump.age), so listings skip it."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def _write_failed(url: str, what: str, exc: OSError) -> CouldNotVerify:
    return CouldNotVerify(f"{url}: {what}: {exc.strerror or exc}", code="STORE_WRITE_FAILED",
                          action="check free space and permissions of the backup directory")


class FileUpload(Upload):
    """Bytes go to `.<name>.partial` (0600); commit fsyncs it, renames it over `<name>` and
    fsyncs the directory."""

    def __init__(self, store: FileStore, key: str, final: Path) -> None:
        self.key = key
        self.written = 0
        self._store = store
        self._final = final
        self._partial = partial_path(final)
        self._done = False
        try:
            fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise _write_failed(store.url, f"cannot create {self._partial.name}", exc) from exc
        self._fh = os.fdopen(fd, "wb")

    @property
    def committed(self) -> bool:
        return self._done

    def write(self, data: bytes) -> int:
        try:
            self._fh.write(data)
        except OSError as exc:
            raise _write_failed(self._store.url, f"writing {self._partial.name}", exc) from exc
        self.written += len(data)
        return len(data)

    def commit(self) -> BackupObject:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._partial, self._final)
            fsync_dir(self._final.parent)
        except OSError as exc:
            raise _write_failed(self._store.url, f"committing {self.key}", exc) from exc
        self._done = True
        return self._store.stat(self.key)

    def abort(self) -> None:
        if self._done:
            return
        self._fh.close()
        self._partial.unlink(missing_ok=True)


class FileStore(BackupStore):
    scheme = "file"
    example = "file:///absolute/path/"
    summary = "a directory (searched recursively) on this machine or a mount"

    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root

    @classmethod
    def url_problem(cls, parsed: SplitResult) -> str | None:
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            return "a file:// store needs an absolute path (file:///var/backups/pg/)"
        return None

    @classmethod
    def from_url(cls, url: str, parsed: SplitResult,
                 aws_settings: AwsSettings | None) -> FileStore:
        return cls(url, Path(unquote(parsed.path)))

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

    # -- write API ------------------------------------------------------------------------
    def begin(self, key: str, encryption: str = "none") -> Upload:
        # The store directory must exist: creating it would hide an unmounted backup disk.
        self._check_root()
        final = self._path(key)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return FileUpload(self, key, final)

    def put_manifest(self, key: str, manifest: Manifest) -> None:
        final = self._path(manifest_key(key))
        try:
            write_private(final, manifest.to_json().encode(), tmp=partial_path(final))
        except OSError as exc:
            raise _write_failed(self.url, f"writing {final.name}", exc) from exc

    def delete(self, key: str) -> None:
        # The backup first: a manifest without its backup is not listed as a backup, while a
        # backup without its manifest would look unverifiable.
        try:
            self._path(key).unlink(missing_ok=True)
            self._path(manifest_key(key)).unlink(missing_ok=True)
            fsync_dir(self._path(key).parent)
        except OSError as exc:
            raise _write_failed(self.url, f"deleting {key}", exc) from exc

    def partials(self, key: str) -> int:
        return int(partial_path(self._path(key)).exists())

    def discard_partial(self, key: str) -> int:
        path = partial_path(self._path(key))
        try:
            path.unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _write_failed(self.url, f"removing {path.name}", exc) from exc
        return 1
