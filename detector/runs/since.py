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
        return _SinceEvaluator(None, self.since).prepare(frame)[0]

    def prepare(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any, int]:
        return _SinceEvaluator(getattr(self.sink, "prepare", None), self.since).prepare(frame)

    def evaluator(self) -> "_SinceEvaluator | None":
        """`prepare` and `compact` for a Dask worker, around the inner sink's evaluator."""
        inner = getattr(self.sink, "evaluator", None)
        return _SinceEvaluator(inner(), self.since) if inner is not None else None

    def process(self, store: Store, frame: pd.DataFrame, ctx: BatchContext, prepared: Any = None) -> None:
        if prepared is None:
            recent = self._recent(frame)
            prepared = (recent, None, len(frame) - len(recent))
        recent, inner_prepared, skipped = prepared
        self.skipped += skipped
        if inner_prepared is not None:
            self.sink.process(store, recent, ctx, inner_prepared)  # type: ignore[call-arg]
        else:
            self.sink.process(store, recent, ctx)

    def finish(self, store: Store, now: datetime) -> None:
        self.sink.finish(store, now)


class _SinceEvaluator:
    """`EventsSince.prepare` where the batch is parsed: drop the old events, let the inner sink
    prepare the rest; `prepared` = (recent events, the inner result, how many were dropped)."""

    def __init__(self, inner: Any, since: pd.Timestamp) -> None:
        self.inner = inner  # the inner sink's evaluator (or its bound `prepare`), or None
        self.since = since

    def prepare(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any, int]:
        stamps = frame["@timestamp"]
        keep = (stamps.isna() | (stamps >= self.since)).to_numpy(dtype=bool, na_value=True)
        recent = frame if keep.all() else frame[keep].reset_index(drop=True)
        prepare = getattr(self.inner, "prepare", self.inner)
        return recent, prepare(recent) if prepare is not None and len(recent) else None, len(frame) - len(recent)

    def compact(self, frame: pd.DataFrame, prepared: tuple[pd.DataFrame, Any, int]) -> tuple[pd.DataFrame, Any]:
        recent, inner, skipped = prepared
        if inner is None:
            kept = recent.iloc[0:0]
        else:
            kept, inner = self.inner.compact(recent, inner)
        return kept, (kept, inner, skipped)

    def merge(self, parts: list[tuple[pd.DataFrame, tuple[pd.DataFrame, Any, int]]]) -> tuple[pd.DataFrame, Any]:
        skipped = sum(prepared[2] for _, prepared in parts)
        inner = [(kept, prepared[1]) for kept, prepared in parts if prepared[1] is not None]
        if not inner:
            kept = pd.concat([kept for kept, _ in parts], ignore_index=True)
            return kept, (kept, None, skipped)
        kept, merged = self.inner.merge(inner)
        return kept, (kept, merged, skipped)
