"""Classify messages with the catalog, vectorized: rows grouped by service, then each template
only on the rows still unclaimed that start with one of its literal prefixes (or, for templates
that start variably, that pass the service's combined RE2 prefilter). The first template that
matches a row claims it (catalog order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import as_string_array, mask_of, to_int, valid_mask
from detector.parsing.catalog.addresses import addresses_ok
from detector.parsing.catalog.distinct import distinct_rows
from detector.parsing.catalog.extract import extract
from detector.parsing.catalog.model import Service, Template
from detector.parsing.catalog.screen import candidates, first_bytes
from detector.schema import ECS_FIELDS, INTEGER_FIELDS, LOG_KINDS

_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z0-9_]+>")
_KINDS = pa.array([*LOG_KINDS, None], pa.string())
#: Columns a classified batch always has (a service's other fields only when it saw lines).
BASE_FIELDS = ("event.action", "event.outcome", "event.category", "user.name", "source.ip", "source.port")
#: ECS says these are lower case (`tcp`, not the `TCP` of a kernel log).
LOWER_CASE_FIELDS = frozenset({"network.transport"})


@dataclass(frozen=True)
class Classified:
    """ECS columns the templates set (full length, null where nothing matched), the `log.kind`
    and `event.dataset` (service name) of every row that belongs to a service."""

    columns: dict[str, pa.Array]
    kind: pa.Array
    dataset: pa.Array
    matched: np.ndarray


class _Claims:
    """Field values per row, gathered template by template; each row is claimed once, so all
    fields share one mapping from row to position in the concatenated pieces."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.claimed = np.zeros(length, dtype=bool)
        self.rows: list[np.ndarray] = []
        self.values: list[dict[str, pa.Array | str]] = []  # a str: that value on every row

    def add(self, rows: np.ndarray, values: dict[str, pa.Array | str]) -> None:
        self.claimed[rows] = True
        self.rows.append(rows)
        self.values.append(values)

    def mark(self) -> tuple[np.ndarray, int]:
        """What `reset` goes back to."""
        return self.claimed.copy(), len(self.rows)

    def reset(self, mark: tuple[np.ndarray, int]) -> None:
        """Forget the claims made since `mark`."""
        self.claimed = mark[0].copy()
        del self.rows[mark[1] :], self.values[mark[1] :]

    def columns(self, names: frozenset[str], spread: np.ndarray | None = None) -> dict[str, pa.Array]:
        """Full-length columns for `names` (null where no template set them); with `spread`,
        row i of each column is row spread[i] of the claims (one take, not two)."""
        names = names | {name for values in self.values for name in values}
        length = self.length if spread is None else len(spread)
        if not self.rows:
            return {name: pa.nulls(length, ECS_FIELDS.get(name, pa.string())) for name in sorted(names)}
        position = np.full(self.length, -1, dtype=np.int64)
        position[np.concatenate(self.rows)] = np.arange(sum(len(rows) for rows in self.rows))
        if spread is not None:
            position = position[spread]
        missing = position < 0
        where = pa.array(np.where(missing, 0, position), mask=missing)
        columns = {}
        for name in sorted(names):
            kind = ECS_FIELDS.get(name, pa.string())
            present = [values.get(name) for values in self.values]
            if all(value is None for value in present):
                columns[name] = pa.nulls(length, kind)
            elif all(value is None or isinstance(value, str) for value in present):
                columns[name] = self._constants(present, kind, spread)
            else:
                parts = [self._piece(value, len(rows), kind) for rows, value in zip(self.rows, present, strict=True)]
                columns[name] = pa.concat_arrays(parts).take(where)
        return columns

    @staticmethod
    def _piece(value: pa.Array | str | None, count: int, kind: pa.DataType) -> pa.Array:
        if value is None:
            return pa.nulls(count, kind)
        if isinstance(value, str):
            return pa.repeat(pa.scalar(int(value) if pa.types.is_integer(kind) else value, kind), count)
        return value.cast(kind)

    def _constants(self, present: list[str | None], kind: pa.DataType, spread: np.ndarray | None) -> pa.Array:
        """A column whose every piece is one value: codes in numpy, one take from a tiny array."""
        words = sorted({value for value in present if value is not None})
        codes = np.full(self.length, len(words), dtype=np.int64)
        for rows, value in zip(self.rows, present, strict=True):
            if value is not None:
                codes[rows] = words.index(value)
        values = [int(word) for word in words] if pa.types.is_integer(kind) else words
        return pa.array([*values, None], kind).take(pa.array(codes if spread is None else codes[spread]))


def prefilter_pattern(templates: tuple[Template, ...]) -> str:
    """One RE2 pattern matching what any of the templates matches (no captures: DFA speed)."""
    bodies = [_NAMED_GROUP.sub("(?:", t.pattern[1:]) for t in templates]
    return "^(?:" + "|".join(bodies) + ")"


def _captures(template: Template, match: pa.StructArray) -> dict[str, pa.Array]:
    """Captured text per ECS field (several groups for one field: the first that took part)."""
    fields: dict[str, pa.Array] = {}
    for name, target in template.groups:
        found = pc.struct_field(match, name)
        found = pc.if_else(pc.equal(found, ""), pa.scalar(None, pa.string()), found)
        if target in LOWER_CASE_FIELDS:
            found = pc.utf8_lower(found)
        fields[target] = pc.coalesce(fields[target], found) if target in fields else found
    return fields


def _values(template: Template, captures: dict[str, pa.Array], ok: np.ndarray) -> dict[str, pa.Array | str]:
    """What the template sets on the rows where `ok`: captured arrays, and constants as text."""
    selector = None if ok.all() else pa.array(ok)
    fields: dict[str, pa.Array | str] = {}
    for target, found in captures.items():
        found = found if selector is None else found.filter(selector)
        fields[target] = to_int(found) if target in INTEGER_FIELDS else found
    fields.update(dict(template.constants))
    fields["event.action"] = template.action
    fields["event.outcome"] = template.outcome
    if template.category:
        fields["event.category"] = template.category
    return fields


def _match_service(
    service: Service,
    rows: np.ndarray,
    text: pa.Array,
    heads: np.ndarray,
    claims: _Claims,
    kinds: np.ndarray,
    prefilter: str,
) -> np.ndarray:
    """Run `service`'s templates over its rows (`text` = their messages); the rows it claimed.

    Captured addresses are checked once for the whole service, after its templates claimed
    their rows (16 regex calls a batch were 0.11 s on auth-attack 1M, mostly compiling). A
    capture that is no address, which real logs hardly have, would have left its row to later
    templates: then the service runs again with each template checking its own."""
    saved = claims.mark(), kinds.copy()
    addresses: list[pa.Array] = []
    claimed = _run_templates(service, rows, text, heads, claims, kinds, prefilter, addresses)
    if addresses and not addresses_ok(pa.concat_arrays(addresses)).all():
        claims.reset(saved[0])
        kinds[:] = saved[1]
        claimed = _run_templates(service, rows, text, heads, claims, kinds, prefilter, None)
    return claimed


def _run_templates(
    service: Service,
    rows: np.ndarray,
    text: pa.Array,
    heads: np.ndarray,
    claims: _Claims,
    kinds: np.ndarray,
    prefilter: str,
    addresses: list[pa.Array] | None,
) -> np.ndarray:
    """The templates in order, each on the rows still open; address captures are checked per
    template, or, with `addresses`, only collected there (claimed rows' values)."""
    claimed: list[np.ndarray] = []
    open_rows = ~claims.claimed[rows]
    cache: list[np.ndarray] = []
    whole = len(text) != len(rows)  # `text` is the whole batch: index it by row numbers

    def prefiltered() -> np.ndarray:
        if not cache:
            own = text.take(pa.array(rows)) if whole else text
            cache.append(mask_of(pc.match_substring_regex(own, prefilter)))
        return cache[0]

    for template in service.templates:
        candidate = candidates(template, heads, open_rows, prefiltered)
        if not candidate.any():
            continue
        index = np.flatnonzero(candidate)
        subset = text.take(pa.array(rows[index] if whole else index))
        if template.groups:
            match, ok = extract(subset, template.pattern)
            captures = _captures(template, match)
        else:  # nothing to capture: the DFA alone answers, several times faster
            ok, captures = mask_of(pc.match_substring_regex(subset, template.pattern)), {}
        for target, condition in template.conditions:
            ok &= mask_of(pc.match_substring_regex(captures[target], condition))
        if addresses is None:
            for target in template.addresses:  # an address-shaped capture must be an address
                ok &= addresses_ok(captures[target])
        if not ok.any():
            continue
        if addresses is not None:
            selector = None if ok.all() else pa.array(ok)
            for target in template.addresses:
                addresses.append(captures[target] if selector is None else captures[target].filter(selector))
        hit = index[ok]
        open_rows[hit] = False
        claims.add(rows[hit], _values(template, captures, ok))
        claimed.append(rows[hit])
        kind = template.kind or service.kind
        if kind is not None:
            kinds[rows[hit]] = LOG_KINDS.index(kind)
        if not open_rows.any():
            break
    return np.concatenate(claimed) if claimed else np.zeros(0, dtype=np.int64)


def _owner(values: pa.Array, owners: dict[str, int]) -> np.ndarray:
    """Per row, the index of the service that owns its value (process name), or -1.

    Names ending in `*` own every name with that prefix (`postfix/*`); exact names win."""
    if not owners or values.null_count == len(values):
        return np.full(len(values), -1, dtype=np.int64)
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary
    exact = {name: index for name, index in owners.items() if not name.endswith("*")}
    per_value = np.full(len(distinct), -1, dtype=np.int64)
    for name, index in owners.items():
        if name.endswith("*"):
            per_value[mask_of(pc.starts_with(distinct, name[:-1])) & (per_value < 0)] = index
    if exact:
        slots = pc.index_in(distinct, value_set=pa.array(list(exact), pa.string()))
        hit = valid_mask(slots)
        service_of = np.array(list(exact.values()), dtype=np.int64)
        per_value[hit] = service_of[slots.filter(pa.array(hit)).to_numpy(zero_copy_only=False)]
    indices = encoded.indices
    valid = valid_mask(indices)
    result = np.full(len(values), -1, dtype=np.int64)
    if valid.any():
        result[valid] = per_value[indices.filter(pa.array(valid)).to_numpy(zero_copy_only=False)]
    return result


def _service_rows(
    index: int, service: Service, owner: np.ndarray, formats: np.ndarray, has_message: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(rows the service owns: kind and dataset are its own; rows its templates are tried on).

    A program belongs to one service. Lines without a program (a daemon's own log file) are
    tried against every service that lists their format; `*` services see every line."""
    if service.any_program:
        return np.zeros(0, dtype=np.int64), np.flatnonzero(has_message)
    owned = np.flatnonzero(owner == index)
    if service.formats:
        by_format = np.isin(formats, [FORMAT_CODES.get(f, -2) for f in service.formats]) & (owner < 0)
        return owned, np.union1d(owned, np.flatnonzero(by_format & has_message))
    return owned, owned[has_message[owned]]


FORMAT_CODES: dict[str, int] = {}


def _format_codes(log_format: pa.Array | None, length: int) -> np.ndarray:
    """Per row, a small integer for its log format (FORMAT_CODES), -1 without one."""
    if log_format is None:
        return np.full(length, -1, dtype=np.int64)
    encoded = pc.dictionary_encode(log_format)
    for name in encoded.dictionary.to_pylist()[:64]:
        FORMAT_CODES.setdefault(name, len(FORMAT_CODES))
    codes = np.array([FORMAT_CODES.get(name, -1) for name in encoded.dictionary.to_pylist()[:64]] + [-1])
    indices = pc.fill_null(encoded.indices, len(codes) - 1).to_numpy(zero_copy_only=False)
    return codes[np.minimum(indices, len(codes) - 1)]


def classify(
    services: tuple[Service, ...],
    prefilters: tuple[str, ...],
    message: pa.Array,
    process: pa.Array | None = None,
    log_format: pa.Array | None = None,
) -> Classified:
    """What the catalog says about each message (see Classified). A row's result depends on
    its message, program and format alone, so a batch of repeated lines is classified once
    per distinct row and the result taken back to every row."""
    message = as_string_array(message)
    distinct = distinct_rows(message, process, log_format)
    if distinct is None:
        return _classify(services, prefilters, message, process, log_format)
    first, inverse = distinct
    pick = pa.array(first)
    return _classify(
        services,
        prefilters,
        message.take(pick),
        process.take(pick) if process is not None else None,
        log_format.take(pick) if log_format is not None else None,
        spread=inverse,
    )


def _classify(
    services: tuple[Service, ...], prefilters: tuple[str, ...], message: pa.Array, process: pa.Array | None,
    log_format: pa.Array | None, spread: np.ndarray | None = None,
) -> Classified:
    """Every row on its own (`classify` hands it the distinct rows of a repetitive batch, and
    in `spread` the distinct row of each of the batch's rows, to build the batch's columns
    from)."""
    length = len(message)
    claims = _Claims(length)
    kinds = np.full(length, -1, dtype=np.int64)
    dataset = np.full(length, -1, dtype=np.int64)
    has_message = valid_mask(message)
    by_program = {p: i for i, s in enumerate(services) for p in s.programs if p != "*"}
    owner = _owner(process, by_program) if process is not None else np.full(length, -1, dtype=np.int64)
    formats = _format_codes(log_format, length)
    message = as_string_array(message)
    heads = first_bytes(message)
    fields = set(BASE_FIELDS)
    for index, service in enumerate(services):
        owned, rows = _service_rows(index, service, owner, formats, has_message)
        if len(rows):
            fields |= service.fields
        dataset[owned] = index
        if service.kind is not None:
            kinds[owned] = LOG_KINDS.index(service.kind)
        if len(rows):
            hit = _match_service(service, rows, message, heads[rows], claims, kinds, prefilters[index])
            dataset[hit[dataset[hit] < 0]] = index
    names = pa.array([s.name for s in services] + [None], pa.string())
    matched = claims.claimed
    if spread is not None:
        kinds, dataset, matched = kinds[spread], dataset[spread], matched[spread]
    return Classified(
        columns=claims.columns(frozenset(fields), spread),
        kind=_KINDS.take(pa.array(np.where(kinds >= 0, kinds, len(LOG_KINDS)))),
        dataset=names.take(pa.array(np.where(dataset >= 0, dataset, len(services)))),
        matched=matched,
    )
