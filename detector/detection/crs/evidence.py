"""What a CRS finding's evidence lines matched: the CRS rule ids, messages and matched data.

The CRS stage keeps the detail of the latest requests over the threshold, keyed by line
(`CrsStage.recent`), so a finding written a batch later finds its evidence's detail there.
Evidence is a reference to log lines (DESIGN §12): a line the stage no longer holds (a finding
extended in a later run) is parsed again in its file's format and scored by the same rules.
The result goes into the finding's `extra["crs"]` (one entry per evidence line), which the
finding already stores and reports.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from detector.detection.crs.stage import CrsStage, row_details
from detector.model import Evidence, Finding
from detector.parsing import parse_lines, sniff_format
from detector.parsing.base import ParseContext

_MEMO_LIMIT = 4096


class EvidenceDetail:
    """Adds the CRS detail of each evidence line to a finding."""

    def __init__(self, stage: CrsStage) -> None:
        self.stage = stage
        self._memo: dict[tuple[str, int, str], dict[str, Any] | None] = {}
        self._formats: dict[str, str | None] = {}  # per file: its format, sniffed once

    def annotate(self, finding: Finding) -> Finding:
        """The finding with `extra["crs"]` for every evidence line (lines it already names are
        kept as they are: each line is worked out once, while the stage still holds it)."""
        known = {(e["path"], e["offset"]): e for e in finding.extra.get("crs", [])}
        entries = []
        for evidence in finding.evidence:
            entry = known.get((evidence.path, evidence.offset))
            if entry is None:
                detail = self._of(evidence)
                entry = None if detail is None else {"path": evidence.path, "offset": evidence.offset, **detail}
            if entry is not None:
                entries.append(entry)
        return replace(finding, extra={**finding.extra, "crs": entries})

    def _of(self, evidence: Evidence) -> dict[str, Any] | None:
        key = (evidence.path, evidence.offset, evidence.line)
        found = self.stage.recent.get(key)
        if found is not None:
            return found
        if key not in self._memo:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = self._scored_again(evidence)
        return self._memo[key]

    def _scored_again(self, evidence: Evidence) -> dict[str, Any] | None:
        if evidence.path not in self._formats:
            self._formats[evidence.path] = sniff_format([evidence.line])
        fmt = self._formats[evidence.path]
        return None if fmt is None else line_details(self.stage, evidence.line, fmt, evidence.path, evidence.timestamp)


def line_details(stage: CrsStage, line: str, fmt: str, path: str, when: datetime) -> dict[str, Any] | None:
    """The CRS score and hits of one access-log line; None when it is not a request line."""
    result = parse_lines(pa.array([line], pa.string()), fmt, ParseContext(path=path, timezone="UTC", file_mtime=when))
    if not len(result.table):
        return None
    scored = stage.evaluator.evaluate(result.table.to_pandas(types_mapper=pd.ArrowDtype))
    if scored.scores[0] < 0:
        return None
    return {"score": int(scored.scores[0]), "rules": row_details(scored, {0})[0]}
