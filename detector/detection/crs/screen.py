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
import pyarrow.compute as pc

from detector.detection.crs.charsets import Terms, admits, reduced
from detector.detection.crs.transforms import TransformChains

Verdict = tuple[int, ...]  # the rules whose first condition the value satisfies
_SLICE = 16_384  # new values evaluated together at most


class FirstCondition(Protocol):
    needs: Terms
    negated: bool

    def stages(self) -> list[tuple[str, ...]]: ...

    def run(self, values: pa.Array) -> np.ndarray: ...


class _Generation:
    """Values (Arrow strings) and their verdict ids, looked up with Arrow's hash kernel."""

    def __init__(self, keys: pa.Array, ids: np.ndarray) -> None:
        self.keys = keys
        self.ids = ids

    def find(self, keys: pa.Array) -> np.ndarray:
        """The id of each key, -1 where it is not here."""
        if not len(self.keys):
            return np.full(len(keys), -1, dtype=np.int32)
        at = pc.index_in(keys, value_set=self.keys)
        at = pc.fill_null(at, -1).to_numpy(zero_copy_only=False)
        return np.where(at >= 0, self.ids[np.maximum(at, 0)], -1).astype(np.int32)

    def plus(self, keys: pa.Array, ids: np.ndarray) -> "_Generation":
        if not len(self.keys):
            return _Generation(keys.cast(pa.string()), ids.astype(np.int32))
        return _Generation(pa.concat_arrays([self.keys, keys.cast(pa.string())]), np.concatenate([self.ids, ids.astype(np.int32)]))

    def __len__(self) -> int:
        return len(self.keys)


_NO_GENERATION = _Generation(pa.array([], pa.string()), np.zeros(0, dtype=np.int32))


class VerdictCache:
    """value -> verdict id for one variable, bounded in two generations: values seen again
    move to the young one; when it is full it becomes the old one and the previous old one is
    dropped (an LRU by count, without per-hit bookkeeping). A whole column of values is looked
    up at once (Arrow's `index_in`), never value by value in Python."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._young = _NO_GENERATION
        self._old = _NO_GENERATION
        self._lock = threading.Lock()  # the pipeline may score two batches at once

    def lookup(self, keys: pa.Array) -> np.ndarray:
        """The verdict id of each key, -1 where it is not known."""
        with self._lock:
            young, old = self._young, self._old
        ids = young.find(keys)
        missing = np.flatnonzero(ids < 0)
        if len(missing) and len(old):
            again = old.find(keys.take(pa.array(missing, pa.int64())))
            back = np.flatnonzero(again >= 0)
            if len(back):
                ids[missing[back]] = again[back]
                self.store(keys.take(pa.array(missing[back], pa.int64())), again[back])
        return ids

    def store(self, keys: pa.Array, ids: np.ndarray) -> None:
        with self._lock:
            self._young = self._young.plus(keys, ids)
            if len(self._young) > self.limit:
                self._old, self._young = self._young, _NO_GENERATION

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
        self._cells = np.full((len(requirements), 1024), -1, dtype=np.int8)  # per condition, per row:
        # one condition's cells are contiguous, so its look-up is a plain gather
        self._lock = threading.Lock()
        self._active = 0  # batches in flight

    def begin(self) -> None:
        """A batch starts: forget every signature once more than `limit` are known, unless
        another batch holds rows."""
        with self._lock:
            if self._active == 0 and len(self._keys) > self.limit:
                self._keys, self._at = self._keys[:0], self._at[:0]
                self._cells = np.full((self._cells.shape[0], 1024), -1, dtype=np.int8)
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
        if first + len(new) > self._cells.shape[1]:
            grown = np.full((self._cells.shape[0], 2 * (first + len(new))), -1, dtype=np.int8)
            grown[:, : self._cells.shape[1]] = self._cells
            self._cells = grown
        keys = np.concatenate([self._keys, new])
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._at = np.concatenate([self._at, np.arange(first, first + len(new))])[order]

    def admitted(self, column: int, signatures_: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per value (its table row at `rows`; `signatures_[i]` the signature of the value at
        `rows[i]`): may it match condition `column`?"""
        if self.everything[column]:
            return np.ones(len(rows), dtype=bool)
        cells = self._cells[column][rows]
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
                self._cells[column, pending] = found
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
        self._rule_of_column = np.array(sorted(conds), dtype=np.int64)
        self._words = max(1, (len(conds) + 63) // 64)  # a verdict as a bit set over the columns
        self._ids: dict[bytes, int] = {bytes(8 * self._words): 0}  # verdict bit set -> id
        self._verdict_of: list[Verdict] = [()]  # id -> verdict
        self._intern_lock = threading.Lock()

    def verdicts(self, values: dict[str, pa.Array]) -> dict[str, np.ndarray]:
        """Per variable of `values` (its distinct values), the verdict id of each value
        (`verdict`, `masks`). The pipeline may prepare two batches on two threads: the verdict
        caches tolerate it (a value evaluated twice at worst), the signature table is built for it."""
        self.table.begin()
        try:
            return self._verdicts(values)
        finally:
            self.table.end()

    def verdict(self, id_: int) -> Verdict:
        return self._verdict_of[id_]

    def masks(self, ids: np.ndarray) -> dict[int, np.ndarray]:
        """Per rule whose first condition some value satisfies: which values (by position in `ids`)."""
        if not len(ids):
            return {}
        present = np.flatnonzero(np.bincount(ids))
        holders: dict[int, list[int]] = {}  # rule -> the verdict ids that hold it (few per batch)
        for id_ in present[present > 0].tolist():
            for rule in self._verdict_of[id_]:
                holders.setdefault(rule, []).append(id_)
        out: dict[int, np.ndarray] = {}
        for rule, held in holders.items():
            table = np.zeros(len(self._verdict_of), dtype=bool)
            table[held] = True
            out[rule] = table[ids]
        return out

    def _verdicts(self, values: dict[str, pa.Array]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unknown: dict[str, np.ndarray] = {}
        for source, distinct in values.items():
            found[source] = self.caches[source].lookup(distinct)
            unknown[source] = np.flatnonzero(found[source] < 0)
        pending = [source for source in values if len(unknown[source])]
        if pending:
            pooled = pa.concat_arrays([values[s].take(pa.array(unknown[s], pa.int64())) for s in pending])
            owner = np.repeat([self.sources.index(s) for s in pending], [len(unknown[s]) for s in pending])
            ids = np.concatenate([  # bounded memory for a first, all-new batch
                self._intern(self._evaluate(pooled.slice(start, _SLICE), owner[start : start + _SLICE]))
                for start in range(0, len(pooled), _SLICE)
            ])  # fmt: skip
            start = 0
            for source in pending:
                todo = unknown[source]
                part = ids[start : start + len(todo)]
                self.caches[source].store(pooled.slice(start, len(todo)), part)
                found[source][todo] = part
                start += len(todo)
        return found

    def _intern(self, bits: np.ndarray) -> np.ndarray:
        """The verdict id of each row of a bit set matrix (values x words); the distinct
        verdicts of a slice are few, so they are named in Python, the values never are."""
        ids = np.zeros(len(bits), dtype=np.int32)
        rows = np.flatnonzero(bits.any(axis=1))
        if not len(rows):
            return ids
        distinct, inverse = np.unique(bits[rows], axis=0, return_inverse=True)
        named = np.array([self._id_of(row) for row in distinct], dtype=np.int32)
        ids[rows] = named[inverse.reshape(-1)]
        return ids

    def _id_of(self, row: np.ndarray) -> int:
        key = row.tobytes()
        found = self._ids.get(key)
        if found is None:
            with self._intern_lock:
                found = self._ids.get(key)
                if found is None:
                    columns = [w * 64 + b for w in range(self._words) for b in range(64) if int(row[w]) >> b & 1]
                    found = len(self._verdict_of)
                    self._verdict_of.append(tuple(int(r) for r in self._rule_of_column[columns]))
                    self._ids[key] = found
        return found

    def _evaluate(self, values: pa.Array, owner: np.ndarray) -> np.ndarray:
        """Per value, the conditions it satisfies as a bit set (values x words, bit = column)."""
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
        bits = np.zeros((len(values), self._words), dtype=np.uint64)
        gathered: dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}
        for rule, cond, owners in self.conditions:
            member = member_of(tuple(owners))
            if not len(member):
                continue
            matched = np.zeros(len(values), dtype=bool)
            for stage in cond.stages():  # multiMatch: any stage of the chain (negated: any that fails)
                staged = chains.get(stage)
                key = (stage, tuple(owners))  # rules reading the same variables through one chain
                if key not in gathered:
                    gathered[key] = (staged.signature[member], staged.rows[member])
                admitted = member[self.table.admitted(self.columns[rule], *gathered[key])]
                hit = np.zeros(len(values), dtype=bool)
                if len(admitted):
                    hit[admitted] = cond.run(chains.take(staged.where[admitted]))
                if cond.negated:
                    hit[member] = ~hit[member]
                matched |= hit
            column = self.columns[rule]
            bits[matched, column >> 6] |= np.uint64(1 << (column & 63))
        return bits
