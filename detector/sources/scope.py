"""Which files one run reads and which stored checkpoints it answers for: the command line's
paths, or the configuration's application inventory, minus logwarden's own files.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from detector.config import Config
from detector.errors import UsageError
from detector.model import Defect, stable_hash
from detector.sources.checkpoints import FileRecord
from detector.sources.discovery import LogFile, discover_paths, discover_sources


@dataclass(frozen=True)
class Sources:
    """What one run reads, and which stored checkpoints it is responsible for."""

    files: list[LogFile]
    in_scope: Callable[[FileRecord], bool]
    missing: list[str]  # source globs that matched nothing


# Files the escalation side keeps in the state directory by default (the `file` channel's
# journal of the bundled policy): notifications quote log lines, never read them back as logs.
OWN_FILE_NAMES = frozenset({"journal.jsonl"})


def is_own_file(state: Path, candidate: Path) -> bool:
    """logwarden's own files (state database, its WAL, lock, audit mirror, journal) sit next to
    the state file and share its stem: never read them as logs, or a scan of the directory
    holding the state would feed on its own output."""
    own_dir = state.expanduser().resolve().parent
    if own_dir / f"{state.stem}.exercises" in candidate.parents:  # kept exercise states and journals
        return True
    return candidate.parent == own_dir and (
        candidate.name == state.name
        or candidate.name.startswith(state.stem + ".")
        or candidate.name in OWN_FILE_NAMES
    )


def resolve_sources(config: Config, paths: list[Path]) -> Sources:
    """Command-line paths win; otherwise the config's application inventory."""
    sources = _resolve_sources(config, paths)
    files = [f for f in sources.files if not is_own_file(config.state, f.path)]
    return Sources(files=files, in_scope=sources.in_scope, missing=sources.missing)


def _resolve_sources(config: Config, paths: list[Path]) -> Sources:
    if paths:
        files = discover_paths(paths)
        roots = [str(p.resolve()) for p in paths]
        streams = {f.stream for f in files}

        def in_scope(record: FileRecord) -> bool:
            return record.stream in streams or any(
                record.path == root or record.path.startswith(root.rstrip("/") + "/") for root in roots
            )

        return Sources(files=files, in_scope=in_scope, missing=[])
    specs = config.sources()
    if not specs:
        where = f"in {config.path}" if config.path else "(no logwarden.yaml found)"
        raise UsageError(
            f"nothing to scan: give log files or directories, or list applications with sources {where}"
        )
    files, missing = discover_sources(specs)
    globs = [s.path for s in specs]
    streams = {f.stream for f in files}

    def in_scope_config(record: FileRecord) -> bool:
        return record.stream in streams or any(fnmatch.fnmatch(record.path, g) for g in globs)

    return Sources(files=files, in_scope=in_scope_config, missing=[s.path for s in missing])


def missing_source_defects(sources: Sources, config: Config, now: datetime) -> list[Defect]:
    by_path = {s.path: s for s in config.sources()}
    return [
        Defect(
            id="missing-" + stable_hash(path),
            kind="source-missing",
            severity="high",
            subject=path,
            detail=f"log source {path} (application {by_path[path].application if path in by_path else '?'}) "
            "matches no file: it is not being analyzed",
            first_seen=now,
            last_seen=now,
        )
        for path in sources.missing
    ]
