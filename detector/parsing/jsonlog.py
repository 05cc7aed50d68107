"""JSON lines application logs, decoded by Arrow's C++ JSON reader a block at a time.

Nested objects are flattened with dots (`{"http": {"status": 500}}` -> `http.status`); every key
is kept as a string column next to the ECS fields it maps to (see fieldmap.py).

The reader fails a whole block on one bad line or when a key changes type between lines. Lines
that cannot be a JSON object (not `{...}`) are set aside first; a key whose values mix numbers or
booleans with strings is repaired by quoting its scalars in that block; whatever still fails is
split in halves until the bad lines stand alone (`bad-json`). A clean block is read once.
Arrow also turns strings that look like second-precision timestamps into timestamps (dropping
their zone), so such keys are re-read as plain strings.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from detector.parsing.access import outcome_from_status
from detector.parsing.arrowtext import constant, mask_of, scatter, when
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.catalog import classify_messages, merge_into
from detector.parsing.fieldmap import has_time_key, map_fields, select_keys
from detector.parsing.jsontext import as_text
from detector.parsing.result import BAD_JSON, Verdicts, build_result

MAX_KEYS = 256
PROBE_LINES = 2048
PROBE_BYTES = 256 << 10
#: Keys seen once in the probe that a frozen reader still keeps (optional keys of a sane log).
FROZEN_RARE_KEYS = 32
MAX_REPAIRS = 8
_TYPE_WORDS = ("number", "boolean", "string")

Path = tuple[str, ...]


class _Reader:
    """Reads blocks of JSON lines, learning which keys must stay strings as it goes.

    Once `freeze` is called it reads only the keys it was given and ignores the others: Arrow's
    reader costs lines x distinct keys, and hostile content (logged query parameters, headers)
    can bring a new key on every line.
    """

    def __init__(self) -> None:
        self.string_paths: set[Path] = set()
        self.frozen: dict[Path, pa.DataType] | None = None

    def freeze(self, leaves: dict[Path, pa.DataType]) -> None:
        self.frozen = leaves

    def _options(self) -> pj.ParseOptions:
        if self.frozen is not None:
            leaves = {path: pa.string() if path in self.string_paths else kind for path, kind in self.frozen.items()}
            return pj.ParseOptions(explicit_schema=_nested_schema(leaves), unexpected_field_behavior="ignore")
        schema = _nested_schema(dict.fromkeys(self.string_paths, pa.string())) if self.string_paths else None
        return pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")

    def read(self, lines: pa.Array) -> pa.Table | None:
        """The block as a table, or None when it cannot be read as a whole."""
        text = lines
        repairs = 0
        while True:
            try:
                table = pj.read_json(
                    pa.BufferReader(_joined(text)),
                    read_options=pj.ReadOptions(use_threads=False, block_size=_block_size(text)),
                    parse_options=self._options(),
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                key = _mixed_scalar_key(str(error))
                if key is None or repairs >= MAX_REPAIRS:
                    return None
                repairs += 1
                text = _quote_scalars(text, key)
                continue
            stamps = {path for path, kind in _leaves(table.schema) if pa.types.is_timestamp(kind)} - self.string_paths
            if not stamps:
                return table
            self.string_paths |= stamps


def _block_size(text: pa.Array) -> int:
    data = text.buffers()[2]
    return max(1 << 16, (data.size if data is not None else 0) + len(text) + 1)


def _joined(text: pa.Array) -> pa.Buffer:
    """The lines as one newline-separated buffer."""
    with_newlines = pc.binary_join_element_wise(text, "", "\n")
    offsets = np.frombuffer(with_newlines.buffers()[1], dtype=np.int32)
    start = offsets[with_newlines.offset]
    stop = offsets[with_newlines.offset + len(with_newlines)]
    return with_newlines.buffers()[2].slice(start, stop - start)


def _leaves(schema: pa.Schema) -> list[tuple[Path, pa.DataType]]:
    """Leaf fields (through nested objects) in the order `Table.flatten` lays them out."""
    found: list[tuple[Path, pa.DataType]] = []

    def walk(field: pa.Field, prefix: Path) -> None:
        path = (*prefix, field.name)
        if pa.types.is_struct(field.type):
            for child in field.type:
                walk(child, path)
        else:
            found.append((path, field.type))

    for field in schema:
        walk(field, ())
    return found


def _nested_schema(leaves: dict[Path, pa.DataType]) -> pa.Schema:
    """An explicit schema holding these leaf paths (nested objects rebuilt as structs)."""

    def fields(level: dict[Path, pa.DataType]) -> list[pa.Field]:
        heads: dict[str, dict[Path, pa.DataType]] = {}
        for path, kind in level.items():
            heads.setdefault(path[0], {})[path[1:]] = kind
        return [
            pa.field(name, rests[()]) if () in rests else pa.field(name, pa.struct(fields(rests)))
            for name, rests in heads.items()
        ]

    return pa.schema(fields(leaves))


def _mixed_scalar_key(message: str) -> str | None:
    """The key named in `Column(/a/b) changed from number to string`, if both sides are scalars."""
    _, found, rest = message.partition("Column(")
    if not found:
        return None
    path, _, detail = rest.partition(") changed from ")
    before, _, after = detail.partition(" to ")
    after = after.split(" ", 1)[0]
    if before not in _TYPE_WORDS or after not in _TYPE_WORDS or path.endswith("[]"):
        return None
    key = path.rsplit("/", 1)[-1]
    return key or None


def _quote_scalars(text: pa.Array, key: str) -> pa.Array:
    """Turn `"key": 12` / `"key": true` into `"key": "12"` / `"key": "true"` (RE2, whole column)."""
    # `re.escape` only builds the pattern for a key name; log text itself is matched by RE2.
    pattern = '("' + re.escape(key) + r'"\s*:\s*)(-?[0-9][0-9.eE+-]*|true|false)'
    return pc.replace_substring_regex(text, pattern, r'\1"\2"')


def _flat_text_columns(table: pa.Table) -> dict[str, pa.Array]:
    """Nested objects flattened with dots, every value as text."""
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return {name: as_text(table.column(name).combine_chunks()) for name in table.column_names}


def _bisect(reader: _Reader, text: pa.Array) -> tuple[list[tuple[np.ndarray, pa.Table]], list[int]]:
    """Read `text`, halving what fails until bad lines stand alone: (positions, table) pieces, bad positions."""
    pieces: list[tuple[np.ndarray, pa.Table]] = []
    bad: list[int] = []
    pending = [(0, len(text))]
    while pending:
        low, high = pending.pop()
        table = reader.read(text.slice(low, high - low))
        if table is not None and table.num_rows == high - low:
            pieces.append((np.arange(low, high), table))
        elif high - low == 1:
            bad.append(low)
        else:
            middle = (low + high) // 2
            pending.extend([(middle, high), (low, middle)])
    return pieces, bad


def _probe(reader: _Reader, text: pa.Array) -> None:
    """Read a sample spread over the block; when the key space looks open-ended (estimated from
    the keys seen only once, Good-Turing style), freeze the reader on the sample's keys: the ones
    seen more than once and a few seen once. Keys the sample never saw are then left out (they
    stay in `log.original`); that bounds the cost of hostile keys to about one sample's worth."""
    stride = max(1, len(text) // PROBE_LINES)
    sample = text.take(pa.array(np.arange(0, len(text), stride)[:PROBE_LINES]))
    sizes = np.cumsum(pc.binary_length(sample).to_numpy(zero_copy_only=False))
    sample = sample.slice(0, max(1, int(np.searchsorted(sizes, PROBE_BYTES, side="right"))))
    pieces, _ = _bisect(_Reader(), sample)
    counts: dict[Path, int] = {}
    types: dict[Path, pa.DataType] = {}
    rows = 0
    for _, table in pieces:
        rows += table.num_rows
        flat = table
        while any(pa.types.is_struct(field.type) for field in flat.schema):
            flat = flat.flatten()
        for (path, kind), column in zip(_leaves(table.schema), flat.columns, strict=True):
            counts[path] = counts.get(path, 0) + len(column) - column.null_count
            types.setdefault(path, pa.string() if pa.types.is_null(kind) else kind)
    once = [path for path, count in counts.items() if count <= 1]
    expected_keys = len(counts) + len(once) * len(text) / max(rows, 1)
    if expected_keys > MAX_KEYS / 2:
        common = sorted((path for path in counts if counts[path] > 1), key=lambda path: -counts[path])[:MAX_KEYS]
        reader.freeze({path: types[path] for path in common + once[:FROZEN_RARE_KEYS]})


def _decode(text: pa.Array) -> tuple[list[tuple[np.ndarray, dict[str, pa.Array]]], list[int]]:
    """Decode lines into pieces of (positions, text columns); positions of undecodable lines."""
    reader = _Reader()
    _probe(reader, text)
    pieces, bad = _bisect(reader, text)
    return [(positions, _flat_text_columns(table)) for positions, table in pieces], bad


def _merge(pieces: list[tuple[np.ndarray, dict[str, pa.Array]]], rows: np.ndarray, length: int) -> dict[str, pa.Array]:
    """Full-length string columns from the decoded pieces (a key missing in a piece is null there)."""
    if not pieces:
        return {}
    counts: dict[str, int] = {}
    for _, columns in pieces:
        for name, values in columns.items():
            counts[name] = counts.get(name, 0) + len(values) - values.null_count
    keep = select_keys(counts, MAX_KEYS)
    positions = rows[np.concatenate([where for where, _ in pieces])]
    merged: dict[str, pa.Array] = {}
    for name in counts:
        if name not in keep:
            continue
        parts = [columns.get(name, pa.nulls(len(where), pa.string())) for where, columns in pieces]
        merged[name] = scatter(pa.concat_arrays(parts), positions, length)
    return merged


def parse_json(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    length = len(lines)
    verdicts = Verdicts(length)
    trimmed = pc.utf8_trim_whitespace(lines)
    shaped = mask_of(pc.starts_with(trimmed, "{")) & mask_of(pc.ends_with(trimmed, "}"))
    rows = np.flatnonzero(shaped)
    pieces, bad = _decode(lines.take(pa.array(rows))) if len(rows) else ([], [])
    undecodable = ~shaped
    undecodable[rows[bad]] = True
    verdicts.fail(undecodable, BAD_JSON)
    columns = _merge(pieces, rows, length)
    fields, timestamp = map_fields(columns, length, ctx.timezone)
    untimed = ~has_time_key(columns, length)
    if untimed.any():  # no time key at all: the file's time, and say so
        mtime = pa.scalar(ctx.file_mtime, pa.timestamp("us", tz="UTC")).cast(timestamp.type)
        timestamp = pc.if_else(pa.array(untimed), mtime, timestamp)
        fields["log.time_source"] = when(pa.array(untimed), constant("file-mtime", length))
    kind = _http_requests(fields, _web_server_rows(columns, fields, length), length)
    process = fields.get("process.name")
    if process is not None and process.null_count < length and "message" in fields:
        # a program's messages (journald exports): what the catalog says about them
        kind = pc.coalesce(merge_into(fields, classify_messages(fields["message"], process)), kind)
    return build_result(fields, verdicts, fmt, ctx.kind or kind, timestamp)


#: Keys only web servers and proxies write (caddy, traefik, load balancers, nginx `escape=json`).
WEB_SERVER_KEYS = (
    "request.uri", "requestpath", "downstreamstatus", "elb_status_code", "request_uri", "http_user_agent",
    "request_user-agent", "request.headers.user-agent",
)


def _web_server_rows(columns: dict[str, pa.Array], fields: dict[str, pa.Array], length: int) -> np.ndarray:
    """Rows written by a web server rather than by an application: a User-Agent, or a key only
    web servers write (an application's own request log has neither)."""
    found = mask_of(pc.is_valid(fields["user_agent.original"])) if "user_agent.original" in fields else np.zeros(length, dtype=bool)
    for name, values in columns.items():
        if name.lower() in WEB_SERVER_KEYS:
            found |= mask_of(pc.is_valid(values))
    return found


def _http_requests(fields: dict[str, pa.Array], web: np.ndarray, length: int) -> pa.Array:
    """Web servers' JSON access logs: rows with a method, a status and a URL written by a web
    server are `access` rows with `event.action` http-request (application rows stay as they are)."""
    http = web & mask_of(pc.is_valid(fields["http.request.method"]))
    http &= mask_of(pc.is_valid(fields["http.response.status_code"])) & mask_of(pc.is_valid(fields["url.original"]))
    if not http.any():
        return constant("application", length)
    mask = pa.array(http)
    fields["event.action"] = pc.coalesce(fields["event.action"], when(mask, constant("http-request", length)))
    status_outcome = outcome_from_status(fields["http.response.status_code"])
    fields["event.outcome"] = pc.coalesce(fields["event.outcome"], when(mask, status_outcome))
    return pc.if_else(mask, "access", "application")
