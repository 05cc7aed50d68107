"""Find log files: directories walked recursively, rotated siblings grouped into streams.

A *stream* is one logical log (`/var/log/nginx/access.log`) and its rotated generations
(`access.log.1`, `access.log.2.gz`, `access.log-20261122`). Files are returned oldest
generation first so that events reach correlation roughly in time order.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from detector.config import SourceSpec
from detector.errors import UsageError

COMPRESSIONS = {".gz": "gz", ".bz2": "bz2", ".xz": "xz"}

# Files that live next to logs but are not logs (documentation, scripts, configs).
NOT_LOGS = re.compile(r"(^\.|\.(md|rst|sh|py|yaml|yml|toml|swp|lock|pid|tmp)$|~$)", re.IGNORECASE)

_ROTATION = re.compile(
    r"^(?P<base>.+?)"
    r"(?:[.-](?P<date>\d{8}(?:\d{2})?|\d{4}-\d{2}-\d{2}))?"
    r"(?:\.(?P<num>\d{1,4}))?"
    r"(?:\.(?P<comp>gz|bz2|xz))?\Z",
    re.DOTALL,  # a file name may hold a newline: it must not crash discovery
)


@dataclass(frozen=True)
class LogFile:
    """One file to read, with what we know about it before opening it."""

    path: Path
    stream: str  # base path of the rotation family
    compression: str | None  # gz | bz2 | xz | None
    generation: tuple[int, str, int]  # sort key: older generations sort first
    source: SourceSpec | None = None


def split_rotation(path: Path) -> tuple[str, tuple[int, str, int], str | None]:
    """(stream base path, generation sort key, compression) for a file name."""
    match = _ROTATION.match(path.name)
    assert match is not None  # the pattern accepts every name
    base = match.group("base")
    comp = match.group("comp")
    date, num = match.group("date"), match.group("num")
    if date is None and num is None:
        if comp:  # `app.log.gz` alone: a compressed generation of app.log
            return str(path.parent / base), (0, "", 1), comp
        return str(path.parent / base), (1, "", 0), None
    # Older generations first: dated names in date order, numbered names highest first.
    return str(path.parent / base), (0, date or "", -int(num or 0)), comp


def _log_file(path: Path, source: SourceSpec | None) -> LogFile:
    stream, generation, compression = split_rotation(path)
    return LogFile(path=path, stream=stream, compression=compression, generation=generation, source=source)


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if NOT_LOGS.search(name):
                continue
            candidate = Path(dirpath) / name
            if candidate.is_file():
                found.append(candidate)
    return found


def order(files: list[LogFile]) -> list[LogFile]:
    """Streams in path order; inside a stream, oldest generation first."""
    return sorted(files, key=lambda f: (f.stream, f.generation, str(f.path)))


def require_paths(paths: list[Path]) -> None:
    """Every command-line path exists (checked before a run creates its state and lock)."""
    for raw in paths:
        if not raw.exists():
            raise UsageError(f"{raw}: no such file or directory")


def discover_paths(paths: list[Path]) -> list[LogFile]:
    """Files named on the command line, directories walked recursively."""
    require_paths(paths)
    files: dict[Path, LogFile] = {}
    for raw in paths:
        if raw.is_dir():
            for path in _walk(raw):
                files.setdefault(path.resolve(), _log_file(path.resolve(), None))
        elif raw.is_file():
            files.setdefault(raw.resolve(), _log_file(raw.resolve(), None))
        else:
            raise UsageError(f"{raw}: not a regular file or directory")
    return order(list(files.values()))


def discover_sources(sources: list[SourceSpec]) -> tuple[list[LogFile], list[SourceSpec]]:
    """Files matched by the inventory's globs (plus their rotated siblings), and the sources
    whose globs matched nothing (a log-source gap)."""
    files: dict[Path, LogFile] = {}
    missing: list[SourceSpec] = []
    for spec in sources:
        matched = [Path(p) for p in sorted(glob.glob(spec.path, recursive=True))]
        live = [p for p in matched if p.is_file()]
        if not live:
            missing.append(spec)
            if glob.has_magic(spec.path):
                continue
            # A plain path caught between rename and create: its renamed generation must still
            # be found (and finished), or the live file would look deleted.
            live = [Path(spec.path)]
        for path in live:
            stream, _, _ = split_rotation(path)
            siblings = [Path(p) for p in glob.glob(glob.escape(stream) + "[.-]*")]
            for candidate in [path, *siblings]:
                resolved = candidate.resolve()
                if candidate.is_file() and not NOT_LOGS.search(candidate.name):
                    if split_rotation(resolved)[0] == str(resolved.parent / Path(stream).name):
                        files.setdefault(resolved, _log_file(resolved, spec))
    return order(list(files.values())), missing


def scan_roots(paths: list[Path]) -> list[str]:
    """Resolved roots of a command-line scan (used to decide which vanished files were ours)."""
    return [str(p.resolve()) for p in paths]
