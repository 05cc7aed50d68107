"""Many CRS patterns searched in one pass: which of them can match in each block of values.

The first conditions read through one transformation chain are mostly patterns (@rx, @pm), and
most values match none of them. Searching them one rule at a time costs a pass over the values
per rule; RE2::Set (google-re2) runs all of them as one automaton, so one pass over the values,
joined as in regex.py (a separator no pattern crosses, each pattern in its multi-line search
form), tells per block of values which patterns match somewhere in it. A pattern that finds
nothing in a block matches none of its values; the others still decide each value of the block
themselves (a superset again, never a verdict).

A Set's automaton gives up when its memory budget runs out on a text; then the block is a
candidate for every pattern. The first pattern of every Set matches any text, so its absence
from the answer says when that happened. A pattern with no search form, or one the Set rejects,
is a candidate everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2._re2 as _re2

from detector.detection.crs.regex import Pattern, framed

BLOCK = 64  # values per Set search: fewer calls against narrower candidates
WARM_UP = 8_192  # values searched before the patterns that land nearly everywhere leave the Sets
DENSE = 0.25  # the share of candidate values beyond which a pattern is searched everywhere
_MAX_MEM = 64 << 20  # per Set (program and automaton); a Set that does not fit is split in two
_ALWAYS = b"(?s)"  # matches every text: index 0 of every Set


class _Set:
    """One compiled RE2::Set and the positions (in the PatternSet) of its patterns."""

    def __init__(self, forms: Sequence[tuple[int, str]]) -> None:
        options = _re2.RE2.Options()
        options.max_mem = _MAX_MEM
        options.log_errors = False
        self.set = _re2.Set(_re2.RE2.Anchor.UNANCHORED, options)
        self.set.Add(_ALWAYS)
        self.positions = np.array([position for position, _ in forms], dtype=np.int64)
        self.rejected: list[int] = []  # patterns the Set would not take
        taken = [0]  # Set index -> index into `forms`, shifted by one (0: the always pattern)
        for number, (position, form) in enumerate(forms):
            if self.set.Add(form.encode()) < 0:
                self.rejected.append(position)
            else:
                taken.append(number)
        self.index = np.array([-1] + [self.positions[n] for n in taken[1:]], dtype=np.int64)
        self.ok = self.set.Compile()


def _sets(forms: list[tuple[int, str]]) -> tuple[list[_Set], list[int]]:
    """Compiled Sets for `forms`, halved until each compiles; the patterns left out."""
    if not forms:
        return [], []
    built = _Set(forms)
    if built.ok:
        return [built], built.rejected
    if len(forms) == 1:
        return [], [forms[0][0]]
    half = len(forms) // 2
    first, left_first = _sets(forms[:half])
    second, left_second = _sets(forms[half:])
    return first + second, left_first + left_second


class PatternSet:
    """The patterns of the first conditions read through one transformation chain, compiled
    once; `candidates(values)` per batch.

    A pattern that lands in a large share of the blocks (a negated rule's, one matching common
    text) makes every block a candidate and the automaton larger for nothing: once `WARM_UP`
    values are seen, such patterns leave the Sets (rebuilt once) and are searched everywhere."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.size = len(patterns)
        self.patterns = list(patterns)
        self.everywhere = [i for i, p in enumerate(patterns) if p.form is None]
        self._build([i for i, p in enumerate(patterns) if p.form is not None])
        self.seen = 0  # values searched, until the warm-up is over
        self.landed = np.zeros(self.size, dtype=np.int64)  # candidate values per pattern

    def _build(self, positions: list[int]) -> None:
        self.sets = []
        left: list[int] = []
        for kind in (True, False):  # @rx apart from @pm phrase lists: a smaller automaton each
            forms = [(i, self.patterns[i].form or "") for i in positions if self.patterns[i].phrases is kind]
            built, rejected = _sets(forms)
            self.sets += built
            left += rejected
        self.everywhere = sorted(set(self.everywhere) | set(left))

    def _settle(self, found: np.ndarray) -> None:
        self.seen += len(found)
        self.landed += found.sum(axis=0)
        if self.seen >= WARM_UP:
            dense = set(np.flatnonzero(self.landed > DENSE * self.seen).tolist()) - set(self.everywhere)
            if dense:
                self.everywhere = sorted(set(self.everywhere) | dense)
                self._build([i for i in range(self.size) if i not in self.everywhere])
            self.seen = -1  # settled

    def candidates(self, values: pa.Array) -> np.ndarray:
        """(values, patterns) booleans: False where the pattern matches nowhere in the value's
        block, so not in the value."""
        n = len(values)
        out = np.zeros((n, self.size), dtype=bool)
        out[:, self.everywhere] = True
        if not n or not self.sets:
            return out
        text, offsets = framed(pc.fill_null(values.cast(pa.binary()), b""))
        for start in range(0, n, BLOCK):
            end = min(start + BLOCK, n)
            block = text[int(offsets[start]) : int(offsets[end])]
            for compiled in self.sets:
                found = compiled.set.Match(block)
                if not found or 0 not in found:  # the automaton gave up: every pattern may match
                    out[start:end, compiled.positions] = True
                else:
                    hits = compiled.index[found]
                    out[start:end, hits[hits >= 0]] = True
        if self.seen >= 0:
            self._settle(out)
        return out
