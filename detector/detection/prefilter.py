"""Rule prefilter: hundreds of rules (SigmaHQ's, our own) cost about as much as a few.

For each rule, a *necessary condition* is derived from its expression: patterns of which at
least one must match for the rule to match (an AND needs only its most selective part, an OR
all of its parts, a NOT gives nothing). The patterns of every rule on one field are combined
into alternations, one RE2 pass each over the batch; a rule is then evaluated only on the
rows where one of its own patterns' alternations matched, in a view of just those rows.

A single broad pattern (`/`, `POST`) would make its alternation match every row, and every
rule sharing it would run on the whole batch. So an alternation matching many rows is split
in two for the next batches, until the broad patterns sit alone: the cost follows what the
traffic is like. Grouping never changes a result, only which rows are looked at (a superset
of the matching rows, always).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.detection.compiler import Expr, FrameView, Leaf, _to_bool

KIND_FIELD = "log.kind"

#: An alternation matching more than this share of a batch (and more than MIN_SPLIT rows) is
#: split for the next batches.
BROAD_SHARE = 0.02
MIN_SPLIT = 64
#: A pattern matching more than this share of such a group's rows (of a sample) gets its own group.
SAMPLE = 256
BROAD_SAMPLE_SHARE = 0.05


Pattern = tuple[str, str]  # (field, RE2 pattern)
Clause = tuple[Pattern, ...]  # at least one of these matches


@dataclass(frozen=True)
class Need:
    """Where a rule can match: on rows of `kinds` (None: any log kind) where every clause has
    a matching pattern (two clauses at most: the most selective parts of an AND)."""

    clauses: tuple[Clause, ...]
    score: int  # selectivity: the shortest literal of the weakest clause (longer = rarer)
    kinds: frozenset[str] | None = None


def _leaf_need(leaf: Leaf) -> Need | None:
    if leaf.field == KIND_FIELD and leaf.key[0] == "eq":
        return Need((), 0, frozenset({str(leaf.key[2])}))
    if leaf.key[0] in ("eq", "in"):
        return _equality_need(leaf)
    if leaf.pattern is None:
        return None
    wrapped = f"(?i:{_unanchored(leaf.pattern)})" if leaf.ignore_case else f"(?:{_unanchored(leaf.pattern)})"
    literal = len(leaf.pattern.strip("^$")) if leaf.key[0] in ("contains", "startswith", "endswith") else 3
    return Need((((leaf.field, wrapped),),), max(literal, 1))


def _equality_need(leaf: Leaf) -> Need | None:
    """`field == value` (or one of values) as the anchored alternation of the literals. Only
    ASCII values: RE2's case folding and the column's lower-casing agree there, so the
    pattern matches every row the test can."""
    values = [leaf.key[2]] if leaf.key[0] == "eq" else list(leaf.key[2])
    if not values or not all(isinstance(v, str) and v.isascii() for v in values):
        return None
    body = "|".join(re.escape(v) for v in values)
    pattern = f"^(?:{body})$" if leaf.key[3] else f"(?i:^(?:{body})$)"
    return Need((((leaf.field, pattern),),), max(1, min(len(v) for v in values)))


def _unanchored(pattern: str) -> str:
    """`(?s)^.*X.*$` searches like `(?s)X`, with a smaller automaton."""
    if pattern.startswith("(?s)^.*"):
        pattern = "(?s)" + pattern[len("(?s)^.*"):]
        if pattern.endswith(".*$") and not pattern.endswith("\\.*$"):
            pattern = pattern[: -len(".*$")]
    return pattern


def necessary(expr: Expr) -> Need | None:
    """Where `expr` can hold at most; None when nothing narrower than every row is known."""
    if isinstance(expr, Leaf):
        return _leaf_need(expr)
    if expr[0] == "not":
        return None
    needs = [necessary(child) for child in expr[1]]
    return _all_of(needs) if expr[0] == "and" else _any_of(needs)


def _all_of(needs: list[Need | None]) -> Need | None:
    known = [n for n in needs if n is not None]
    kinds = [n.kinds for n in known if n.kinds is not None]
    clauses = sorted(
        ((c, n.score) for n in known for c in n.clauses), key=lambda cs: (-cs[1], len(cs[0]))
    )[:2]
    if not clauses and not kinds:
        return None
    return Need(
        tuple(c for c, _ in clauses),
        min((score for _, score in clauses), default=0),
        frozenset.intersection(*kinds) if kinds else None,
    )


def _any_of(needs: list[Need | None]) -> Need | None:
    if not needs or any(n is None for n in needs):
        return None
    known = [n for n in needs if n is not None]
    kinds = None if any(n.kinds is None for n in known) else frozenset().union(*(n.kinds for n in known))  # type: ignore[misc]
    if all(n.clauses for n in known):
        clause = tuple(dict.fromkeys(p for n in known for p in n.clauses[0]))
        return Need((clause,), min(n.score for n in known), kinds)
    return Need((), 0, kinds) if kinds is not None else None


Group = tuple[str, frozenset[str] | None, tuple[int, ...]]  # field, log kinds, pattern ids


class RulePrefilter:
    """Per field and log kinds, the needed patterns of every rule in alternation groups that
    adapt to the traffic; `candidates(view)` gives each rule the rows it must be evaluated on."""

    def __init__(self, needs: dict[str, Need | None]) -> None:
        usable = {key: need for key, need in needs.items() if need is not None and need.clauses}
        self.by_kinds: dict[frozenset[str], list[str]] = {}  # rules known only by their log kinds
        for key, need in needs.items():
            if need is not None and not need.clauses and need.kinds is not None:
                self.by_kinds.setdefault(need.kinds, []).append(key)
        self.unfiltered = [key for key, need in needs.items() if need is None or (not need.clauses and need.kinds is None)]
        self.patterns: list[tuple[str, frozenset[str] | None, str]] = list(dict.fromkeys(
            (field, need.kinds, pattern) for need in usable.values() for c in need.clauses for field, pattern in c
        ))
        index = {p: i for i, p in enumerate(self.patterns)}
        self.rule_clauses = {
            key: tuple(tuple(index[(f, need.kinds, p)] for f, p in clause) for clause in need.clauses)
            for key, need in usable.items()
        }
        by_group: dict[tuple[str, frozenset[str] | None], list[int]] = {}
        for i, (field, kinds, _) in enumerate(self.patterns):
            by_group.setdefault((field, kinds), []).append(i)
        self.groups: list[Group] = [(f, k, tuple(ids)) for (f, k), ids in by_group.items()]

    @property
    def fields(self) -> list[str]:
        return sorted({field for field, _, _ in self.groups})

    def candidates(self, view: FrameView) -> tuple[dict[tuple[str, ...], np.ndarray], list[str]]:
        """(rule keys -> row indices they are evaluated on) buckets, and the rules without a
        need (evaluated on every row). Splits broad groups for the next batch."""
        groups = self.groups  # matching may run on two threads: work on one snapshot
        kinds = view.lower(KIND_FIELD)
        masks = [self._mask(view, kinds, field, wanted, ids) for field, wanted, ids in groups]
        group_of = {i: position for position, (_, _, ids) in enumerate(groups) for i in ids}
        buckets: dict[tuple[tuple[int, ...], ...], list[str]] = {}
        for key, clauses in self.rule_clauses.items():
            used = tuple(tuple(sorted({group_of[i] for i in clause})) for clause in clauses)
            buckets.setdefault(used, []).append(key)
        rows = {}
        for used, keys in buckets.items():
            mask = np.logical_and.reduce([np.logical_or.reduce([masks[g] for g in clause]) for clause in used])
            rows[tuple(keys)] = np.flatnonzero(mask)
        for wanted, keys in self.by_kinds.items():
            rows[tuple(keys)] = _kind_rows(kinds, wanted, view.n)
        self.groups = _isolate_broad(groups, masks, view, self.patterns)
        return rows, self.unfiltered

    def _mask(self, view: FrameView, kinds: pa.Array | None, field: str, wanted: frozenset[str] | None,
              ids: tuple[int, ...]) -> np.ndarray:
        """Rows (of the wanted log kinds) where one of the group's patterns matches `field`."""
        arr = view.text(field)
        out = np.zeros(view.n, dtype=bool)
        if arr is None or pa.types.is_null(arr.type):
            return out
        pattern = "|".join(self.patterns[i][2] for i in ids)
        if wanted is None:
            return _to_bool(pc.match_substring_regex(arr, pattern))
        rows = _kind_rows(kinds, wanted, view.n)
        if len(rows) == view.n:
            return _to_bool(pc.match_substring_regex(arr, pattern))
        if len(rows):
            out[rows] = _to_bool(pc.match_substring_regex(arr.take(pa.array(rows)), pattern))
        return out


def _kind_rows(kinds: pa.Array | None, wanted: frozenset[str], n: int) -> np.ndarray:
    """Rows whose (lower-cased) log kind is one of `wanted`."""
    if kinds is None:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(_to_bool(pc.is_in(kinds, pa.array(sorted(wanted), kinds.type))))


def _isolate_broad(
    groups: list[Group], masks: list[np.ndarray], view: FrameView, patterns: list[tuple[str, frozenset[str] | None, str]]
) -> list[Group]:
    """The groups for the next batch: from an alternation that matched many rows, the patterns
    that match often (tried one by one on a sample of those rows) move to groups of their own."""
    limit = max(MIN_SPLIT, int(view.n * BROAD_SHARE))
    out: list[Group] = []
    for (field, kinds, ids), mask in zip(groups, masks):
        hits = np.flatnonzero(mask)
        if len(ids) == 1 or len(hits) <= limit:
            out.append((field, kinds, ids))
            continue
        sample = view.text(field).take(pa.array(hits[:: max(1, len(hits) // SAMPLE)][:SAMPLE]))  # type: ignore[union-attr]
        broad = [i for i in ids if _to_bool(pc.match_substring_regex(sample, patterns[i][2])).mean() > BROAD_SAMPLE_SHARE]
        rest = tuple(i for i in ids if i not in broad)
        if not broad:  # many rare patterns together: halve the alternation instead
            broad, rest = list(ids[len(ids) // 2:]), ids[: len(ids) // 2]
            out.append((field, kinds, tuple(broad)))
        else:
            out.extend((field, kinds, (i,)) for i in broad)
        if rest:
            out.append((field, kinds, rest))
    return out


def rule_needs(rules: Iterable[tuple[str, Expr]]) -> dict[str, Need | None]:
    return {key: necessary(expr) for key, expr in rules}
