"""Read back the lines correlation kept references to (file uid, byte offset), for the few
findings that fire after a restart: correlation state holds references, not log text.

A file is found by its uid in the checkpoint records (a rotated file keeps its uid under its new
name, a compressed generation too); the line is cleaned the way the reader cleans it (CRLF, NUL
bytes, invalid UTF-8). A line whose file is gone reads as None: the finding keeps its id (the
state holds what the id needs) and says that the line is unavailable.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from detector.sources.reader import DEFAULT_MAX_LINE, READ_ERRORS, open_log
from detector.state.store import Store

_COMPRESSION = {".gz": "gz", ".bz2": "bz2", ".xz": "xz"}


def read_back(store: Store, keys: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The lines at these (file uid, offset) references that can still be read."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for uid, offset in keys:
        wanted[uid].append(offset)
    found: dict[tuple[str, int], str] = {}
    for uid, offsets in wanted.items():
        row = store.execute("SELECT path, compressed FROM files WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            continue
        path = Path(row[0])
        compression = _COMPRESSION.get(path.suffix) if row[1] else None
        try:
            with open_log(path, compression) as handle:
                for offset in sorted(set(offsets)):
                    handle.seek(offset)
                    raw = handle.readline(DEFAULT_MAX_LINE + 2)
                    found[(uid, offset)] = _clean(raw)
        except READ_ERRORS:
            continue
    return found


def _clean(raw: bytes) -> str:
    raw = raw.rstrip(b"\n")
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.replace(b"\x00", b"").decode("utf-8", errors="replace")
