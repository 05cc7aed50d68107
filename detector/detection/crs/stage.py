"""The CRS as a stage before rule matching: each request gets its anomaly score and the CRS
rules it hit as columns, which the `web-crs-inbound` scenario (and any scenario of the
user's) reads like any other field."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.checklist import Checklist
from detector.checklist.crs import load_crs
from detector.checklist.crs.model import CrsRuleSet
from detector.checklist.crs.scenario import SCENARIO_ID
from detector.config import CrsSettings
from detector.detection.crs.evaluate import CrsEvaluator, CrsResult
from detector.state.store import Store

SCORE_FIELD = "crs.anomaly_score"
RULES_FIELD = "crs.rules"  # matched rule ids, space-separated
DETAIL_FIELD = "crs.matched"  # per rule: id, message, variable and matched value
CATEGORY_FIELD = "crs.categories"
FIELDS = (SCORE_FIELD, RULES_FIELD, DETAIL_FIELD, CATEGORY_FIELD)
_VALUE_CAP = 120


_RECENT = 8_192  # requests over the threshold whose detail is kept for their findings' evidence
LineKey = tuple[str, int, str]  # (file path, offset, line)


class CrsStage:
    """Compiled once per rule selection; `enrich(frame)` per batch (runs in the pipeline's
    read-ahead thread). Keeps the rule detail of the latest requests over the threshold, keyed
    by line, for the evidence of the findings they raise (evidence.py)."""

    def __init__(self, ruleset: CrsRuleSet, settings: CrsSettings) -> None:
        self.ruleset = ruleset
        self.settings = settings
        self.rules = ruleset.select(settings)
        self.evaluator = CrsEvaluator(self.rules)
        self.recent: OrderedDict[LineKey, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def enrich(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not len(frame):
            return frame
        result = self.evaluator.evaluate(frame)
        self._remember(frame, result)
        return add_columns(frame, result)

    def _remember(self, frame: pd.DataFrame, result: CrsResult) -> None:
        over = np.flatnonzero(result.scores >= self.settings.threshold)
        if not len(over) or not {"log.file.path", "log.offset", "log.original"} <= set(frame.columns):
            return
        details = row_details(result, set(over.tolist()))
        paths, offsets, lines = (frame[c].iloc[over].tolist() for c in ("log.file.path", "log.offset", "log.original"))  # those rows only
        with self._lock:  # enrich may run on two threads (the pipeline's read-ahead)
            for i, row in enumerate(over.tolist()):
                self.recent[(paths[i], int(offsets[i]), lines[i])] = {"score": int(result.scores[row]), "rules": details[row]}
            while len(self.recent) > _RECENT:
                self.recent.popitem(last=False)


def _shown(value: str) -> str:
    return value if len(value) <= _VALUE_CAP else value[:_VALUE_CAP] + "..."


def _detail(rule_id: int, msg: str, name: str, value: str) -> str:
    return f"{rule_id} {msg} [{name}: {_shown(value)}]"


def row_details(result: CrsResult, rows: set[int]) -> dict[int, list[dict[str, Any]]]:
    """Per row of `rows`: every CRS rule it hit, with message, severity, category, the variable
    and the matched (transformed) data, by rule id."""
    out: dict[int, list[dict[str, Any]]] = {row: [] for row in rows}
    for hit in result.hits:
        rule = hit.rule
        for row, name, value in zip(hit.rows.tolist(), hit.names, hit.values):
            if row in out:
                out[row].append({"id": rule.id, "msg": rule.msg, "severity": rule.severity,
                                 "category": rule.category, "variable": name, "matched": _shown(value)})  # fmt: skip
    for found in out.values():
        found.sort(key=lambda d: d["id"])
    return out


def add_columns(frame: pd.DataFrame, result: CrsResult) -> pd.DataFrame:
    """The score column for every request; ids, categories and details for the rows with hits
    (built in Python for those rows only: a few per thousand requests)."""
    n = len(frame)
    scores = result.scores
    per_row: dict[int, list[tuple[int, str, str, str, str]]] = {}
    for hit in result.hits:
        rule = hit.rule
        for row, name, value in zip(hit.rows.tolist(), hit.names, hit.values):
            per_row.setdefault(row, []).append((rule.id, rule.msg, name, value, rule.category))
    ids = np.full(n, None, dtype=object)
    details = np.full(n, None, dtype=object)
    categories = np.full(n, None, dtype=object)
    for row, found in per_row.items():
        found.sort()
        ids[row] = " ".join(str(f[0]) for f in found)
        details[row] = " | ".join(_detail(*f[:4]) for f in found)
        categories[row] = " ".join(sorted({f[4] for f in found}))
    columns = {
        SCORE_FIELD: pa.array(np.where(scores >= 0, scores, 0), pa.int64(), mask=scores < 0),
        RULES_FIELD: pa.array(ids, pa.string()),
        DETAIL_FIELD: pa.array(details, pa.string()),
        CATEGORY_FIELD: pa.array(categories, pa.string()),
    }
    out = frame.copy(deep=False)
    for name, values in columns.items():
        out[name] = pd.Series(pd.arrays.ArrowExtensionArray(values), index=frame.index)
    return out


def load_crs_stage(settings: CrsSettings) -> CrsStage:
    return CrsStage(load_crs(settings.path), settings)


def crs_version_change(store: Store, checklist: Checklist) -> list[str]:
    """A warning when the CRS version differs from the one the last recorded checklist ran."""
    scenario = checklist.scenario(SCENARIO_ID)
    if scenario is None:
        return []
    row = store.execute("SELECT scenarios FROM checklist_loads ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return []
    before = json.loads(row["scenarios"]).get(SCENARIO_ID)
    if before is None or before["version"] == scenario.version:
        return []
    return [f"OWASP CRS version changed: {before['version']} -> {scenario.version} ({scenario.provenance[0].ref})"]
