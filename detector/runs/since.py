"""`scan --since`: read (and checkpoint) everything, but hand detection only the events at or
after an instant, so a first run over a long backlog evaluates the recent past only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from detector.detection.batch import BatchContext, BatchSink
from detector.state.store import Store


class EventsSince:
    """A batch sink that drops events before `since` and passes the rest to `sink`. Lines
    without a timestamp are kept (nothing says they are old)."""

    def __init__(self, sink: BatchSink, since: datetime) -> None:
        self.sink = sink
        self.since = pd.Timestamp(since).tz_convert("UTC")
        self.skipped = 0  # events left out, for the run's stats

    def _recent(self, frame: pd.DataFrame) -> pd.DataFrame:
        stamps = frame["@timestamp"]
        keep = (stamps.isna() | (stamps >= self.since)).to_numpy(dtype=bool, na_value=True)
        return frame if keep.all() else frame[keep].reset_index(drop=True)

    def prepare(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
        recent = self._recent(frame)
        inner = getattr(self.sink, "prepare", None)
        return recent, inner(recent) if inner is not None and len(recent) else None

    def process(self, store: Store, frame: pd.DataFrame, ctx: BatchContext, prepared: Any = None) -> None:
        recent, inner_prepared = prepared if prepared is not None else (self._recent(frame), None)
        self.skipped += len(frame) - len(recent)
        if inner_prepared is not None:
            self.sink.process(store, recent, ctx, inner_prepared)  # type: ignore[call-arg]
        else:
            self.sink.process(store, recent, ctx)

    def finish(self, store: Store, now: datetime) -> None:
        self.sink.finish(store, now)
