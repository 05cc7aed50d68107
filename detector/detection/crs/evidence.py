"""What a CRS finding's evidence lines matched: the CRS rule ids, messages and matched data.

Evidence is a reference to log lines (DESIGN §12), so the detail is worked out again from the
lines themselves, and only for the findings that fire: each evidence line is parsed in the
format it was written in and scored by the same CRS stage. The result goes into the finding's
`extra["crs"]` (one entry per evidence line), which the finding already stores and reports.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from detector.detection.crs.evaluate import CrsEvaluator
from detector.model import Evidence, Finding
from detector.parsing import parse_lines, sniff_format
from detector.parsing.base import ParseContext

_VALUE_CAP = 120
_MEMO_LIMIT = 4096


def _shown(value: str) -> str:
    return value if len(value) <= _VALUE_CAP else value[:_VALUE_CAP] + "..."


def line_details(evaluator: CrsEvaluator, line: str, path: str, when: datetime) -> dict[str, Any] | None:
    """The CRS score and hits of one access-log line; None when it is not a request line."""
    fmt = sniff_format([line])
    if fmt is None:
        return None
    lines = pa.array([line], pa.string())
    result = parse_lines(lines, fmt, ParseContext(path=path, timezone="UTC", file_mtime=when))
    if not len(result.table):
        return None
    frame = result.table.to_pandas(types_mapper=pd.ArrowDtype)
    scored = evaluator.evaluate(frame)
    if scored.scores[0] < 0:
        return None
    hits = [hit for hit in scored.hits if len(hit.rows)]
    return {
        "score": int(scored.scores[0]),
        "rules": [
            {"id": hit.rule.id, "msg": hit.rule.msg, "severity": hit.rule.severity, "category": hit.rule.category,
             "variable": hit.names[0], "matched": _shown(hit.values[0])}
            for hit in sorted(hits, key=lambda h: h.rule.id)
        ],  # fmt: skip
    }


class EvidenceDetail:
    """Adds the CRS detail of each evidence line to a finding (memoized per line)."""

    def __init__(self, evaluator: CrsEvaluator) -> None:
        self.evaluator = evaluator
        self._memo: dict[tuple[str, int, str], dict[str, Any] | None] = {}

    def _of(self, evidence: Evidence) -> dict[str, Any] | None:
        key = (evidence.path, evidence.offset, evidence.line)
        if key not in self._memo:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = line_details(self.evaluator, evidence.line, evidence.path, evidence.timestamp)
        return self._memo[key]

    def annotate(self, finding: Finding) -> Finding:
        entries = []
        for evidence in finding.evidence:
            detail = self._of(evidence)
            if detail is not None:
                entries.append({"path": evidence.path, "offset": evidence.offset, **detail})
        return replace(finding, extra={**finding.extra, "crs": entries})
