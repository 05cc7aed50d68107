"""The first rule of every CRS chain, decided once per distinct value and remembered.

A busy site repeats its user agents, paths and parameters all day: a value's verdict (which
first conditions it satisfies) depends on the value alone, so it is kept across batches in a
bounded cache per variable, and only values never seen before are evaluated. For those, each
condition's character requirement (charsets.py) keeps the values that cannot match away from
its pattern; the signatures' verdicts per condition are remembered too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pyarrow as pa

from detector.detection.crs.charsets import Terms, admits, reduced
from detector.detection.crs.transforms import TransformChains

Verdict = tuple[int, ...]  # the rules whose first condition the value satisfies
_SLICE = 16_384  # new values evaluated together at most
_NO_HITS: Verdict = ()


class FirstCondition(Protocol):
    needs: Terms
    negated: bool

    def stages(self) -> list[tuple[str, ...]]: ...

    def run(self, values: pa.Array) -> np.ndarray: ...


class VerdictCache:
    """value -> verdict for one variable, bounded in two generations: values seen again move to
    the young one; when it is full it becomes the old one and the previous old one is dropped
    (an LRU by count, without per-hit bookkeeping)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._young: dict[str, Verdict] = {}
        self._old: dict[str, Verdict] = {}

    def lookup(self, keys: Sequence[str]) -> list[Verdict | None]:
        young, old = self._young, self._old
        out: list[Verdict | None] = []
        for key in keys:
            verdict = young.get(key)
            if verdict is None:
                verdict = old.get(key)
                if verdict is not None:
                    young[key] = verdict
            out.append(verdict)
        self._roll()
        return out

    def store(self, keys: Sequence[str], verdicts: Sequence[Verdict]) -> None:
        self._young.update(zip(keys, verdicts, strict=True))
        self._roll()

    def _roll(self) -> None:
        if len(self._young) > self.limit:
            self._old, self._young = self._young, {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


class SignatureTable:
    """Per signature seen and per condition: does the signature meet the condition's character
    requirement (-1: not asked yet). Each (signature, condition) pair is worked out once.

    Shared by the batches the pipeline prepares on two threads: rows are only ever added while
    a batch is in flight (a row handed out stays valid), the table is emptied between batches
    once it holds more than `limit` signatures."""

    def __init__(self, requirements: Sequence[Terms], limit: int = 1 << 14) -> None:
        self.requirements = [reduced(t) for t in requirements]
        self.everything = [0 in t for t in self.requirements]
        self.limit = limit
        self._keys = np.zeros(0, dtype=np.uint64)  # sorted signatures
        self._at = np.zeros(0, dtype=np.int64)  # their rows in `_cells`
        self._cells = np.full((1024, len(requirements)), -1, dtype=np.int8)
        self._lock = threading.Lock()
        self._active = 0  # batches in flight

    def begin(self) -> None:
        """A batch starts: forget every signature once more than `limit` are known, unless
        another batch holds rows."""
        with self._lock:
            if self._active == 0 and len(self._keys) > self.limit:
                self._keys, self._at = self._keys[:0], self._at[:0]
                self._cells = np.full((1024, self._cells.shape[1]), -1, dtype=np.int8)
            self._active += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1

    def rows(self, signatures_: np.ndarray) -> np.ndarray:
        """The row of each signature (new ones added)."""
        with self._lock:
            position = np.searchsorted(self._keys, signatures_)
            inside = position < len(self._keys)
            known = np.zeros(len(signatures_), dtype=bool)
            known[inside] = self._keys[position[inside]] == signatures_[inside]
            if not known.all():
                self._add(np.unique(signatures_[~known]))
                position = np.searchsorted(self._keys, signatures_)
            return self._at[position]

    def _add(self, new: np.ndarray) -> None:
        first = len(self._keys)
        if first + len(new) > len(self._cells):
            grown = np.full((2 * (first + len(new)), self._cells.shape[1]), -1, dtype=np.int8)
            grown[: len(self._cells)] = self._cells
            self._cells = grown
        keys = np.concatenate([self._keys, new])
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._at = np.concatenate([self._at, np.arange(first, first + len(new))])[order]

    def admitted(self, column: int, signatures_: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per value (its signature, at `rows`): may it match condition `column`?"""
        if self.everything[column]:
            return np.ones(len(rows), dtype=bool)
        cells = self._cells[rows, column]
        admitted = cells > 0
        unknown = np.flatnonzero(cells < 0)
        if len(unknown):
            # each pending row once, without a sort: a scratch slot per table row (rows are
            # small dense integers), holding one value that has it
            asked = rows[unknown]
            slot = np.full(int(asked.max()) + 1, -1, dtype=np.int64)
            slot[asked] = unknown
            pending = np.flatnonzero(slot >= 0)
            found = admits(self.requirements[column], signatures_[slot[pending]])
            verdict = np.zeros(len(slot), dtype=bool)
            verdict[pending] = found
            admitted[unknown] = verdict[asked]
            with self._lock:  # the table may have grown meanwhile: write into the current one
                self._cells[pending, column] = found
        return admitted


class Screen:
    """Verdicts of every variable's distinct values: cached ones looked up, the new ones of all
    variables pooled and evaluated together (each transformation chain runs once per batch),
    each condition on the pooled values of the variables it reads."""

    def __init__(self, readers: dict[str, list[tuple[int, FirstCondition]]], limit: int) -> None:
        self.sources = list(readers)
        self.caches = {source: VerdictCache(limit) for source in self.sources}
        owners: dict[int, set[int]] = {}
        conds: dict[int, FirstCondition] = {}
        for number, source in enumerate(self.sources):
            for rule, cond in readers[source]:
                owners.setdefault(rule, set()).add(number)
                conds[rule] = cond
        self.conditions = [(rule, conds[rule], sorted(owners[rule])) for rule in sorted(conds)]
        self.needed: dict[tuple[str, ...], set[int]] = {}  # chain prefix -> variables read through it
        for _, cond, numbers in self.conditions:
            for stage in cond.stages():
                for end in range(1, len(stage) + 1):
                    self.needed.setdefault(stage[:end], set()).update(numbers)
        self.table = SignatureTable([conds[rule].needs for rule in sorted(conds)])
        self.columns = {rule: column for column, rule in enumerate(sorted(conds))}

    def verdicts(self, values: dict[str, pa.Array]) -> dict[str, list[Verdict]]:
        """Per variable of `values` (its distinct values), the verdict of each value. The
        pipeline may prepare two batches on two threads: the verdict caches tolerate it (a
        value evaluated twice at worst), the signature table is built for it."""
        self.table.begin()
        try:
            return self._verdicts(values)
        finally:
            self.table.end()

    def _verdicts(self, values: dict[str, pa.Array]) -> dict[str, list[Verdict]]:
        found: dict[str, list[Verdict | None]] = {}
        keys: dict[str, list[str]] = {}
        unknown: dict[str, list[int]] = {}
        for source, distinct in values.items():
            keys[source] = distinct.to_pylist()
            found[source] = self.caches[source].lookup(keys[source])
            unknown[source] = [i for i, verdict in enumerate(found[source]) if verdict is None]
        pending = [source for source in values if unknown[source]]
        if pending:
            pooled = pa.concat_arrays([values[s].take(pa.array(unknown[s], pa.int64())) for s in pending])
            owner = np.repeat([self.sources.index(s) for s in pending], [len(unknown[s]) for s in pending])
            hits: dict[int, Verdict] = {}
            for start in range(0, len(pooled), _SLICE):  # bounded memory for a first, all-new batch
                part = self._evaluate(pooled.slice(start, _SLICE), owner[start : start + _SLICE])
                hits.update((start + i, verdict) for i, verdict in part.items())
            start = 0
            for source in pending:
                todo = unknown[source]
                verdicts = [hits.get(start + j, _NO_HITS) for j in range(len(todo))]
                start += len(todo)
                self.caches[source].store([keys[source][i] for i in todo], verdicts)
                row = found[source]
                for i, verdict in zip(todo, verdicts, strict=True):
                    row[i] = verdict
        return found  # type: ignore[return-value]

    def _evaluate(self, values: pa.Array, owner: np.ndarray) -> dict[int, Verdict]:
        """The verdicts of the values that satisfy any condition (by position in `values`)."""
        members: dict[tuple[int, ...], np.ndarray] = {}  # variables -> indices of their values

        def member_of(numbers: tuple[int, ...]) -> np.ndarray:
            if numbers not in members:
                members[numbers] = np.flatnonzero(np.isin(owner, numbers))
            return members[numbers]

        def scope(chain: tuple[str, ...]) -> np.ndarray:
            mask = np.zeros(len(values), dtype=bool)
            mask[member_of(tuple(sorted(self.needed[chain])))] = True
            return mask

        chains = TransformChains(values, scope, self.table.rows)
        for _, cond, owners in self.conditions:  # every chain first: then one store to take from
            if len(member_of(tuple(owners))):
                for stage in cond.stages():
                    chains.get(stage)
        chains.compact()
        hits: dict[int, list[int]] = {}
        for rule, cond, owners in self.conditions:
            member = member_of(tuple(owners))
            if not len(member):
                continue
            matched = np.zeros(len(values), dtype=bool)
            for stage in cond.stages():  # multiMatch: any stage of the chain (negated: any that fails)
                staged = chains.get(stage)
                admitted = member[self.table.admitted(self.columns[rule], staged.signature[member], staged.rows[member])]
                hit = np.zeros(len(values), dtype=bool)
                if len(admitted):
                    hit[admitted] = cond.run(chains.take(staged.where[admitted]))
                if cond.negated:
                    hit[member] = ~hit[member]
                matched |= hit
            for i in np.flatnonzero(matched).tolist():
                hits.setdefault(i, []).append(rule)
        return {i: tuple(rules) for i, rules in hits.items()}
