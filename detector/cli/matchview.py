"""Stateless per-line rule hits (`logwarden match`, like fail2ban-regex): which single-event
rules hit each line of a file and which fields were extracted. How people debug a rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detector.checklist import Checklist
from detector.config import local_timezone
from detector.detection.crs.stage import CrsStage
from detector.detection.matcher import Matcher
from detector.parsing import parse_any
from detector.parsing.base import ParseContext
from detector.pipeline import frame_from
from detector.sources.discovery import discover_paths
from detector.sources.reader import LineReader, open_log


@dataclass(frozen=True)
class LineMatch:
    path: str
    line_no: int
    offset: int
    kind: str | None
    rules: list[str]
    fields: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line_no": self.line_no,
            "offset": self.offset,
            "kind": self.kind,
            "rules": self.rules,
            "fields": self.fields,
        }


@dataclass
class MatchSummary:
    files: int = 0
    lines: int = 0
    parsed: int = 0
    matched: int = 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def match_files(
    paths: list[Path], checklist: Checklist, summary: MatchSummary, timezone_name: str | None = None,
    show_all: bool = False,
    crs: CrsStage | None = None,
) -> Iterator[LineMatch]:
    """With `crs`, each request also carries its CRS score and the CRS rules it hit (crs.*)."""
    matcher = Matcher(checklist)
    tz = timezone_name or local_timezone()
    for file in discover_paths(paths):
        summary.files += 1
        mtime = datetime.fromtimestamp(file.path.stat().st_mtime, timezone.utc)
        ctx = ParseContext(path=str(file.path), timezone=tz, file_mtime=mtime)
        fmt: str | None = None
        lines_before = 0
        with open_log(file.path, file.compression) as handle:
            for batch in LineReader(handle, 0, final=True):
                summary.lines += batch.lines_total
                if not len(batch.lines):
                    lines_before += batch.lines_total
                    continue
                mixed = parse_any(batch.lines, fmt, ctx)
                result, fmt = mixed.result, mixed.usual
                summary.parsed += len(result.table)
                if len(result.table):
                    frame = frame_from(result.table, batch.lines, batch.offsets, result.parsed_index, str(file.path))
                    if crs is not None:
                        frame = crs.enrich(frame)
                    hits = matcher.match(frame)
                    by_row: dict[int, list[str]] = {}
                    for key, rows in hits.items():
                        for row in rows.tolist():
                            by_row.setdefault(row, []).append(key)
                    rows_to_show = range(len(frame)) if show_all else sorted(by_row)
                    parsed_index = result.parsed_index.to_numpy()
                    records = frame.iloc[list(rows_to_show)] if len(rows_to_show) else frame.iloc[[]]
                    for position, (row, record) in enumerate(zip(rows_to_show, records.to_dict("records"))):
                        rules = sorted(by_row.get(row, []))
                        summary.matched += bool(rules)
                        fields = {
                            k: _jsonable(v) for k, v in record.items()
                            if k != "log.original" and v is not None and not (isinstance(v, float) and np.isnan(v)) and v is not pd.NA
                        }
                        yield LineMatch(
                            path=str(file.path),
                            line_no=lines_before + int(batch.line_index[parsed_index[row]]) + 1,
                            offset=int(record["log.offset"]),
                            kind=fields.get("log.kind"),
                            rules=rules,
                            fields=fields,
                        )
                lines_before += batch.lines_total
