"""The contract between the ingest pipeline and whatever consumes its batches (detection)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pandas as pd

from detector.state.store import Store


@dataclass(frozen=True)
class BatchContext:
    """Where a batch of events came from (for evidence and application attribution)."""

    file_uid: str
    path: str
    log_format: str | None
    application: str | None
    now: datetime
    # Event time (microseconds) that no source still to be read in this run is behind (see
    # `pipeline.py`); None when the batch is all the caller knows of.
    watermark: int | None = None


class BatchSink(Protocol):
    """Consumes each parsed batch inside the batch's transaction.

    A sink may also define `prepare(frame) -> object`: pure work on the frame (no state
    database) that the pipeline runs in its read-ahead thread, handing the result to
    `process(store, frame, ctx, prepared)` so it overlaps with the previous batch's commit."""

    def process(self, store: Store, frame: pd.DataFrame, ctx: BatchContext) -> None: ...

    def finish(self, store: Store, now: datetime) -> None:
        """Every source of the run has been read (called in a transaction of its own)."""
