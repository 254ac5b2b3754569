"""Where journals, leases, records and reports live (docs/state.md): `open_state(config)`.

`[project] state = "s3://…"` -> the shared S3 backend (state_dir is its cache); otherwise the
local folder. `--local-state` (an emergency, S3 down) makes this process use the local folder
even though the config names S3; its runs are marked "not shared yet" for `state.push`.
The choice is made once per process and config: every part of a run must see the same state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.state.base import State

_OPEN: dict[int, tuple[Config, State]] = {}


def open_state(config: Config, *, local_only: bool = False) -> State:
    """The state of `config` for this process (built on first use; `local_only` decides only
    then)."""
    known = _OPEN.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    state = _build(config, local_only)
    _OPEN[id(config)] = (config, state)
    return state


def _build(config: Config, local_only: bool) -> State:
    project = config.project
    local_dir = Path(project.state_dir)
    if project.state is None or local_only:
        from breakglass.state.local import LocalState

        return LocalState(local_dir, unshared=project.state is not None)
    from breakglass.state.s3 import S3State

    return S3State(project.state, local_dir, config.aws, lease_ttl=project.lease_ttl,
                   evidence_retention=project.evidence_retention,
                   recipients=project.state_recipients)
