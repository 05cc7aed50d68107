"""CRS operators over Arrow string arrays: each returns a numpy mask. Pattern operators run on
RE2 programs compiled once (regex.py); each operator also says which characters a value must
hold to possibly match (charsets.py), so most values never reach a pattern at all."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.checklist.crs.model import Condition
from detector.detection.crs.charsets import Terms, phrase_requirement, requirement
from detector.detection.regex import Pattern
from detector.parsing.arrowtext import mask_of

Match = Callable[[pa.Array], np.ndarray]


_ANYTHING: Terms = frozenset({0})


@dataclass(frozen=True)
class Operator:
    match: Match  # the operator itself, not negated
    needs: Terms = _ANYTHING  # kinds of characters a matching value holds (one term of them)


def rx_pattern(argument: str) -> str:
    """ModSecurity compiles with PCRE_DOTALL and PCRE_DOLLAR_ENDONLY; RE2's `$` is end-only."""
    return "(?s)" + argument


def phrase_pattern(phrases: tuple[str, ...]) -> str:
    """@pm: any phrase, case-insensitive (ModSecurity's Aho-Corasick), as one RE2 alternation."""
    return "(?i)(?:" + "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True)) + ")"


def _regex(pattern: str) -> Operator:
    return Operator(Pattern(pattern).search, requirement(pattern))


def _numbers(values: pa.Array) -> np.ndarray:
    """ModSecurity's atoi: a leading integer, 0 when there is none."""
    found = pc.extract_regex(values, r"^\s*(?P<n>[-+]?[0-9]{1,18})")
    numbers = pc.cast(pc.struct_field(found, [0]), pa.int64(), safe=False)
    return np.asarray(pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _compare(op: str, number: int) -> Match:
    fn = {"eq": np.equal, "ge": np.greater_equal, "gt": np.greater, "le": np.less_equal, "lt": np.less}[op]
    return lambda values: fn(_numbers(values), number)


def _byte_class(ranges: str) -> str:
    """`1-255` / `9,10,13,32-126` -> an RE2 class of the bytes *outside* the allowed ranges."""
    allowed = []
    for part in ranges.replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        allowed.append((int(low), int(high or low)))
    inside = "".join(f"\\x{{{a:02x}}}-\\x{{{b:02x}}}" for a, b in allowed)
    return f"[^{inside}]"


def _byte_range(ranges: str) -> Match:
    pattern = _byte_class(ranges)

    def match(values: pa.Array) -> np.ndarray:
        # over the UTF-8 bytes (binary, one character per byte), as ModSecurity sees the input
        return mask_of(pc.match_substring_regex(values.cast(pa.binary()), pattern))

    return match


def _within(argument: str) -> Match:
    def match(values: pa.Array) -> np.ndarray:
        # the operator's inputs here are distinct values of low-cardinality variables (methods,
        # protocols), so the test runs once per distinct value
        return np.array([v is not None and v in argument for v in values.to_pylist()], dtype=bool)

    return match


def compile_operator(cond: Condition) -> Operator:
    op, arg = cond.operator, cond.argument
    if op == "rx":
        return _regex(rx_pattern(arg))
    if op in ("pm", "pmFromFile"):
        if not cond.phrases:
            return Operator(lambda values: np.zeros(len(values), dtype=bool))
        return Operator(Pattern(phrase_pattern(cond.phrases)).search, phrase_requirement(cond.phrases))
    literal = phrase_requirement((arg,))
    if op == "contains":
        return Operator(lambda values: mask_of(pc.match_substring(values, arg)), literal)
    if op == "containsWord":
        return Operator(_regex(r"(?:^|[^0-9A-Za-z_])" + re.escape(arg) + r"(?:[^0-9A-Za-z_]|$)").match, literal)
    if op == "beginsWith":
        return Operator(lambda values: mask_of(pc.starts_with(values, arg)), literal)
    if op == "endsWith":
        return Operator(lambda values: mask_of(pc.ends_with(values, arg)), literal)
    if op == "streq":
        return Operator(lambda values: mask_of(pc.equal(values, arg)), literal)
    if op == "within":
        return Operator(_within(arg))
    if op in ("eq", "ge", "gt", "le", "lt"):
        return Operator(_compare(op, int(arg)))
    if op == "validateByteRange":
        return Operator(_byte_range(arg))
    if op == "validateUrlEncoding":
        return _regex(r"(?s)%(?:$|.$|[^0-9A-Fa-f]|.[^0-9A-Fa-f])")
    if op == "unconditionalMatch":
        return Operator(lambda values: np.ones(len(values), dtype=bool))
    raise ValueError(f"operator @{op} has no implementation")  # the loader only keeps the above


_GROUP = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]|\(\?P?<(?P<named>[A-Za-z_][A-Za-z0-9_]*)>|\((?P<open>\?)?", re.S)


def capture_pattern(argument: str) -> str:
    """The rx pattern with its capturing groups named g1, g2, ... and the whole match g0, so
    `extract_regex` yields ModSecurity's TX:0..TX:9 (pattern text only: no log content)."""
    out, position, number = [], 0, 0
    for match in _GROUP.finditer(argument):
        token = match.group(0)
        if token.startswith("(") and (match.group("named") or match.group("open") is None):
            number += 1
            out.append(argument[position : match.start()] + f"(?P<g{number}>")
            position = match.end()
    out.append(argument[position:])
    return "(?s)(?P<g0>" + "".join(out) + ")"


RowMatch = Callable[[pa.Array, pa.Array], np.ndarray]


def _texts(values: pa.Array) -> np.ndarray:
    """Arrow strings as a numpy string array (nulls as ""), for numpy's element-wise string kernels."""
    filled = pc.fill_null(values.cast(pa.string()), "")
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.dtypes.StringDType())


def compile_row_operator(cond: Condition) -> RowMatch:
    """The operator of a condition whose argument is expanded per request (`@streq %{TX.2}`):
    `match(values, arguments)` compares element by element (arrow / numpy kernels, no Python
    loop per value), not negated. ModSecurity's semantics: an empty argument is contained in,
    begins and ends every value; `@within` holds for an empty value; numbers as atoi reads them."""
    op = cond.operator
    if op == "streq":
        return lambda values, args: mask_of(pc.equal(pc.fill_null(values, ""), pc.fill_null(args, "")))
    if op == "contains":
        return lambda values, args: np.strings.find(_texts(values), _texts(args)) >= 0
    if op == "within":
        return lambda values, args: np.strings.find(_texts(args), _texts(values)) >= 0
    if op == "beginsWith":
        return lambda values, args: np.asarray(np.strings.startswith(_texts(values), _texts(args)), dtype=bool)
    if op == "endsWith":
        return lambda values, args: np.asarray(np.strings.endswith(_texts(values), _texts(args)), dtype=bool)
    if op in ("eq", "ge", "gt", "le", "lt"):
        fn = {"eq": np.equal, "ge": np.greater_equal, "gt": np.greater, "le": np.less_equal, "lt": np.less}[op]
        return lambda values, args: fn(_numbers(pc.fill_null(values, "")), _numbers(pc.fill_null(args, "")))
    raise ValueError(f"operator @{op} has no per-request form")  # the loader only keeps ROW_OPERATORS
