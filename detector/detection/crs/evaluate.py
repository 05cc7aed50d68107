"""Run the selected CRS rules over a batch of requests: anomaly score per request.

The first condition of every rule is decided per distinct value of each variable, once per
value across batches (screen.py): values seen before are looked up, new ones go through the
transformation chains (each prefix computed once, only on the values a transformation can
change) and, per condition, through its pattern only if they hold the characters it needs.
A chain's later rules run only on the requests (or, for MATCHED_VARS, the values) that
passed the rules before them. Patterns are RE2 programs compiled once (regex.py).

Captures (TX:0..9) are ModSecurity's: only a rule with the `capture` action sets them, every
value it matches overwrites them (so a later rule of the chain sees those of the last value
that matched, in target order), a group a match leaves empty keeps its earlier value, and they
are kept per request (`TxState`); a later rule reads them as a target (`TX:1`) or in its
operator argument (`@streq %{TX.2}`, compared request by request). They never pass from one
rule to another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.checklist.crs.model import Condition, CrsRule, Variable
from detector.detection.crs.operators import Operator, capture_pattern, compile_operator, compile_row_operator
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
    variable it came from, and (for a capturing multiMatch rule) the value before the
    transformations."""

    rows: np.ndarray
    values: pa.Array
    names: list[str]
    raw: pa.Array | None = None

    @classmethod
    def empty(cls) -> "Hits":
        """One shared instance (never modified): most rules find nothing in most sources."""
        return _NO_HITS


_NO_HITS = Hits(_EMPTY_ROWS, pa.array([], pa.string()), [])


def _taken(values: pa.Array, index: np.ndarray) -> pa.Array:
    """values[index], null where index < 0."""
    return values.take(pa.array(index, pa.int64(), mask=index < 0))


@dataclass(frozen=True)
class TxState:
    """TX:0..9 of the requests a chain has reached: per request (`rows`, ascending), each group's
    value (null where the request has none)."""

    rows: np.ndarray
    groups: dict[int, pa.Array]

    def index(self, rows: np.ndarray) -> np.ndarray:
        """Position of each row in `self.rows`, -1 where it has no captures."""
        at = np.searchsorted(self.rows, rows)
        inside = at < len(self.rows)
        found = np.zeros(len(rows), dtype=bool)
        found[inside] = self.rows[at[inside]] == rows[inside]
        return np.where(found, at, -1)

    def group(self, group: int, rows: np.ndarray) -> pa.Array:
        if group not in self.groups:
            return pa.nulls(len(rows), pa.string())
        return _taken(self.groups[group], self.index(rows))

    def argument(self, template: tuple[str | int, ...], rows: np.ndarray) -> pa.Array:
        """The operator argument of each row: the template with its macros expanded (a capture the
        request does not have expands to the empty string, as in ModSecurity)."""
        parts = [pc.fill_null(self.group(p, rows), "") if isinstance(p, int) else pa.scalar(p, pa.string()) for p in template]
        if len(parts) == 1:
            return parts[0] if isinstance(parts[0], pa.Array) else pa.array([template[0]] * len(rows), pa.string())
        return pc.binary_join_element_wise(*parts, pa.scalar("", pa.string()))

    @staticmethod
    def after(before: "TxState | None", rows: np.ndarray, captures: dict[int, pa.Array]) -> "TxState":
        """The state once a capturing rule matched these values (`rows` and `captures` aligned,
        in evaluation order): per request, each group of the last value that set it."""
        distinct = np.unique(rows)
        groups: dict[int, pa.Array] = {}
        for group, values in captures.items():
            valid = np.flatnonzero(mask_of(pc.is_valid(values)))
            index = np.full(len(distinct), -1, dtype=np.int64)
            if len(valid):
                backwards = rows[valid][::-1]
                seen, first = np.unique(backwards, return_index=True)
                index[np.searchsorted(distinct, seen)] = valid[::-1][first]
            value = _taken(values, index)
            if before is not None and group in before.groups:
                value = pc.coalesce(value, before.group(group, distinct))
            groups[group] = value
        if before is not None:
            for group in before.groups:
                groups.setdefault(group, before.group(group, distinct))
        return TxState(distinct, groups)


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
        self.template = cond.template
        # an argument expanded per request (`%{TX.2}`) is compared value by value; never a first
        # condition (the loader requires a capturing rule before it), so never screened
        self.row_op = compile_row_operator(cond) if cond.template else None
        self.op: Operator = Operator(lambda values: np.zeros(len(values), dtype=bool)) if cond.template else compile_operator(cond)
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

    def test_rows(self, values: pa.Array, rows: np.ndarray, tx: TxState | None) -> np.ndarray:
        """`test`, with the argument expanded for each value's request when it has macros."""
        if self.row_op is None:
            return self.test(values)
        if tx is None:
            tx = TxState(np.zeros(0, dtype=np.int64), {})
        hit = self.row_op(values, tx.argument(self.template, rows))
        return ~hit if self.cond.negated else hit


class CompiledRule:
    def __init__(self, rule: CrsRule) -> None:
        self.rule = rule
        reads_tx = [any(v.name == "TX" for v in c.variables) or bool(c.template) for c in rule.conditions]
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
            for name, ids in screen.verdicts(values).items():
                self.firsts[name] = screen.masks(ids)
        return self.firsts.get(source.name, {})

    def rule(self, index: int, compiled: CompiledRule) -> RuleHit | None:
        hits: Hits | None = None
        first: Hits | None = None
        tx: TxState | None = None
        for position, cond in enumerate(compiled.conditions):
            allowed = None
            if hits is not None:
                allowed = np.zeros(self.view.n, dtype=bool)
                allowed[hits.rows] = True
            hits, tx = self.condition(cond, allowed, hits, tx, index if position == 0 else None)
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
                  tx: TxState | None, first: int | None) -> tuple[Hits, TxState | None]:  # fmt: skip
        """`first`: the rule's index when `cond` is its first condition (decided by the screen).
        Returns the values that satisfied it and the captures after it."""
        pieces: list[Hits] = []
        for source, key, drops in cond.parts:
            piece = self.part(cond, source, key, drops, allowed, tx, first)
            if len(piece.rows):
                pieces.append(piece)
        if cond.matched and previous is not None and len(previous.rows):
            values = _transform(previous.values, cond.cond.transforms)
            pieces.append(_select(previous, cond.test_rows(values, previous.rows, tx), values))
        for group in cond.tx:
            if tx is None or group not in tx.groups or previous is None:
                continue
            rows = np.unique(previous.rows)  # TX:n is one value per request
            values = tx.group(group, rows)
            present = mask_of(pc.is_valid(values))
            values = _transform(pc.fill_null(values, ""), cond.cond.transforms)
            keep = np.flatnonzero(cond.test_rows(values, rows, tx) & present)
            pieces.append(Hits(rows[keep], values.take(pa.array(keep)), [f"TX:{group}"] * len(keep)))
        for var in cond.counts:
            counts = self.view.count(var)
            if counts is None:
                continue
            texts = pa.array(counts.astype(str))
            ok = cond.test_rows(texts, np.arange(self.view.n), tx) & (counts >= 0)
            if allowed is not None:
                ok &= allowed
            rows = np.flatnonzero(ok)
            pieces.append(Hits(rows, pa.array(counts[rows].astype(str)), ["&" + var.name] * len(rows)))
        hits = _concat(pieces)
        if cond.capture is not None and len(hits.rows):
            tx = TxState.after(tx, hits.rows, self._captures(cond, pieces))
        return hits, tx

    @staticmethod
    def _captures(cond: CompiledCondition, pieces: list[Hits]) -> dict[int, pa.Array]:
        """TX:0..9 that each matched value sets (aligned with the pieces' values in order; null
        where the capture pattern does not match it). A multiMatch rule's value matched at one
        stage at least: the last stage that matches sets them, as ModSecurity runs the stages
        in order."""
        found: dict[int, list[pa.Array]] = {}
        stages = cond.stages()
        # one extraction over every piece's values: pyarrow compiles the pattern at each call
        every = _extract(pa.concat_arrays([p.values.cast(pa.string()) for p in pieces]), cond.capture)  # type: ignore[arg-type]
        start = 0
        for piece in pieces:
            groups = {g: v.slice(start, len(piece.values)) for g, v in every.items()}
            start += len(piece.values)
            if len(stages) > 1 and piece.raw is not None:
                for stage in reversed(stages[:-1]):
                    missing = np.flatnonzero(~mask_of(pc.is_valid(groups[0])))
                    if not len(missing):
                        break
                    earlier = _extract(_transform(piece.raw.take(pa.array(missing)), stage), cond.capture)  # type: ignore[arg-type]
                    spread = np.full(len(piece.values), -1, dtype=np.int64)
                    spread[missing] = np.arange(len(missing))
                    groups = {g: pc.coalesce(v, _taken(earlier[g], spread)) for g, v in groups.items()}
            for group, values in groups.items():
                found.setdefault(group, []).append(values)
        return {group: pa.concat_arrays(parts) for group, parts in found.items()}

    def part(self, cond: CompiledCondition, name: str, key: Variable | None, drops: list[Variable],
             allowed: np.ndarray | None, tx: TxState | None, first: int | None) -> Hits:  # fmt: skip
        source = self.view.source(name)
        if source is None or not len(source):
            return Hits.empty()
        if first is not None and first not in self.first_hits(source):
            return Hits.empty()  # no value satisfies it: skip the key selection (a kernel per key)
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
        if cond.template:
            return self._per_request(cond, source, np.flatnonzero(selected), tx)
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
        distinct = source.values.take(pa.array(codes))
        final = _transform(distinct, cond.cond.transforms)
        spread = pa.array(inverse.reshape(-1))
        raw = distinct.take(spread) if cond.capture is not None and cond.cond.multi_match else None
        return Hits(source.rows[elements], final.take(spread), _names(source, elements), raw)

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
        spread = pa.array(inverse.reshape(-1)[hit])
        raw = source.values.take(pa.array(codes)).take(spread) if cond.capture is not None and cond.cond.multi_match else None
        return Hits(source.rows[chosen], final.take(spread), _names(source, chosen), raw)

    def _per_request(self, cond: CompiledCondition, source: Source, elements: np.ndarray, tx: TxState | None) -> Hits:
        """A condition whose argument differs per request (`%{TX.2}`): transformations per
        distinct value, the comparison per element against its request's argument."""
        if not len(elements):
            return Hits.empty()
        codes, inverse = np.unique(source.codes[elements], return_inverse=True)
        spread = pa.array(inverse.reshape(-1))
        distinct = source.values.take(pa.array(codes))
        rows = source.rows[elements]
        hit = np.zeros(len(elements), dtype=bool)
        values = distinct
        for stage in cond.stages():
            values = _transform(distinct, stage)
            hit |= cond.test_rows(values.take(spread), rows, tx)
        if cond.stages()[-1] != cond.cond.transforms:
            values = _transform(distinct, cond.cond.transforms)
        chosen = np.flatnonzero(hit)
        return Hits(rows[chosen], values.take(spread).take(pa.array(chosen)), _names(source, elements[chosen]))


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
    return Hits(previous.rows[index], values.take(pa.array(index)), [previous.names[i] for i in index.tolist()])


def _extract(values: pa.Array, pattern: str) -> dict[int, pa.Array]:
    """Capture groups g0.. of `pattern` in each value; null where it does not match. (A group
    that takes no part in a match reads as empty: Arrow does not tell the two apart.)"""
    found = pc.extract_regex(values, pattern)
    return {int(f.name[1:]): pc.struct_field(found, [i]) for i, f in enumerate(found.type)}


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
