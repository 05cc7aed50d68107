"""Evaluate every single-event rule of a checklist over a batch: rule key -> matching rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector.checklist.model import Checklist
from detector.detection.compiler import (
    Expr,
    FrameView,
    apply_prefilters,
    combined_prefilters,
    compile_condition,
    evaluate,
    leaves,
)


@dataclass(frozen=True)
class CompiledRule:
    key: str  # "<scenario>/<rule>"
    scenario_id: str
    name: str
    expr: Expr


class Matcher:
    """Compiled once per checklist; `match(frame)` is vectorized over the batch."""

    def __init__(self, checklist: Checklist) -> None:
        self.rules: list[CompiledRule] = []
        for scenario in checklist.scenarios:
            for rule in scenario.rules:
                exprs = [compile_condition(c.parsed) for c in rule.detection.parsed_condition]
                expr = exprs[0] if len(exprs) == 1 else ("or", exprs)
                self.rules.append(CompiledRule(rule.key(scenario.id), scenario.id, rule.name, expr))
        self.prefilters = combined_prefilters(leaf for r in self.rules for leaf in leaves(r.expr))

    def match(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Row indices (int64, ascending) matched by each rule that matched anything."""
        view = FrameView(frame)
        apply_prefilters(view, self.prefilters)
        hits: dict[str, np.ndarray] = {}
        for rule in self.rules:
            rows = np.flatnonzero(evaluate(rule.expr, view))
            if len(rows):
                hits[rule.key] = rows
        return hits
