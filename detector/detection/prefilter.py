"""Rule prefilter: hundreds of rules (SigmaHQ's, our own) cost about as much as a few.

For each rule, a *necessary condition* is derived from its expression: patterns of which at
least one must match for the rule to match (an AND needs only its most selective part, an OR
all of its parts, a NOT gives nothing). The patterns of every rule on one field are combined
into alternations, one RE2 pass each over the batch; a rule is then evaluated only on the
rows where one of its own patterns' alternations matched, in a view of just those rows.

A single broad pattern (`/images/`, `POST`) would make its alternation match most rows, and
every rule sharing it would run on the whole batch. So the patterns that match often in an
alternation that matched many rows (tried one by one on a sample of those rows) move to
groups of their own, before the rules run and for the batches after: the cost follows what
the traffic is like.
Grouping never changes a result, only which rows are looked at (a superset of the matching
rows, always). Case-insensitive ASCII literals are searched in the lower-cased column (which
the equality tests share), a smaller automaton than `(?i)`; equality tests and lists of
values (one set-membership test) are their own probes.

A regex pass costs about 1.6 ns per byte of the column, so an alternation is searched in
the batch's distinct values of its column (access logs repeat their paths, agents and
referrers: 1,500 distinct request targets and 30 user agents per 16,000 lines) and the
result given back to the rows; only the raw line, different on every row, is searched row
by row. The patterns and rules of log kinds absent from the batch are left out of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.detection.compiler import Alternation, Expr, FrameView, Leaf, _to_bool

KIND_FIELD = "log.kind"
# The raw line: the longest column, and nothing else tests it lower-cased, so its patterns
# search it with (?i) rather than pay for a lower-cased copy.
RAW_FIELD = "log.original"

#: An alternation matching more than this share of a batch (and more than MIN_SPLIT rows) is
#: split for the next batches.
BROAD_SHARE = 0.02
MIN_SPLIT = 64
#: A pattern matching more than this share of such a group's rows (of a sample) gets its own group.
SAMPLE = 256
BROAD_SAMPLE_SHARE = 0.05


# (field, RE2 pattern, searched in the lower-cased column, or the equality test itself)
Pattern = tuple[str, str, bool, "Leaf | None"]
Clause = tuple[Pattern, ...]  # at least one of these matches


@dataclass(frozen=True)
class Need:
    """Where a rule can match: on rows of `kinds` (None: any log kind) where every clause has
    a matching pattern (two clauses at most: the most selective parts of an AND)."""

    clauses: tuple[Clause, ...]
    score: int  # selectivity: the shortest literal of the weakest clause (longer = rarer)
    kinds: frozenset[str] | None = None


def _leaf_need(leaf: Leaf) -> Need | None:
    if leaf.parts:  # OR-ed pattern tests of one field
        return _any_of([_leaf_need(part) for part in leaf.parts])
    if leaf.field == KIND_FIELD and leaf.key[0] == "eq":
        return Need((), 0, frozenset({str(leaf.key[2])}))
    if leaf.key[0] in ("eq", "in"):
        return _equality_need(leaf)
    if leaf.pattern is None:
        return None
    literal = leaf.key[0] in ("contains", "startswith", "endswith")
    if literal and leaf.ignore_case and leaf.pattern.isascii() and leaf.field != RAW_FIELD:
        return Need((((leaf.field, leaf.pattern.lower(), True, None),),), max(len(leaf.pattern.strip("^$")), 1))
    if leaf.key[0] == "regex" and leaf.literal and len(leaf.literal) >= 3 and leaf.literal.isascii():
        # `select * from`: every match contains `select `; search that plain text instead
        lower = leaf.ignore_case and leaf.field != RAW_FIELD
        text = re.escape(leaf.literal.lower() if lower else leaf.literal)
        text = text if lower or not leaf.ignore_case else f"(?i:{text})"
        return Need((((leaf.field, text, lower, None),),), len(leaf.literal))
    wrapped = f"(?i:{_unanchored(leaf.pattern)})" if leaf.ignore_case else f"(?:{_unanchored(leaf.pattern)})"
    return Need((((leaf.field, wrapped, False, None),),), max(len(leaf.pattern.strip("^$")), 1) if literal else 3)


def _equality_need(leaf: Leaf) -> Need:
    """`field == value` (or one of values): the test itself is the probe, one cheap pass
    (an equality, a set membership) whose mask the rule's evaluation then reuses."""
    values = [leaf.key[2]] if leaf.key[0] == "eq" else list(leaf.key[2])
    return Need((((leaf.field, "", False, leaf),),), max(1, min(len(str(v)) for v in values)))


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


class Probe(NamedTuple):
    """One needed pattern: searched in `field` (lower-cased or not) on rows of `kinds`; or
    an equality test run as it is."""

    field: str
    kinds: frozenset[str] | None
    lower: bool
    pattern: str
    leaf: Leaf | None = None


class Group(NamedTuple):
    """Probes searched together: one alternation (same field, kinds, casing), or the values of
    equality probes of one field as one set-membership test."""

    field: str
    kinds: frozenset[str] | None
    lower: bool
    ids: tuple[int, ...]
    values: bool = False  # a set of equality values, not patterns


def _values(probe: Probe) -> list[str]:
    key = probe.leaf.key  # type: ignore[union-attr]
    return [str(key[2])] if key[0] == "eq" else [str(v) for v in key[2]]


class RulePrefilter:
    """Per field and log kinds, the needed patterns of every rule in alternation groups that
    adapt to the traffic; `candidates(view)` gives each rule the rows it must be evaluated on."""

    def __init__(self, needs: dict[str, Need | None]) -> None:
        usable = {key: need for key, need in needs.items() if need is not None and need.clauses}
        self.by_kinds: dict[frozenset[str], list[str]] = {}  # rules known only by their log kinds
        for key, need in needs.items():
            if need is not None and not need.clauses and need.kinds is not None:
                self.by_kinds.setdefault(need.kinds, []).append(key)
        self.unfiltered = [k for k, n in needs.items() if n is None or (not n.clauses and n.kinds is None)]
        # one probe per test, whichever rules need it (an equality of many rules is one set test),
        # searched on the rows of any kind one of them reads
        kinds_of: dict[tuple[str, str, bool, Any], frozenset[str] | None] = {}
        leaf_of: dict[tuple[str, str, bool, Any], Leaf | None] = {}
        for need in usable.values():
            for f, p, low, lf in (pattern for clause in need.clauses for pattern in clause):
                test = (f, p, low, None if lf is None else lf.key)
                known = kinds_of.get(test, frozenset())
                kinds_of[test] = None if known is None or need.kinds is None else known | need.kinds
                leaf_of.setdefault(test, lf)
        self.probes: list[Probe] = [Probe(t[0], kinds_of[t], t[2], t[1], leaf_of[t]) for t in kinds_of]
        index = {test: i for i, test in enumerate(kinds_of)}
        self.rule_clauses = {
            key: tuple(tuple(dict.fromkeys(index[(f, p, low, None if lf is None else lf.key)] for f, p, low, lf in c))
                       for c in need.clauses)
            for key, need in usable.items()
        }
        self.groups: list[Group] = _grouped(self.probes)
        self.rule_kinds = {key: need.kinds for key, need in usable.items()}
        self._patterns: dict[tuple[int, ...], str] = {}  # probe ids -> their alternation
        self._compiled: dict[str, Alternation] = {}  # alternation -> compiled once, kept across batches
        self._bucket_cache: dict[tuple[tuple[Group, ...], frozenset[str]], dict[tuple[tuple[int, ...], ...], list[str]]] = {}

    @property
    def fields(self) -> list[str]:
        return sorted({group.field for group in self.groups})

    def candidates(self, view: FrameView) -> tuple[dict[tuple[str, ...], np.ndarray], list[str]]:
        """(rule keys -> row indices they are evaluated on) buckets, and the rules without a
        need (evaluated on every row). Broad patterns are isolated before the rules run; the
        patterns and rules of log kinds absent from the batch are left out."""
        groups = self.groups  # matching may run on two threads: work on one snapshot
        kinds = view.lower(KIND_FIELD)
        present = _present_kinds(view)
        masks = [self._mask(view, kinds, group, present) for group in groups]
        refined = self._isolate_broad(groups, masks, view)
        if refined != groups:  # broad patterns isolated now, for this batch already
            known = dict(zip(groups, masks))
            masks = [known[g] if g in known else self._mask(view, kinds, g, present) for g in refined]
            groups = self.groups = refined
        buckets = self._buckets(tuple(groups), present)
        rows = {}
        for used, keys in buckets.items():
            mask = np.logical_and.reduce([np.logical_or.reduce([masks[g] for g in clause]) for clause in used])
            rows[tuple(keys)] = np.flatnonzero(mask)
        for wanted, keys in self.by_kinds.items():
            rows[tuple(keys)] = _kind_rows(kinds, wanted)
        return rows, self.unfiltered

    def _buckets(self, groups: tuple[Group, ...], present: frozenset[str]) -> dict[tuple[tuple[int, ...], ...], list[str]]:
        """Rules by the groups (positions) of each of their clauses; the rules of log kinds not
        in the batch are left out (they cannot match). The same for every batch until the
        groups change: computed once per groups and log kinds."""
        cached = self._bucket_cache.get((groups, present))
        if cached is not None:
            return cached
        group_of = {i: position for position, group in enumerate(groups) for i in group.ids}
        buckets: dict[tuple[tuple[int, ...], ...], list[str]] = {}
        for key, clauses in self.rule_clauses.items():
            wanted = self.rule_kinds[key]
            if wanted is not None and wanted.isdisjoint(present):
                continue
            used = tuple(tuple(sorted({group_of[i] for i in clause})) for clause in clauses)
            buckets.setdefault(used, []).append(key)
        if len(self._bucket_cache) >= 64:  # groups changed many times, or many kind mixes
            self._bucket_cache.clear()
        self._bucket_cache[(groups, present)] = buckets
        return buckets

    def _mask(self, view: FrameView, kinds: pa.Array | None, group: Group, present: frozenset[str]) -> np.ndarray:
        """Rows (of the group's log kinds) where one of its patterns (of a log kind in the
        batch) matches; tested once per distinct value of the column, but on the raw line."""
        ids = tuple(i for i in group.ids if _wanted(self.probes[i].kinds, present))
        if not ids:
            return np.zeros(view.n, dtype=bool)
        if group.values:
            return self._in(view, group.field, group.lower, ids)
        pattern = self._pattern(ids)
        rows = None if group.kinds is None else _kind_rows(kinds, group.kinds)
        if group.field != RAW_FIELD:
            distinct = view.distinct(group.field, group.lower)
            if distinct is None:
                return np.zeros(view.n, dtype=bool)
            index, values = distinct
            found = self._alternation(pattern).search(values)
            if found is None:  # RE2 cannot compile it with its memory budget: pyarrow's kernel says why
                found = _to_bool(pc.match_substring_regex(values, pattern))
            mask = np.append(found, False)[index]
            if rows is not None and len(rows) < view.n:
                mask &= _rows_mask(rows, view.n)
            return mask
        arr = view.text(group.field)
        out = np.zeros(view.n, dtype=bool)
        if arr is None or pa.types.is_null(arr.type):
            return out
        if rows is None or len(rows) == view.n:
            return _to_bool(pc.match_substring_regex(arr, pattern))
        if len(rows):
            out[rows] = _to_bool(pc.match_substring_regex(arr.take(pa.array(rows)), pattern))
        return out

    def _alternation(self, pattern: str) -> Alternation:
        compiled = self._compiled.get(pattern)
        if compiled is None:
            compiled = self._compiled[pattern] = Alternation(pattern)
        return compiled

    def _pattern(self, ids: tuple[int, ...]) -> str:
        pattern = self._patterns.get(ids)
        if pattern is None:
            pattern = self._patterns[ids] = "|".join(self.probes[i].pattern for i in ids)
        return pattern

    def _isolate_broad(self, groups: list[Group], masks: list[np.ndarray], view: FrameView) -> list[Group]:
        """Better groups: from an alternation that matched many rows, the patterns that match
        often (tried one by one on a sample of those rows) move to groups of their own; an
        alternation of many rare ones is halved."""
        limit = max(MIN_SPLIT, int(view.n * BROAD_SHARE))
        out: list[Group] = []
        for group, mask in zip(groups, masks):
            hits = np.flatnonzero(mask)
            if len(group.ids) == 1 or len(hits) <= limit:
                out.append(group)
                continue
            column = view.lower(group.field) if group.lower else view.text(group.field)
            sample = column.take(pa.array(hits[:: max(1, len(hits) // SAMPLE)][:SAMPLE]))  # type: ignore[union-attr]
            broad = [i for i in group.ids if self._probe(sample, i, group.values).mean() > BROAD_SAMPLE_SHARE]
            if broad:
                parts = [(i,) for i in broad] + [tuple(i for i in group.ids if i not in broad)]
            else:
                half = len(group.ids) // 2
                parts = [group.ids[:half], group.ids[half:]]
            out.extend(group._replace(ids=ids) for ids in parts if ids)
        return out


    def _in(self, view: FrameView, field: str, lower: bool, ids: tuple[int, ...]) -> np.ndarray:
        distinct = view.distinct(field, lower)
        if distinct is None:
            return np.zeros(view.n, dtype=bool)
        index, values = distinct
        return np.append(self._in_values(values, ids), False)[index]

    def _in_values(self, arr: pa.Array, ids: tuple[int, ...]) -> np.ndarray:
        values = sorted({v for i in ids for v in _values(self.probes[i])})
        return _to_bool(pc.is_in(arr, value_set=pa.array(values, pa.string()).cast(arr.type)))

    def _probe(self, sample: pa.Array, i: int, values: bool) -> np.ndarray:
        return self._in_values(sample, (i,)) if values else _to_bool(pc.match_substring_regex(sample, self.probes[i].pattern))


def _grouped(probes: list[Probe]) -> list[Group]:
    """One group per field and casing: one pass over a column, however many log kinds its
    rules want (a pass costs the same for one pattern or many). The group searches the rows
    of every kind any of its probes wants (all rows if one wants any kind): a superset for
    each rule, whose own expression still tests its kind."""
    by_group: dict[tuple[str, bool, bool], list[int]] = {}
    for i, probe in enumerate(probes):
        if probe.leaf is not None:  # equality values of one field and casing: one set test
            by_group.setdefault((probe.field, not probe.leaf.key[3], True), []).append(i)
        else:
            by_group.setdefault((probe.field, probe.lower, False), []).append(i)
    groups = []
    for (name, lower, values), ids in by_group.items():
        wanted = [probes[i].kinds for i in ids]
        kinds = None if values or any(k is None for k in wanted) else frozenset().union(*wanted)  # type: ignore[misc]
        groups.append(Group(name, kinds, lower, tuple(ids), values))
    return groups


def _wanted(kinds: frozenset[str] | None, present: frozenset[str]) -> bool:
    return kinds is None or not kinds.isdisjoint(present)


def _present_kinds(view: FrameView) -> frozenset[str]:
    """The (lower-cased) log kinds of the batch's rows."""
    distinct = view.distinct(KIND_FIELD, lower=True)
    if distinct is None:
        return frozenset()
    index, values = distinct
    return frozenset(v for v in values.take(pa.array(np.unique(index[index < len(values)]))).to_pylist() if v is not None)


def _rows_mask(rows: np.ndarray, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def _kind_rows(kinds: pa.Array | None, wanted: frozenset[str]) -> np.ndarray:
    """Rows whose (lower-cased) log kind is one of `wanted`."""
    if kinds is None:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(_to_bool(pc.is_in(kinds, pa.array(sorted(wanted), kinds.type))))


def rule_needs(rules: Iterable[tuple[str, Expr]]) -> dict[str, Need | None]:
    return {key: necessary(expr) for key, expr in rules}
