"""Run the selected CRS rules over a batch of requests: anomaly score per request.

The first condition of every rule is decided per distinct value of each variable, once per
value across batches (screen.py): values seen before are looked up, new ones go through the
transformation chains (each prefix computed once, only on the values a transformation can
change) and, per condition, through its pattern only if they hold the characters it needs.
A chain's later rules run only on the requests (or, for MATCHED_VARS / TX:n, the values)
that passed the rules before them. Patterns are RE2 programs compiled once (regex.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.checklist.crs.model import Condition, CrsRule, Variable
from detector.detection.crs.operators import Operator, capture_pattern, compile_operator
from detector.detection.crs.screen import Screen
from detector.detection.crs.sources import RequestView, Source, key_filter, source_parts
from detector.detection.crs.transforms import TRANSFORMS
from detector.parsing.arrowtext import mask_of

_EMPTY_ROWS = np.zeros(0, dtype=np.int64)
#: Verdicts remembered per variable (two generations of this many distinct values each).
VERDICTS_PER_VARIABLE = 4_000


@dataclass
class Hits:
    """Values that satisfied a condition: the row of each, its (transformed) value, the
    variable it came from, and capture groups when the rule captures."""

    rows: np.ndarray
    values: pa.Array
    names: list[str]
    captures: dict[int, pa.Array] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> "Hits":
        return cls(_EMPTY_ROWS, pa.array([], pa.string()), [])


@dataclass(frozen=True)
class RuleHit:
    rule: CrsRule
    rows: np.ndarray  # distinct rows, ascending
    names: list[str]  # per row: the variable that matched first
    values: list[str]  # per row: the matched (transformed) value


@dataclass(frozen=True)
class CrsResult:
    scores: np.ndarray  # per frame row; -1 where the row is not a request
    hits: list[RuleHit]


def _transform(values: pa.Array, chain: tuple[str, ...]) -> pa.Array:
    for name in chain:
        values = TRANSFORMS[name](values)
    return values


class CompiledCondition:
    def __init__(self, cond: Condition, needs_capture: bool) -> None:
        self.cond = cond
        self.op: Operator = compile_operator(cond)
        self.needs = self.op.needs
        self.negated = cond.negated
        excluded: dict[str, list[Variable | None]] = {}
        for ex in cond.exclusions:
            for source, key in source_parts(ex):
                excluded.setdefault(source, []).append(key)
        self.parts: list[tuple[str, Variable | None, list[Variable]]] = []
        self.counts: list[Variable] = []
        self.matched = False
        self.tx: list[int] = []
        for var in cond.variables:
            if var.count:
                self.counts.append(var)
            elif var.name in ("MATCHED_VAR", "MATCHED_VARS"):
                self.matched = True
            elif var.name == "TX":
                self.tx.append(int(var.key or 0))
            else:
                for source, key in source_parts(var):
                    drops = excluded.get(source, [])
                    if None in drops:
                        continue  # the whole source is excluded (`!REQUEST_HEADERS:User-Agent`)
                    self.parts.append((source, key, [d for d in drops if d is not None]))
        # TX:0..9 are set only by a rule with the `capture` action; one without leaves them as
        # they were (932205: `TX:1 @rx /` then `TX:1 @rx \s` both read the second rule's TX:1)
        wanted = needs_capture and cond.capture and cond.operator == "rx"
        self.capture = capture_pattern(cond.argument) if wanted else None

    def stages(self) -> list[tuple[str, ...]]:
        chain = self.cond.transforms
        return [chain[:i] for i in range(len(chain) + 1)] if self.cond.multi_match else [chain]

    def run(self, values: pa.Array) -> np.ndarray:
        """The operator, not negated."""
        return self.op.match(values)

    def test(self, values: pa.Array) -> np.ndarray:
        hit = self.op.match(values)
        return ~hit if self.cond.negated else hit


class CompiledRule:
    def __init__(self, rule: CrsRule) -> None:
        self.rule = rule
        reads_tx = [any(v.name == "TX" for v in c.variables) for c in rule.conditions]
        self.conditions = [
            CompiledCondition(c, needs_capture=any(reads_tx[i + 1 :])) for i, c in enumerate(rule.conditions)
        ]


class CrsEvaluator:
    """Compiled once per rule selection; `evaluate(frame)` per batch. Keeps the verdicts of the
    values it has seen (bounded), so reuse one evaluator across the batches of a run."""

    def __init__(self, rules: tuple[CrsRule, ...], verdicts_per_variable: int = VERDICTS_PER_VARIABLE) -> None:
        self.rules = [CompiledRule(r) for r in rules]
        readers: dict[str, list[tuple[int, CompiledCondition]]] = {}
        for index, compiled in enumerate(self.rules):
            first = compiled.conditions[0]
            for source in dict.fromkeys(source for source, _, _ in first.parts):
                readers.setdefault(source, []).append((index, first))
        self.screen = Screen(readers, verdicts_per_variable)

    def evaluate(self, frame: pd.DataFrame) -> CrsResult:
        run = _Run(self, RequestView(frame))
        scores = np.full(len(frame), -1, dtype=np.int64)
        scores[run.view.rows] = 0
        hits: list[RuleHit] = []
        for index, compiled in enumerate(self.rules):
            found = run.rule(index, compiled)
            if found is not None:
                hits.append(found)
                scores[found.rows] += compiled.rule.score
        return CrsResult(scores, hits)


class _Run:
    """One batch: the request view, its transformed values and prefilter candidates."""

    def __init__(self, evaluator: CrsEvaluator, view: RequestView) -> None:
        self.evaluator = evaluator
        self.view = view
        self.firsts: dict[str, dict[int, np.ndarray]] = {}  # source -> rule -> distinct values hit

    def first_hits(self, source: Source) -> dict[int, np.ndarray]:
        """Per rule, which distinct values of `source` satisfy its first condition (all the
        variables first conditions read are screened together, at the first call)."""
        if not self.firsts:
            screen = self.evaluator.screen
            present = {name: self.view.source(name) for name in screen.sources}
            values = {name: s.values for name, s in present.items() if s is not None and len(s)}
            for name, verdicts in screen.verdicts(values).items():
                found: dict[int, np.ndarray] = {}
                for i, verdict in enumerate(verdicts):
                    for rule in verdict:
                        found.setdefault(rule, np.zeros(len(verdicts), dtype=bool))[i] = True
                self.firsts[name] = found
        return self.firsts.get(source.name, {})

    def rule(self, index: int, compiled: CompiledRule) -> RuleHit | None:
        hits: Hits | None = None
        first: Hits | None = None
        for position, cond in enumerate(compiled.conditions):
            allowed = None
            if hits is not None:
                allowed = np.zeros(self.view.n, dtype=bool)
                allowed[hits.rows] = True
            hits = self.condition(cond, allowed, hits, index if position == 0 else None)
            if not len(hits.rows):
                return None
            if first is None:
                first = hits
        assert hits is not None and first is not None
        rows = np.unique(hits.rows)
        # the evidence: the first value of the chain's first rule that matched in each row
        keep = np.isin(first.rows, rows)
        first_rows = first.rows[keep]
        order = np.argsort(first_rows, kind="stable")
        picked_rows, index = np.unique(first_rows[order], return_index=True)
        chosen = np.flatnonzero(keep)[order[index]]
        names = [first.names[i] for i in chosen.tolist()]
        values = first.values.take(pa.array(chosen)).to_pylist()
        lookup = dict(zip(picked_rows.tolist(), zip(names, values)))
        ordered = [lookup.get(r, ("", "")) for r in rows.tolist()]
        return RuleHit(compiled.rule, rows, [n for n, _ in ordered], [v or "" for _, v in ordered])

    def condition(self, cond: CompiledCondition, allowed: np.ndarray | None, previous: Hits | None,
                  first: int | None) -> Hits:  # fmt: skip
        """`first`: the rule's index when `cond` is its first condition (decided by the screen)."""
        pieces: list[Hits] = []
        for source, key, drops in cond.parts:
            piece = self.part(cond, source, key, drops, allowed, first)
            if len(piece.rows):
                pieces.append(piece)
        if cond.matched and previous is not None and len(previous.rows):
            values = _transform(previous.values, cond.cond.transforms)
            pieces.append(_select(previous, cond.test(values), values))
        for group in cond.tx:
            if previous is not None and group in previous.captures:
                values = previous.captures[group]
                present = mask_of(pc.is_valid(values))
                values = _transform(pc.fill_null(values, ""), cond.cond.transforms)
                pieces.append(_select(previous, cond.test(values) & present, values))
        for var in cond.counts:
            counts = self.view.count(var)
            if counts is None:
                continue
            ok = cond.test(pa.array(counts.astype(str))) & (counts >= 0)
            if allowed is not None:
                ok &= allowed
            rows = np.flatnonzero(ok)
            pieces.append(Hits(rows, pa.array(counts[rows].astype(str)), ["&" + var.name] * len(rows)))
        hits = _concat(pieces)
        if cond.capture is not None and len(hits.rows):
            found = pc.extract_regex(hits.values, cond.capture)
            hits.captures = {int(f.name[1:]): found.field(f.name) for f in found.type}
        return hits

    def part(self, cond: CompiledCondition, name: str, key: Variable | None, drops: list[Variable],
             allowed: np.ndarray | None, first: int | None) -> Hits:  # fmt: skip
        source = self.view.source(name)
        if source is None or not len(source):
            return Hits.empty()
        selected = None if key is None else key_filter(source, key)
        for drop in drops:
            keep = ~key_filter(source, drop)
            selected = keep if selected is None else selected & keep
        if allowed is not None:
            inside = allowed[source.rows]
            selected = inside if selected is None else selected & inside
        if first is not None:
            return self._screened(cond, source, first, selected)
        if selected is None:
            selected = np.ones(len(source), dtype=bool)
        return self._subset(cond, source, np.flatnonzero(selected))

    def _screened(self, cond: CompiledCondition, source: Source, rule: int, selected: np.ndarray | None) -> Hits:
        """A first condition: the screen's verdicts per distinct value, then the elements (keys)."""
        distinct = self.first_hits(source).get(rule)
        if distinct is None:
            return Hits.empty()
        hit = distinct[source.codes]
        if selected is not None:
            hit &= selected
        elements = np.flatnonzero(hit)
        if not len(elements):
            return Hits.empty()
        codes, inverse = np.unique(source.codes[elements], return_inverse=True)
        final = _transform(source.values.take(pa.array(codes)), cond.cond.transforms)
        return Hits(source.rows[elements], final.take(pa.array(inverse.reshape(-1))), _names(source, elements))

    def _subset(self, cond: CompiledCondition, source: Source, elements: np.ndarray) -> Hits:
        if not len(elements):
            return Hits.empty()
        codes, inverse = np.unique(source.codes[elements], return_inverse=True)
        distinct = np.zeros(len(codes), dtype=bool)
        values = source.values.take(pa.array(codes))
        chain = cond.cond.transforms
        for stage in cond.stages():
            values = _transform(source.values.take(pa.array(codes)), stage)
            distinct |= cond.test(values)
        hit = distinct[inverse.reshape(-1)]
        chosen = elements[hit]
        final = values if cond.stages()[-1] == chain else _transform(source.values.take(pa.array(codes)), chain)
        return Hits(source.rows[chosen], final.take(pa.array(inverse.reshape(-1)[hit])), _names(source, chosen))


def _names(source: Source, elements: np.ndarray) -> list[str]:
    label = {"COOKIES": "REQUEST_COOKIES", "COOKIE_NAMES": "REQUEST_COOKIES_NAMES"}.get(source.name, source.name)
    if label.startswith("header:"):
        return [f"REQUEST_HEADERS:{label[len('header:'):]}"] * len(elements)
    if source.keys is None or label == "ARGS_NAMES":
        return [label] * len(elements)
    keys = source.keys.take(pa.array(elements)).to_pylist()
    return [f"{label}:{k}" for k in keys]


def _select(previous: Hits, mask: np.ndarray, values: pa.Array) -> Hits:
    index = np.flatnonzero(mask)
    return Hits(
        previous.rows[index],
        values.take(pa.array(index)),
        [previous.names[i] for i in index.tolist()],
        {g: arr.take(pa.array(index)) for g, arr in previous.captures.items()},
    )


def _concat(pieces: list[Hits]) -> Hits:
    if not pieces:
        return Hits.empty()
    if len(pieces) == 1:
        return pieces[0]
    return Hits(
        np.concatenate([p.rows for p in pieces]),
        pa.concat_arrays([p.values.cast(pa.string()) for p in pieces]),
        [n for p in pieces for n in p.names],
    )
