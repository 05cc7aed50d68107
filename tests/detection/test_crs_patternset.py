"""The Set prefilter of first conditions: a pattern is ruled out of a value only when it cannot
match it, whatever the anchors, flags and neighbours in the block."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from detector.detection.crs import patternset
from detector.detection.crs.patternset import PatternSet
from detector.detection.crs.regex import Pattern

PATTERNS = [
    r"(?s)\Aselect\b",  # anchored at the start of the value
    r"(?s)--\z",  # at its end
    r"(?s)^/admin$",
    r"(?i)(?:union all|<script)",  # a phrase list as @pm compiles it
    r"(?s)a.{3}b",  # dot-all: may not run into the next value
    r"(?s)[^x]{40,}",  # a long negated class: must not span values
    r"\C{3}z",  # no search form: every value is a candidate
]
VALUES = [
    "select * from t", "x select", "a--", "--x", "/admin", "/admin/", "UNION ALL select", "<SCRIPT>",
    "a\n\nxb", "axx", "b", "y" * 39, "y" * 40, "", "café", "abcz",
]


def _exact(pattern: str, values: list[str]) -> np.ndarray:
    return Pattern(pattern)._each(pa.array([v.encode() for v in values], pa.binary()))


def test_candidates_cover_every_match_whatever_the_block(monkeypatch) -> None:
    for block in (1, 3, 64):
        monkeypatch.setattr(patternset, "BLOCK", block)
        found = PatternSet([Pattern(p) for p in PATTERNS]).candidates(pa.array(VALUES))
        for slot, pattern in enumerate(PATTERNS):
            exact = _exact(pattern, VALUES)
            assert exact.any()
            assert not (exact & ~found[:, slot]).any(), (block, pattern)


def test_a_value_a_pattern_cannot_match_is_ruled_out_per_value(monkeypatch) -> None:
    monkeypatch.setattr(patternset, "BLOCK", 1)
    values = pa.array(["/index.html", "/search?q=shoes", "/admin"])
    found = PatternSet([Pattern(p) for p in PATTERNS]).candidates(values)
    assert found[:, 2].tolist() == [False, False, True]  # ^/admin$
    assert found[:, 6].tolist() == [True, True, True]  # \C: no search form, searched everywhere
    assert not found[:2, :6].any()


def test_a_set_the_automaton_gives_up_on_leaves_every_pattern_a_candidate(monkeypatch) -> None:
    class GivesUp:
        def Match(self, text):  # noqa: N802 (RE2::Set's name)
            return []

    patterns = PatternSet([Pattern(p) for p in PATTERNS[:3]])
    for compiled in patterns.sets:
        monkeypatch.setattr(compiled, "set", GivesUp())
    assert patterns.candidates(pa.array(["nothing here", None])).all()
