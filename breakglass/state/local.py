"""The local backend: the whole state in `[project] state_dir` (the embedded default).

Also what `--local-state` uses when the shared state cannot be reached: each run it journals is
then marked `runs/RUN_ID.unshared` until `breakglass state.push` uploads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from breakglass.connectors.files import private_dir, write_private
from breakglass.state import jsonl, lease_local
from breakglass.state.base import Holder, Lease, RemoteJournal, State


class LocalState(State):
    def __init__(self, state_dir: Path, *, unshared: bool = False) -> None:
        self.local_dir = state_dir
        self.label = str(state_dir)
        #: the config names a shared state this process could not (or was told not to) use
        self.unshared = unshared

    def lease(self, runbook: str, target: str) -> Lease:
        return lease_local.FileLease(self.local_dir, runbook, target)

    def holder(self, runbook: str, target: str) -> Holder | None:
        return lease_local.live_holder(self.local_dir, runbook, target)

    def remote_journal(self, run_id: str, *, create: bool) -> RemoteJournal | None:
        if self.unshared and create:
            marker = private_dir(self.runs_dir()) / f"{run_id}.unshared"
            write_private(marker, b"journaled with --local-state; `breakglass state.push` "
                                  b"shares it\n")
        return None

    def record_path(self, name: str) -> Path:
        return self.local_dir / f"{name}.jsonl"

    def records(self, name: str) -> list[dict[str, Any]]:
        return jsonl.read_records(self.record_path(name))

    def append_record(self, name: str, record: Mapping[str, Any]) -> bool:
        return jsonl.append_record(self.record_path(name), record)

    def put_blob(self, name: str, data: bytes, *, evidence: bool = False) -> Path:
        path = self.local_dir / name
        private_dir(path.parent)
        write_private(path, data)
        return path

    def get_blob(self, name: str) -> bytes | None:
        try:
            return (self.local_dir / name).read_bytes()
        except FileNotFoundError:
            return None

    def record_label(self, name: str) -> str:
        return str(self.record_path(name))

    def put_private(self, name: str, data: bytes) -> Path:
        return self.put_blob(name, data)

    def get_private(self, name: str, identity: Callable[[], str] | None) -> bytes | None:
        return self.get_blob(name)

    def private_names(self, folder: str) -> list[str]:
        return private_files(self.local_dir, folder)


def private_files(local_dir: Path, folder: str) -> list[str]:
    """The names of the files under `folder` of `local_dir` (temp files of an interrupted
    write excepted)."""
    where = local_dir / folder
    if not where.is_dir():
        return []
    return sorted(p.relative_to(local_dir).as_posix() for p in where.iterdir()
                  if p.is_file() and not p.name.startswith("."))
