"""The scan job as a library call: resolve sources, run the pipeline once, check source health.

Both `logwarden scan` (cron) and `logwarden watch` (daemon) call `run_scan`; the caller holds the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path


from detector.config import Config
from detector.detection.batch import BatchSink
from detector.model import iso
from detector.pipeline import BatchSource, Ingest, RunResult
from detector.runs.since import EventsSince
from detector.sources.health import SourceHealth
from detector.sources.scope import resolve_sources
from detector.state.store import Store


def run_scan(
    store: Store,
    config: Config,
    paths: list[Path],
    now: datetime,
    sink: BatchSink | None = None,
    log: Callable[[str], None] | None = None,
    chunk_size: int | None = None,
    since: datetime | None = None,
    source: BatchSource | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> RunResult:
    """Read everything new under `paths` (or the inventory) once. The caller holds the lock.
    With `since`, every line is read and checkpointed but only events at or after it are
    handed to `sink` (`stats["events_before_since"]` counts the others). `source`: where the
    parsed batches come from when not from this process (`runs/dask_engine.py`)."""
    sources = resolve_sources(config, paths)
    kwargs = {"chunk_size": chunk_size} if chunk_size else {}
    recent = EventsSince(sink, since) if sink is not None and since is not None else None
    ingest = Ingest(
        store, now, sink=recent or sink, default_timezone=config.timezone, log=log, source=source,
        on_progress=on_progress, partial_line_grace=config.partial_line_grace, **kwargs,
    )
    result = ingest.run(sources.files, sources.in_scope)
    if recent is not None:
        result.stats["events_before_since"] = recent.skipped
        if log is not None and recent.skipped:
            log(f"scan: {recent.skipped:,} event(s) before {iso(since)} read but not evaluated (--since)")

    # Missing and silent sources become defects; those that recovered (a source that matches
    # files again, an unreadable file read or gone) are resolved, as the daemon does each pass.
    unreadable = [d.subject for d in result.defects if d.kind == "source-unreadable"]
    expected = [] if paths else [spec.path for spec in config.sources()]
    health = SourceHealth(missing_grace=timedelta(0))
    result.defects.extend(health.check(store, config, sources, expected, now, unreadable=unreadable))
    return result
