"""Opening a state that earlier runs created. Commands that read or act on what was stored
(findings, incidents, audit, reports, timers) refuse a path where there is no database rather
than create an empty one: a mistyped `--state` or `-c` would otherwise answer "no incidents"
or "audit trail OK: 0 entries" with exit 0."""

from __future__ import annotations

from pathlib import Path

from detector.errors import NotFoundError
from detector.state.store import Store


def require_state(path: Path) -> None:
    """Raise NotFoundError (exit 2) naming the path and how a state is created."""
    if not path.exists():
        raise NotFoundError(
            f"{path}: no logwarden state database here; check -c/--state, or create it with "
            f"`logwarden scan` (it writes the state named by the config, or --state {path})"
        )


def open_existing(path: Path) -> Store:
    """The Store at `path`, which must already exist."""
    require_state(path)
    return Store(path)
