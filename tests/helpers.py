"""Shared test helpers: realistic log lines, a recording batch sink, a one-call scan.

Imported by tests as `helpers` (pytest puts tests/ on sys.path, see pyproject.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from detector.config import Config
from detector.detection.batch import BatchContext
from detector.state.store import Store

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)


def access_line(i: int, when: datetime | None = None) -> str:
    """A real-world-shaped nginx combined line, unique by `i`."""
    ts = (when or T0 + timedelta(seconds=i)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'198.51.100.{i % 250 + 1} - - [{ts}] "GET /shop/item/{i}?ref=home HTTP/1.1" 200 {512 + i} '
        f'"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"'
    )


def access_lines(start: int, count: int) -> list[str]:
    return [access_line(i) for i in range(start, start + count)]


@dataclass
class RecordingSink:
    """A batch sink that remembers every parsed line it was handed (real pipeline, no mocks)."""

    lines: list[str] = field(default_factory=list)
    contexts: list[BatchContext] = field(default_factory=list)

    def process(self, store: Store, frame: pd.DataFrame, ctx: BatchContext) -> None:
        self.lines.extend(frame["log.original"].tolist())
        self.contexts.append(ctx)

    def finish(self, store: Store, now: datetime) -> None:
        pass


@dataclass
class Scanner:
    """Runs the real scan pipeline against one state file, recording what was read."""

    state: Path
    sink: RecordingSink = field(default_factory=RecordingSink)
    messages: list[str] = field(default_factory=list)

    def scan(self, *paths: Path, now: datetime | None = None, chunk_size: int | None = None):
        from detector.runs.scan import run_scan

        config = Config(path=None, state=self.state, checklist=None, escalation=None, timezone="UTC")
        with Store(self.state) as store:
            return run_scan(
                store,
                config,
                list(paths),
                now or datetime.now(timezone.utc),
                sink=self.sink,
                log=self.messages.append,
                chunk_size=chunk_size,
            )

    def gaps(self) -> list[dict]:
        with Store(self.state) as store:
            return [dict(r) for r in store.execute("SELECT * FROM gaps ORDER BY id")]


def write(path: Path, lines: list[str], mode: str = "w", newline_at_end: bool = True) -> None:
    text = "\n".join(lines) + ("\n" if newline_at_end and lines else "")
    with open(path, mode, encoding="utf-8") as handle:
        handle.write(text)
