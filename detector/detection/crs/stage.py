"""The CRS as a stage before rule matching: each request gets its anomaly score and the CRS
rules it hit as columns, which the `web-crs-inbound` scenario (and any scenario of the
user's) reads like any other field."""

from __future__ import annotations

import json

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


class CrsStage:
    """Compiled once per rule selection; `enrich(frame)` per batch (pure: runs in the
    pipeline's read-ahead thread)."""

    def __init__(self, ruleset: CrsRuleSet, settings: CrsSettings) -> None:
        self.ruleset = ruleset
        self.settings = settings
        self.rules = ruleset.select(settings)
        self.evaluator = CrsEvaluator(self.rules)

    def enrich(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not len(frame):
            return frame
        result = self.evaluator.evaluate(frame)
        return add_columns(frame, result)


def _detail(rule_id: int, msg: str, name: str, value: str) -> str:
    shown = value if len(value) <= _VALUE_CAP else value[:_VALUE_CAP] + "..."
    return f"{rule_id} {msg} [{name}: {shown}]"


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
