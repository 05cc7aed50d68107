"""Compile pySigma detections into vectorized boolean masks over the event frame.

pySigma parses the detection (selections, modifiers, condition grammar) into a tree of
AND/OR/NOT over `field = value` leaves; this module is our "backend": each leaf becomes a
pyarrow compute call (RE2 for every pattern, never Python `re` on log content), identical
leaves are evaluated once per batch, and the expensive pattern leaves of a field share one
combined RE2 prefilter so each individual pattern only runs on the few candidate rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from detector.detection.regex import Pattern
from detector.errors import RuleError

KEYWORD_FIELD = "log.original"  # Sigma keyword (field-less) detections search the raw line
#: A view of at least 1/DISTINCT_SHARE of the batch's rows tests distinct values even when the
#: batch's are not encoded yet (encoding a column costs about a fifth of one regex pass over it).
DISTINCT_SHARE = 8


class FrameView:
    """One batch's columns as Arrow arrays, with per-field caches (lower-cased text, numbers,
    distinct values). A subset view (some rows of the batch) takes its columns from the whole
    batch's, lazily, and shares the batch's distinct values: a test is then run once per
    distinct value, not once per row."""

    def __init__(self, frame: pd.DataFrame, parent: FrameView | None = None, rows: np.ndarray | None = None) -> None:
        self.frame = frame
        if parent is not None and parent.parent is not None:  # a subset of a subset: rows of the batch
            parent, rows = parent.parent, parent.rows[rows]  # type: ignore[index]
        self.parent, self.rows = parent, rows  # a view of some rows of `parent` (the whole batch) only
        self.n = len(frame) if rows is None else len(rows)
        self._arrays: dict[str, pa.Array | None] = {}
        self._lower: dict[str, pa.Array] = {}
        self._text: dict[str, pa.Array] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._distinct: dict[tuple[str, bool], tuple[np.ndarray, pa.Array] | None] = {}
        self._present: dict[str, np.ndarray] = {}
        self.masks: dict[Any, np.ndarray] = {}  # leaf key -> mask (shared across rules)
        self.candidates: dict[str, np.ndarray] = {}  # field -> row indices passing the prefilter

    def subset(self, rows: np.ndarray) -> FrameView:
        """A view of `rows` only; its columns are taken from the whole batch's, lazily."""
        return FrameView(self.frame, parent=self, rows=rows)

    def array(self, field: str) -> pa.Array | None:
        if field not in self._arrays:
            if self.parent is not None:
                whole = self.parent.array(field)
                self._arrays[field] = None if whole is None else whole.take(pa.array(self.rows))
            elif field not in self.frame.columns:
                self._arrays[field] = None
            else:
                series = self.frame[field]
                values = series.array
                if hasattr(values, "__arrow_array__"):
                    chunked = values.__arrow_array__()
                else:  # a column that is not Arrow-backed (should not happen, but stay correct)
                    chunked = pa.chunked_array([pa.array(series.astype(object).where(series.notna(), None))])
                self._arrays[field] = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
        return self._arrays[field]

    def text(self, field: str) -> pa.Array | None:
        """The column as strings (integers rendered as decimal text)."""
        if field not in self._text:
            arr = self.array(field)
            if arr is None:
                return None
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
                arr = pc.cast(arr, pa.string())
            self._text[field] = arr
        return self._text[field]

    def distinct(self, field: str, lower: bool) -> tuple[np.ndarray, pa.Array] | None:
        """(per row, the index of its value among the batch's distinct values of the column,
        their count for null; the distinct values, lower-cased if asked). Encoded once per
        batch, subset views included: a test on the field then looks at the few distinct
        values (access logs repeat their paths, agents and referrers) instead of every row."""
        key = (field, lower)
        if key not in self._distinct:
            if self.parent is not None:
                whole = self.parent.distinct(field, lower)
                self._distinct[key] = None if whole is None else (whole[0][self.rows], whole[1])
            elif lower:  # the codes of the cased values, the values lower-cased (some may then repeat)
                cased = self.distinct(field, lower=False)
                self._distinct[key] = None if cased is None else (cased[0], pc.utf8_lower(cased[1]))
            else:
                arr = self.text(field)
                if arr is None:
                    self._distinct[key] = None
                else:
                    encoded = pc.dictionary_encode(arr)
                    index = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)
                    self._distinct[key] = (index, encoded.dictionary)
        return self._distinct[key]

    def has_distinct(self, field: str) -> bool:
        """Whether the batch's distinct values of `field` are known already (no encoding to pay)."""
        view = self.parent if self.parent is not None else self
        return (field, False) in view._distinct

    def present(self, field: str) -> np.ndarray:
        """Indices of the distinct values of `field` (cased) that occur in this view's rows."""
        if field not in self._present:
            index, values = self.distinct(field, lower=False)  # type: ignore[misc]
            seen = np.zeros(len(values) + 1, dtype=bool)
            seen[index] = True
            self._present[field] = np.flatnonzero(seen[:-1])
        return self._present[field]

    def lower(self, field: str) -> pa.Array | None:
        if field not in self._lower:
            arr = self.text(field)
            if arr is None:
                return None
            self._lower[field] = pc.utf8_lower(arr)
        return self._lower[field]

    def numbers(self, field: str) -> np.ndarray | None:
        """The column as float64 with NaN where missing or not a number."""
        if field not in self._numbers:
            arr = self.array(field)
            if arr is None:
                return None
            if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
                values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            else:
                values = pd.to_numeric(pd.Series(arr.to_pandas(types_mapper=pd.ArrowDtype)), errors="coerce")
                values = values.astype("float64").to_numpy(na_value=np.nan)
            self._numbers[field] = np.asarray(values, dtype=np.float64)
        return self._numbers[field]


def _to_bool(result: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    if isinstance(result, np.ndarray):
        return result
    if result.null_count:  # a kernel call of its own: only when there are nulls to fill
        result = pc.fill_null(result, False)
    return np.asarray(result.to_numpy(zero_copy_only=False), dtype=bool)


def _escape(text: str) -> str:
    """Escape a literal for RE2 (builds a pattern string; nothing is matched with Python `re`)."""
    return re.escape(text)


def sigma_string_regex(value: SigmaString) -> str:
    """Anchored RE2 pattern for a Sigma string with `*`/`?` wildcards (which match any
    character, newlines included: `(?s)`)."""
    parts = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        elif isinstance(part, str):
            parts.append(_escape(part))
        else:  # placeholders are not supported in logwarden rules
            raise RuleError(f"unsupported Sigma string element {part!r}")
    return "(?s)^" + "".join(parts) + "$"


@dataclass(frozen=True)
class Leaf:
    """One `field = value` test; `key` identifies identical tests across rules."""

    key: tuple[Any, ...]
    field: str
    evaluate: Callable[[FrameView], np.ndarray]
    pattern: str | None = None  # RE2 pattern usable in the field's combined prefilter
    ignore_case: bool = True
    literal: str | None = None  # text every match contains (the longest plain part of a wildcard value)
    match: Callable[[pa.Array], pa.Array] | None = None  # a pattern test on any array of the field's values
    parts: tuple[Leaf, ...] = ()  # OR-ed pattern tests of one field, searched as one alternation first


def _string_leaf(field: str, value: SigmaString) -> Leaf:
    cased = isinstance(value, SigmaCasedString)
    ignore_case = not cased
    if not value.contains_special():
        # the parts, not to_plain(): to_plain() re-escapes literal `*` and `?` as `\*`, `\?`
        literal = "".join(part for part in value.s if isinstance(part, str))
        # lower-cased like the column (utf8_lower), not with str.lower(), which differs (e.g. "İ")
        needle = literal if cased else pc.utf8_lower(pa.scalar(literal, pa.string())).as_py()

        def equals(view: FrameView) -> np.ndarray:
            distinct = view.distinct(field, lower=not cased)
            if distinct is None:
                return np.zeros(view.n, dtype=bool)
            index, values = distinct
            hit = _to_bool(pc.equal(values, pa.scalar(needle, values.type)))
            return np.append(hit, False)[index]

        return Leaf(key=("eq", field, needle, cased), field=field, evaluate=equals)
    parts = value.s
    inner = parts[1:-1] if len(parts) >= 2 else ()
    simple_inner = len(inner) == 1 and isinstance(inner[0], str)
    multi = SpecialChars.WILDCARD_MULTI
    kind, literal = "regex", None
    if len(parts) == 3 and parts[0] is multi and parts[-1] is multi and simple_inner:
        kind, literal = "contains", inner[0]
    elif len(parts) == 2 and parts[-1] is multi and isinstance(parts[0], str):
        kind, literal = "startswith", parts[0]
    elif len(parts) == 2 and parts[0] is multi and isinstance(parts[1], str):
        kind, literal = "endswith", parts[1]
    pattern = sigma_string_regex(value)
    if kind == "contains":
        prefilter = _escape(literal)  # type: ignore[arg-type]
    elif kind == "startswith":
        prefilter = "^" + _escape(literal)  # type: ignore[arg-type]
    elif kind == "endswith":
        prefilter = _escape(literal) + "$"  # type: ignore[arg-type]
    else:
        prefilter = pattern

    def match(arr: pa.Array) -> pa.Array:
        if kind == "contains":
            return pc.match_substring(arr, literal, ignore_case=ignore_case)
        if kind == "startswith":
            return pc.starts_with(arr, literal, ignore_case=ignore_case)
        if kind == "endswith":
            return pc.ends_with(arr, literal, ignore_case=ignore_case)
        return pc.match_substring_regex(arr, pattern, ignore_case=ignore_case)

    return Leaf(
        key=(kind, field, pattern, cased),
        field=field,
        evaluate=_prefiltered(field, match),
        pattern=prefilter,
        ignore_case=ignore_case,
        literal=max((part for part in parts if isinstance(part, str)), key=len, default=None),
        match=match,
    )


def _prefiltered(field: str, match: Callable[[pa.Array], pa.Array]) -> Callable[[FrameView], np.ndarray]:
    """Run `match` only on the rows of the field's combined prefilter when one was applied
    (`apply_prefilters`), else as `_per_value` does."""
    anywhere = _per_value(field, match)

    def evaluate(view: FrameView) -> np.ndarray:
        candidates = view.candidates.get(field)
        if candidates is None:
            return anywhere(view)
        arr = view.text(field)
        out = np.zeros(view.n, dtype=bool)
        if arr is not None and len(candidates):
            out[candidates] = _to_bool(match(arr.take(pa.array(candidates))))
        return out

    return evaluate


def _per_value(field: str, match: Callable[[pa.Array], pa.Array]) -> Callable[[FrameView], np.ndarray]:
    """Run `match` on the field's distinct values (those of the view's rows), or on the rows."""

    def evaluate(view: FrameView) -> np.ndarray:
        if _by_distinct(view, field):
            return _distinct_mask(view, field, match)
        arr = view.text(field)
        return np.zeros(view.n, dtype=bool) if arr is None else _to_bool(match(arr))

    return evaluate


def _by_distinct(view: FrameView, field: str) -> bool:
    """Test distinct values rather than rows: not on the raw line (every line differs), and
    on a few rows only when the batch's values are encoded already."""
    if field == KEYWORD_FIELD:
        return False
    return view.parent is None or view.has_distinct(field) or view.n * DISTINCT_SHARE >= view.parent.n


def _distinct_mask(view: FrameView, field: str, match: Callable[[pa.Array], pa.Array]) -> np.ndarray:
    """`match` run once per distinct value of the view's rows, its result given back to every row."""
    distinct = view.distinct(field, lower=False)
    if distinct is None:
        return np.zeros(view.n, dtype=bool)
    index, values = distinct
    hit = np.zeros(len(values) + 1, dtype=bool)  # the last slot: null, never a match
    if view.parent is None:
        hit[:-1] = _to_bool(match(values))
    else:
        present = view.present(field)
        if len(present):
            hit[present] = _to_bool(match(values.take(pa.array(present))))
    return hit[index]


def _regex_leaf(field: str, value: SigmaRegularExpression) -> Leaf:
    pattern = value.regexp.to_plain() if hasattr(value.regexp, "to_plain") else str(value.regexp)
    flags = getattr(value, "flags", set()) or set()
    ignore_case = SigmaRegularExpressionFlag.IGNORECASE in flags
    inline = ""
    if SigmaRegularExpressionFlag.MULTILINE in flags:
        inline += "m"
    if SigmaRegularExpressionFlag.DOTALL in flags:
        inline += "s"
    full = f"(?{inline}){pattern}" if inline else pattern

    def match(arr: pa.Array) -> pa.Array:
        return pc.match_substring_regex(arr, full, ignore_case=ignore_case)

    return Leaf(
        key=("re", field, full, ignore_case),
        field=field,
        evaluate=_prefiltered(field, match),
        pattern=full,
        ignore_case=ignore_case,
        match=match,
    )


def _cidr_leaf(field: str, value: SigmaCIDRExpression) -> Leaf:
    prefixes = value.expand(wildcard="*")
    # "10.*" is a prefix; an expansion without the wildcard is one whole address ("10.0.0.1",
    # which must not match 10.0.0.10-19 or 10.0.0.100-199), so it is anchored at the end too.
    alternatives = "|".join(
        _escape(p[:-1]) if p.endswith("*") else _escape(p) + "$" for p in prefixes
    )
    pattern = f"^(?:{alternatives})"
    network = str(value.network)

    def match(arr: pa.Array) -> pa.Array:
        return pc.match_substring_regex(arr, pattern, ignore_case=True)

    return Leaf(key=("cidr", field, network), field=field, evaluate=_per_value(field, match))


_COMPARE = {
    CompareOperators.LT: np.less,
    CompareOperators.LTE: np.less_equal,
    CompareOperators.GT: np.greater,
    CompareOperators.GTE: np.greater_equal,
}


def _compare_leaf(field: str, value: SigmaCompareExpression) -> Leaf:
    number = float(value.number.number)
    op = _COMPARE[value.op]

    def evaluate(view: FrameView) -> np.ndarray:
        values = view.numbers(field)
        if values is None:
            return np.zeros(view.n, dtype=bool)
        with np.errstate(invalid="ignore"):
            return op(values, number) & ~np.isnan(values)

    return Leaf(key=("cmp", field, value.op.name, number), field=field, evaluate=evaluate)


def _number_leaf(field: str, value: SigmaNumber) -> Leaf:
    number = float(value.number)
    text = str(value.number)

    def evaluate(view: FrameView) -> np.ndarray:
        arr = view.array(field)
        if arr is None:
            return np.zeros(view.n, dtype=bool)
        if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
            return view.numbers(field) == number  # type: ignore[operator]
        return _to_bool(pc.equal(view.text(field), pa.scalar(text, view.text(field).type)))  # type: ignore[union-attr]

    return Leaf(key=("num", field, number), field=field, evaluate=evaluate)


def _exists_leaf(field: str, exists: bool) -> Leaf:
    def evaluate(view: FrameView) -> np.ndarray:
        arr = view.array(field)
        present = np.zeros(view.n, dtype=bool) if arr is None else _to_bool(pc.is_valid(arr))
        return present if exists else ~present

    return Leaf(key=("exists", field, exists), field=field, evaluate=evaluate)


def _bool_leaf(field: str, value: SigmaBool) -> Leaf:
    needle = "true" if value.boolean else "false"

    def evaluate(view: FrameView) -> np.ndarray:
        arr = view.lower(field)
        if arr is None:
            return np.zeros(view.n, dtype=bool)
        return _to_bool(pc.equal(arr, pa.scalar(needle, arr.type)))

    return Leaf(key=("bool", field, needle), field=field, evaluate=evaluate)


def _fieldref_leaf(field: str, value: SigmaFieldReference) -> Leaf:
    """`field|fieldref: other`: the two columns hold the same value on the row (compared
    without case, like every Sigma string match; missing on either side is no match)."""
    other = value.field

    def evaluate(view: FrameView) -> np.ndarray:
        left, right = view.lower(field), view.lower(other)
        if left is None or right is None:
            return np.zeros(view.n, dtype=bool)
        return _to_bool(pc.equal(left, right))

    return Leaf(key=("fieldref", field, other), field=field, evaluate=evaluate)


def make_leaf(field: str, value: Any) -> Expr:
    """One test of `field` against a Sigma value; an expansion (base64offset, windash) is
    the OR of its variants."""
    if isinstance(value, SigmaExpansion):
        return ("or", [make_leaf(field, v) for v in value.values])
    if isinstance(value, SigmaFieldReference):
        return _fieldref_leaf(field, value)
    if isinstance(value, SigmaString):
        return _string_leaf(field, value)
    if isinstance(value, SigmaRegularExpression):
        return _regex_leaf(field, value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_leaf(field, value)
    if isinstance(value, SigmaCompareExpression):
        return _compare_leaf(field, value)
    if isinstance(value, SigmaExists):
        return _exists_leaf(field, value.exists)
    if isinstance(value, SigmaNull):
        return _exists_leaf(field, False)
    if isinstance(value, SigmaNumber):
        return _number_leaf(field, value)
    if isinstance(value, SigmaBool):
        return _bool_leaf(field, value)
    raise RuleError(f"field {field!r}: value type {type(value).__name__} is not supported by logwarden")


# An expression is a tree of ("and"|"or", [children]), ("not", child) or a Leaf.
Expr = Any


def compile_condition(node: Any) -> Expr:
    """pySigma parsed condition -> expression tree over Leafs."""
    if isinstance(node, ConditionAND):
        return ("and", [compile_condition(a) for a in node.args])
    if isinstance(node, ConditionOR):
        return ("or", _merge_patterns(_merge_equalities([compile_condition(a) for a in node.args])))
    if isinstance(node, ConditionNOT):
        return ("not", compile_condition(node.args[0]))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return make_leaf(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return make_leaf(KEYWORD_FIELD, _keyword(node.value))
    raise RuleError(f"unsupported condition element {type(node).__name__}")


def _merge_equalities(children: list[Expr]) -> list[Expr]:
    """OR-ed equality tests of one field (a list of user agents, of paths) -> one set
    membership test: one pass over the column instead of one per value."""
    groups: dict[tuple[str, bool], list[Leaf]] = {}
    for child in children:
        if isinstance(child, Leaf) and child.key[0] == "eq":
            groups.setdefault((child.field, child.key[3]), []).append(child)
    merged = {
        (field, cased): _in_leaf(field, [leaf.key[2] for leaf in group], cased)
        for (field, cased), group in groups.items() if len(group) > 2
    }
    out = [
        c for c in children
        if not (isinstance(c, Leaf) and c.key[0] == "eq" and (c.field, c.key[3]) in merged)
    ]
    return out + list(merged.values())


def _merge_patterns(children: list[Expr]) -> list[Expr]:
    """OR-ed pattern tests of one field (a rule's list of `contains` values, its keywords) ->
    one test that searches their alternation first: one pass for the list, not one per value."""
    groups: dict[str, list[Leaf]] = {}
    for child in children:
        if isinstance(child, Leaf) and child.match is not None and child.pattern is not None:
            groups.setdefault(child.field, []).append(child)
    merged = {field: group for field, group in groups.items() if len({leaf.key for leaf in group}) > 1}
    taken = {id(leaf) for group in merged.values() for leaf in group}
    return [c for c in children if id(c) not in taken] + [_any_leaf(field, group) for field, group in merged.items()]


def _any_leaf(field: str, group: list[Leaf]) -> Leaf:
    """True where one of `group`'s tests is. Their alternation (each pattern as the combined
    prefilter writes it: the same text or more), compiled once, screens the values; each test
    then runs only on the values it let through, so the result is exactly the OR of the tests."""
    parts = tuple({leaf.key: leaf for leaf in group}.values())
    screen = Alternation("|".join(f"(?i:{p.pattern})" if p.ignore_case else f"(?:{p.pattern})" for p in parts))

    def one_by_one(arr: pa.Array) -> np.ndarray:
        return np.logical_or.reduce([_to_bool(p.match(arr)) for p in parts])  # type: ignore[misc]

    def match(arr: pa.Array) -> np.ndarray:
        screened = screen.search(arr)
        if screened is None:  # an alternation RE2 cannot compile (too large)
            return one_by_one(arr)
        rows = np.flatnonzero(screened)
        if len(rows):
            screened[rows] = one_by_one(arr.take(pa.array(rows)))
        return screened

    return Leaf(key=("any", field, tuple(p.key for p in parts)), field=field, evaluate=_prefiltered(field, match),
                match=match, parts=parts)


class Alternation:
    """An RE2 pattern compiled on first use and kept, with its lazily built automaton, across
    batches (pyarrow's kernel compiles its pattern at every call: for an alternation of
    hundreds of patterns over a few thousand distinct values that is most of the cost)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: Pattern | None = None
        self.ok = True

    def search(self, arr: pa.Array) -> np.ndarray | None:
        """Mask of the values the pattern matches somewhere (nulls: no); None if RE2 cannot
        compile it."""
        if self._compiled is None and self.ok:
            self._compiled = Pattern(self.pattern)
            self.ok = self._compiled.exact is not None
        if not self.ok:
            return None
        found = self._compiled.search(arr)  # type: ignore[union-attr]
        if arr.null_count:
            found &= _to_bool(pc.is_valid(arr))
        return found


def _in_leaf(field: str, needles: list[str], cased: bool) -> Leaf:
    values = pa.array(sorted(set(needles)), pa.string())

    def evaluate(view: FrameView) -> np.ndarray:
        distinct = view.distinct(field, lower=not cased)
        if distinct is None:
            return np.zeros(view.n, dtype=bool)
        index, column = distinct
        hit = _to_bool(pc.is_in(column, value_set=values.cast(column.type)))
        return np.append(hit, False)[index]

    return Leaf(key=("in", field, tuple(values.to_pylist()), cased), field=field, evaluate=evaluate)


def _keyword(value: Any) -> Any:
    """A keyword is searched anywhere in the raw line: `*value*`, built from the parsed parts
    so escaped wildcards and backslashes stay as written; numbers are searched as text."""
    if isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if isinstance(value, SigmaExpansion):
        return SigmaExpansion([_keyword(v) for v in value.values])
    if not isinstance(value, SigmaString):
        return value
    if not value.startswith(SpecialChars.WILDCARD_MULTI):
        value = SpecialChars.WILDCARD_MULTI + value
    if not value.endswith(SpecialChars.WILDCARD_MULTI):
        value = value + SpecialChars.WILDCARD_MULTI
    return value


def leaves(expr: Expr) -> Iterable[Leaf]:
    """The tests of an expression (those of a merged OR one by one)."""
    if isinstance(expr, Leaf):
        if expr.parts:
            yield from expr.parts
        else:
            yield expr
    elif expr[0] == "not":
        yield from leaves(expr[1])
    else:
        for child in expr[1]:
            yield from leaves(child)


def evaluate(expr: Expr, view: FrameView) -> np.ndarray:
    """Boolean mask of the expression; leaf masks are shared through `view.masks`."""
    if isinstance(expr, Leaf):
        mask = view.masks.get(expr.key)
        if mask is None:
            mask = expr.evaluate(view)
            view.masks[expr.key] = mask
        return mask
    op = expr[0]
    if op == "not":
        return ~evaluate(expr[1], view)
    masks = [evaluate(child, view) for child in expr[1]]
    if op == "and":
        return np.logical_and.reduce(masks) if masks else np.ones(view.n, dtype=bool)
    return np.logical_or.reduce(masks) if masks else np.zeros(view.n, dtype=bool)


def combined_prefilters(all_leaves: Iterable[Leaf], minimum: int = 2) -> dict[str, str]:
    """Per field, one RE2 alternation of every pattern leaf on it (when there are enough)."""
    by_field: dict[str, dict[str, None]] = {}
    for leaf in all_leaves:
        if leaf.pattern is None:
            continue
        wrapped = f"(?i:{leaf.pattern})" if leaf.ignore_case else f"(?:{leaf.pattern})"
        by_field.setdefault(leaf.field, {})[wrapped] = None
    return {field: "|".join(p) for field, p in by_field.items() if len(p) >= minimum}


def apply_prefilters(view: FrameView, prefilters: dict[str, str]) -> None:
    for field, pattern in prefilters.items():
        arr = view.text(field)
        if arr is None:
            continue
        view.candidates[field] = np.flatnonzero(_to_bool(pc.match_substring_regex(arr, pattern)))
