"""Patterns compiled once (Google's RE2 binding, `google-re2`) and run over many values: the CRS's
rules and the combined Sigma alternations alike.

pyarrow's regex kernels compile their RE2 pattern at every call, and the CRS has hundreds of
large patterns: compiled per batch, that alone would cost more than reading the log. Here each
pattern is compiled once, keeps its lazily built DFA across batches, and searches a whole array
in one call: the values are joined with a separator no pattern can cross, and only the values
the search lands in are checked one by one. RE2 runs in linear time either way (it falls back
from its DFA to its NFA, never to backtracking).

The separator is `\\n\\xff\\n`. The byte 0xFF never occurs in UTF-8 and no pattern compiled in
UTF-8 mode can consume it (`.`, negated classes, `\\W`, `\\S` all stop there), so a match never
spans two values. The search copy of a pattern is multi-line, so `^`/`$` also hold at the
newlines around each value (`\\A`/`\\z` become `^`/`$`): the search finds a superset of the
values that match, and each value it lands in is decided by the pattern itself, alone. A
pattern that matches inside the separator, or contains `\\C` (a single byte), is searched value
by value instead.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2._re2 as _re2

from detector.parsing.arrowtext import mask_of

SEPARATOR = b"\n\xff\n"
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_ONE_BY_ONE = 24  # below this many values, searching each is cheaper than joining them
_DENSE = 0.05  # a pattern matching more of the values it searches runs in pyarrow's kernel
_MAX_MEM = 32 << 20  # RE2's budget (program + DFA cache) per pattern; beyond it, a slower NFA
_FLAGS_OFF = re.compile(r"(?<!\\)\(\?[imsU]*-")  # `(?-m)`, `(?s-m:`: flags switched off inside


def _options() -> _re2.RE2.Options:
    options = _re2.RE2.Options()
    options.max_mem = _MAX_MEM
    options.log_errors = False
    return options


def _search_form(pattern: str) -> str | None:
    """The multi-line copy of `pattern` for searching joined values; None when it needs the
    value-by-value path (`\\C`, or flags that could turn multi-line matching off)."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            pair = pattern[index : index + 2]
            if pair == "\\C":
                return None
            out.append({"\\A": "^", "\\z": "$"}.get(pair, pair))
            index += 2
            continue
        out.append(char)
        index += 1
    text = "".join(out)
    if _FLAGS_OFF.search(text):
        return None
    return "(?m)" + text


def _compile(pattern: str) -> "_re2.RE2 | None":
    try:
        compiled = _re2.RE2(pattern.encode(), _options())
    except Exception:  # noqa: BLE001 (the binding raises its own error type)
        return None
    return compiled if compiled.ok() else None


def _found(compiled: "_re2.RE2", text: object, start: int, end: int) -> int:
    """Where the leftmost match in text[start:end] begins, -1 when there is none."""
    return compiled.Match(_UNANCHORED, text, start, end)[0][0]


class Pattern:
    """One RE2 pattern, compiled once: `search(values)` is a numpy mask of the values it
    matches somewhere (`match_substring_regex` semantics: UTF-8, unanchored)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.exact = _compile(pattern)
        form = _search_form(pattern) if self.exact is not None else None
        self.joined = None if form is None else _compile(form)
        if self.joined is not None and _found(self.joined, SEPARATOR, 0, len(SEPARATOR)) >= 0:
            self.joined = None  # it matches in the separator itself: every value would be a candidate
        self.searched = self.landed = 0  # values so far, and those the joined search landed in: a
        # pattern that lands in many (a negated rule's, e.g. a valid request line, or one whose
        # search copy matches at the separators) is cheaper in one vectorized kernel call

    def search(self, values: pa.Array) -> np.ndarray:
        n = len(values)
        if not n:
            return np.zeros(0, dtype=bool)
        dense = self.searched > 1000 and self.landed > _DENSE * self.searched
        self.searched += n
        if self.exact is None or (dense and n >= _ONE_BY_ONE):  # pyarrow compiles it at each call
            found = mask_of(pc.match_substring_regex(values, self.pattern))
            self.landed += int(found.sum())
            return found
        binary = pc.fill_null(values.cast(pa.binary()), b"")
        if n < _ONE_BY_ONE or self.joined is None:
            found = self._each(binary)
            self.landed += int(found.sum())
            return found
        return self._joined(binary)

    def _each(self, binary: pa.Array) -> np.ndarray:
        exact = self.exact
        out = np.zeros(len(binary), dtype=bool)
        for i, value in enumerate(binary.to_pylist()):
            out[i] = _found(exact, value, 0, len(value)) >= 0
        return out

    def _joined(self, binary: pa.Array) -> np.ndarray:
        n = len(binary)
        framed = pc.binary_join_element_wise(binary, pa.scalar(b"", pa.binary()), pa.scalar(SEPARATOR, pa.binary()))
        offsets = np.frombuffer(framed.buffers()[1], dtype=np.int32)[framed.offset : framed.offset + n + 1]
        text = memoryview(framed.buffers()[2])
        base, end = int(offsets[0]), int(offsets[-1])
        starts = offsets[:-1]
        out = np.zeros(n, dtype=bool)
        joined, exact = self.joined, self.exact
        position = base
        while position < end:
            at = _found(joined, text, position, end)
            if at < 0:
                break
            row = int(np.searchsorted(starts, at, side="right")) - 1
            row_start, row_end = int(starts[row]), int(offsets[row + 1]) - len(SEPARATOR)
            out[row] = _found(exact, text[row_start:row_end], 0, row_end - row_start) >= 0
            self.landed += 1
            position = row_end + len(SEPARATOR)
        return out
