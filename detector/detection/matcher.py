"""Evaluate every single-event rule of a checklist over a batch: rule key -> matching rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector.checklist.model import Checklist
from detector.detection.compiler import Expr, FrameView, compile_condition, evaluate
from detector.detection.prefilter import RulePrefilter, rule_needs


@dataclass(frozen=True)
class CompiledRule:
    key: str  # "<scenario>/<rule>"
    scenario_id: str
    name: str
    expr: Expr


class Matcher:
    """Compiled once per checklist; `match(frame)` is vectorized over the batch. Each rule runs
    only on the rows its own prefilter patterns allow (see `prefilter.py`)."""

    def __init__(self, checklist: Checklist) -> None:
        self.rules: list[CompiledRule] = []
        for scenario in checklist.scenarios:
            for rule in scenario.rules:
                exprs = [compile_condition(c.parsed) for c in rule.detection.parsed_condition]
                expr = exprs[0] if len(exprs) == 1 else ("or", exprs)
                self.rules.append(CompiledRule(rule.key(scenario.id), scenario.id, rule.name, expr))
        self.by_key = {rule.key: rule for rule in self.rules}
        self.prefilter = RulePrefilter(rule_needs((r.key, r.expr) for r in self.rules))

    def match(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Row indices (int64, ascending) matched by each rule that matched anything."""
        view = FrameView(frame)
        buckets, unfiltered = self.prefilter.candidates(view)
        hits: dict[str, np.ndarray] = {}
        for key in unfiltered:
            self._evaluate(key, view, None, hits)
        for keys, rows in buckets.items():
            if len(rows):
                whole = len(rows) == view.n
                sub = view if whole else view.subset(rows)
                for key in keys:
                    self._evaluate(key, sub, None if whole else rows, hits)
        return {rule.key: hits[rule.key] for rule in self.rules if rule.key in hits}

    def _evaluate(self, key: str, view: FrameView, rows: np.ndarray | None, hits: dict[str, np.ndarray]) -> None:
        found = np.flatnonzero(evaluate(self.by_key[key].expr, view))
        if len(found):
            hits[key] = found if rows is None else rows[found]
