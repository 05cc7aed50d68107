"""CRS transformations (`t:...`) over whole Arrow string arrays, never a Python loop per row.

The CRS stage applies them to the distinct values of a variable, so each transformed column
is computed once per batch and shared by every rule naming the same chain. The decoders whose
output depends on numeric escapes (`&#x3c;`, `\\u003c`, `%u003c`, CSS and C escapes, Base64,
UTF-8 to `%uHHHH`) run RE2 to find the few values that carry such escapes and decode only
those in Python (`_python_rows`): benign traffic rarely has them, and each distinct value is
decoded once per batch (see docs/crs.md for measured shares).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.detection.crs.charsets import CONTROL, HIGH, NBSP_BYTE, SPACE, kinds_of_text, signatures
from detector.parsing.arrowtext import fill_rows, holding_bytes, mask_of
from detector.parsing.urldecode import percent_decode

Transform = Callable[[pa.Array], pa.Array]

_SPACE = r"[\t\n\x0b\f\r \x{a0}]"


def _python_rows(values: pa.Array, trigger: str, decode: Callable[[str], str], needs: bytes | None = None) -> pa.Array:
    """`decode` applied to the values matching RE2 `trigger` only (the rest stays as it is).
    `needs`: bytes one of which every match of `trigger` holds; the search runs only on the
    values that hold one (a numpy pass over the bytes is cheaper than the regex kernel)."""
    if needs is None:
        hit = mask_of(pc.match_substring_regex(values, trigger))
    else:
        hit = holding_bytes(values, needs)
        candidates = np.flatnonzero(hit)
        if len(candidates):
            hit[candidates] = mask_of(pc.match_substring_regex(values.take(pa.array(candidates)), trigger))
    if not hit.any():
        return values
    rows = np.flatnonzero(hit)
    decoded = [decode(text) for text in values.take(pa.array(rows)).to_pylist()]
    return fill_rows(values, rows, pa.array(decoded, pa.string()))


def _low_byte(code: int) -> str:
    """ModSecurity's `%uHHHH`/`\\uHHHH`: the low byte, full-width ASCII (U+FF01-FF5E) folded."""
    low = code & 0xFF
    if code >> 8 == 0xFF and 0x01 <= low <= 0x5E:
        low += 0x20
    return chr(low)


_PCT_U = re.compile(r"%[uU]([0-9a-fA-F]{4})")


def url_decode_uni(values: pa.Array) -> pa.Array:
    values = _python_rows(
        values, r"%[uU][0-9a-fA-F]{4}", lambda s: _PCT_U.sub(lambda m: _low_byte(int(m.group(1), 16)), s), b"%"
    )
    return percent_decode(values, plus_as_space=True)


def url_decode(values: pa.Array) -> pa.Array:
    return percent_decode(values, plus_as_space=True)


_ENTITY = re.compile(r"&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(quot|amp|lt|gt|nbsp|apos));?", re.I)
_NAMED = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "apos": "'"}


def _entity(match: re.Match[str]) -> str:
    if match.group(3):
        return _NAMED[match.group(3).lower()]
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    return chr(code & 0xFF)  # ModSecurity keeps one byte of a numeric entity


def html_entity_decode(values: pa.Array) -> pa.Array:
    return _python_rows(values, r"(?i)&(?:#|quot|amp|lt|gt|nbsp|apos)", lambda s: _ENTITY.sub(_entity, s), b"&")


_JS = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|([0-7]{1,3})|(.))", re.S)
_JS_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _js(match: re.Match[str]) -> str:
    if match.group(1):
        return _low_byte(int(match.group(1), 16))
    if match.group(2):
        return chr(int(match.group(2), 16))
    if match.group(3):
        return chr(int(match.group(3), 8) & 0xFF)
    return _JS_SIMPLE.get(match.group(4), match.group(4))


def js_decode(values: pa.Array) -> pa.Array:
    return _python_rows(values, r"\\", lambda s: _JS.sub(_js, s), b"\\")


_ESC = re.compile(r"\\(?:x([0-9a-fA-F]{1,2})|([0-7]{1,3})|([abfnrtv\\?'\"]))")


def _esc(match: re.Match[str]) -> str:
    if match.group(1):
        return chr(int(match.group(1), 16))
    if match.group(2):
        return chr(int(match.group(2), 8) & 0xFF)
    return _JS_SIMPLE.get(match.group(3), match.group(3))


def escape_seq_decode(values: pa.Array) -> pa.Array:
    return _python_rows(values, r"\\", lambda s: _ESC.sub(_esc, s), b"\\")


_CSS = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\f\r]?|(\n)|(.))", re.S)


def _css(match: re.Match[str]) -> str:
    if match.group(1):
        return _low_byte(int(match.group(1), 16))
    if match.group(2):
        return ""
    return match.group(3)


def css_decode(values: pa.Array) -> pa.Array:
    return _python_rows(values, r"\\", lambda s: _CSS.sub(_css, s), b"\\")


def utf8_to_unicode(values: pa.Array) -> pa.Array:
    return _python_rows(
        values, r"[^\x00-\x7f]", lambda s: "".join(c if ord(c) < 0x80 else f"%u{ord(c) & 0xFFFF:04x}" for c in s)
    )


_SEXTET = np.full(256, -1, dtype=np.int16)
for _value, _char in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"):
    _SEXTET[_char] = _value


def _leading_runs(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per value, the length of its leading run of Base64 characters."""
    invalid = np.append(np.flatnonzero(_SEXTET[data] < 0), len(data))  # with a sentinel at the end
    stop = invalid[np.searchsorted(invalid, starts)]  # first invalid byte at or after each start
    return np.minimum(stop, ends) - starts


def base64_decode(values: pa.Array) -> pa.Array:
    """ModSecurity's t:base64Decode: the leading Base64 run decoded (a dangling sixth bit group
    dropped), nothing when the value does not start with four Base64 characters; each decoded
    byte becomes one character (Latin-1), as the rules see bytes. Numpy over all values at once."""
    values = pc.fill_null(values, "").cast(pa.large_string())
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset : values.offset + n + 1]
    buffer = values.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    run = _leading_runs(data, starts, ends)
    run = np.where(run >= 4, run - (run % 4 == 1), 0)  # ModSecurity: at least four, no lone sextet
    groups = (run + 3) // 4
    out_lengths = run * 3 // 4  # 2 sextets -> 1 byte, 3 -> 2, 4 -> 3
    sextets = np.zeros(int(groups.sum()) * 4, dtype=np.int64)
    slot_start = np.concatenate(([0], np.cumsum(groups * 4)[:-1]))
    owner = np.repeat(np.arange(n), run)
    within = np.arange(int(run.sum())) - np.repeat(np.concatenate(([0], np.cumsum(run)[:-1])), run)
    sextets[slot_start[owner] + within] = _SEXTET[data[starts[owner] + within]]
    quads = sextets.reshape(-1, 4)
    triples = (quads[:, 0] << 18) | (quads[:, 1] << 12) | (quads[:, 2] << 6) | quads[:, 3]
    decoded = np.stack([(triples >> 16) & 0xFF, (triples >> 8) & 0xFF, triples & 0xFF], axis=1).reshape(-1)
    decoded_start = np.concatenate(([0], np.cumsum(groups * 3)[:-1]))
    owner = np.repeat(np.arange(n), out_lengths)
    within = np.arange(int(out_lengths.sum())) - np.repeat(np.concatenate(([0], np.cumsum(out_lengths)[:-1])), out_lengths)
    raw = decoded[decoded_start[owner] + within].astype(np.uint8)
    return _latin1(raw, out_lengths)


def _latin1(raw: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """Bytes (one character each, `lengths[i]` of them per value) as UTF-8 strings: a byte
    >= 0x80 becomes two bytes."""
    high = raw >= 0x80
    width = 1 + high.astype(np.int64)
    out = np.empty(int(width.sum()), dtype=np.uint8)
    position = np.cumsum(width) - width
    out[position] = np.where(high, 0xC0 | (raw >> 6), raw)
    out[position[high] + 1] = 0x80 | (raw[high] & 0x3F)
    offsets = np.concatenate(([0], np.cumsum(_sums(width, lengths)))).astype(np.int64)
    return pa.Array.from_buffers(pa.large_string(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(out)]).cast(pa.string())


def _sums(width: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per value, the sum of `width` over its `lengths[i]` consecutive bytes."""
    total = np.concatenate(([0], np.cumsum(width)))
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    return total[bounds[1:]] - total[bounds[:-1]]


def cmd_line(values: pa.Array) -> pa.Array:
    """ModSecurity t:cmdLine: drop `\\ " ' ^`, `,;` and white space to one space, no space
    before `/` or `(`, lower case."""
    values = pc.replace_substring_regex(values, r"[\\\"'^]", "")
    values = pc.replace_substring_regex(values, r"[,; \t\r\n]+", " ")
    values = pc.replace_substring_regex(values, r" ([/(])", r"\1")
    return pc.utf8_lower(values)


def replace_comments(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, r"/\*(?s:.*?)\*/|/\*(?s:.*)$", " ")


def remove_comments(values: pa.Array) -> pa.Array:
    values = pc.replace_substring_regex(values, r"/\*(?s:.*?)\*/|/\*(?s:.*)$|<!--(?s:.*?)-->", "")
    return pc.replace_substring_regex(values, r"(?:--|#)[^\n]*", "")


def normalize_path(values: pa.Array) -> pa.Array:
    """Collapse `//`, drop `/./`, resolve `dir/../` (repeatedly, on the values that need it)."""
    values = pc.replace_substring_regex(values, r"/{2,}", "/")
    hit = mask_of(pc.match_substring_regex(values, r"(?:^|/)\.\.?(?:/|$)"))
    if not hit.any():
        return values
    rows = np.flatnonzero(hit)
    part = values.take(pa.array(rows))
    for _ in range(16):
        before = part
        part = pc.replace_substring_regex(part, r"(?:^|/)\.(?:/|$)", "/")
        part = pc.replace_substring_regex(part, r"/[^/]+/\.\.(?:/|$)", "/", max_replacements=1)
        part = pc.replace_substring_regex(part, r"^[^/]+/\.\.(?:/|$)", "", max_replacements=1)
        part = pc.replace_substring_regex(part, r"/{2,}", "/")
        if part.equals(before):
            break
    return fill_rows(values, rows, part)


def normalize_path_win(values: pa.Array) -> pa.Array:
    return normalize_path(pc.replace_substring(values, "\\", "/"))


def _length(values: pa.Array) -> pa.Array:
    return pc.cast(pc.binary_length(values), pa.string())


TRANSFORMS: dict[str, Transform] = {
    "lowercase": pc.utf8_lower,
    "urlDecode": url_decode,
    "urlDecodeUni": url_decode_uni,
    "htmlEntityDecode": html_entity_decode,
    "jsDecode": js_decode,
    "cssDecode": css_decode,
    "escapeSeqDecode": escape_seq_decode,
    "utf8toUnicode": utf8_to_unicode,
    "base64Decode": base64_decode,
    "cmdLine": cmd_line,
    "removeNulls": lambda v: pc.replace_substring(v, "\x00", ""),
    "replaceNulls": lambda v: pc.replace_substring(v, "\x00", " "),
    "compressWhitespace": lambda v: pc.replace_substring_regex(v, _SPACE + "+", " "),
    "removeWhitespace": lambda v: pc.replace_substring_regex(v, _SPACE + "+", ""),
    "replaceComments": replace_comments,
    "removeComments": remove_comments,
    "removeCommentsChar": lambda v: pc.replace_substring_regex(v, r"/\*|\*/|--|#", ""),
    "normalizePath": normalize_path,
    "normalizePathWin": normalize_path_win,
    "length": _length,
    "trim": pc.utf8_trim_whitespace,
    "trimLeft": pc.utf8_ltrim_whitespace,
    "trimRight": pc.utf8_rtrim_whitespace,
}


def _marks(*texts: str) -> tuple[int, ...]:
    """Trigger terms: the value may change only if it holds every character of one term."""
    return tuple(kinds_of_text(text) for text in texts)


_WHITE = (1 << SPACE, 1 << CONTROL, 1 << HIGH)  # space, \t\n\r..., any Unicode space
_WHITE_NBSP = (1 << SPACE, 1 << CONTROL, 1 << NBSP_BYTE)  # ASCII white space and U+00A0 only
#: For each transformation, what a value must contain for it to change anything (derived from
#: each implementation above; sound: a value without them comes out as it went in).
TRIGGERS: dict[str, tuple[int, ...]] = {
    "urlDecode": _marks("%", "+"),
    "urlDecodeUni": _marks("%", "+"),
    "htmlEntityDecode": _marks("&"),
    "jsDecode": _marks("\\"),
    "cssDecode": _marks("\\"),
    "escapeSeqDecode": _marks("\\"),
    "utf8toUnicode": (1 << HIGH,),
    "removeNulls": (1 << CONTROL,),
    "replaceNulls": (1 << CONTROL,),
    "compressWhitespace": _WHITE_NBSP,
    "removeWhitespace": _WHITE_NBSP,
    "trim": _WHITE,
    "trimLeft": _WHITE,
    "trimRight": _WHITE,
    "replaceComments": _marks("/*"),
    "removeComments": _marks("/*", "<!-", "-", "#"),
    "removeCommentsChar": _marks("/*", "-", "#"),
    "normalizePath": _marks("/", "."),
    "normalizePathWin": _marks("/", ".", "\\"),
}
#: cmdLine lower-cases every value; only values with these change otherwise.
_CMDLINE_MARKS = _marks("\\", '"', "'", "^", ",", ";") + (1 << SPACE, 1 << CONTROL)


def _triggered(terms: tuple[int, ...], signature: np.ndarray) -> np.ndarray:
    hit = np.zeros(len(signature), dtype=bool)
    for term in terms:
        hit |= (signature & np.uint64(term)) == np.uint64(term)
    return hit


class TransformChains:
    """Values through every transformation chain their rules name, each chain prefix computed
    once (`t:urlDecodeUni,t:lowercase` reuses `t:urlDecodeUni`), with the signature
    (charsets.py) of every result.

    A transformation touches only the values in the chain's scope (those some rule reads
    through it; the others are never read) that hold its trigger characters. Results are not
    copied into whole arrays: every string lives once in a store of chunks (the input, its lower
    case, and each transformation's changed values), and a chain's result is an index into it.
    A `Staged` holds no reference back to its store: the store is one slice's transient data
    (tens of MB), freed the moment the screen drops it. A reference cycle would leave it to the
    cyclic garbage collector, which collects such long-lived objects rarely: several slices'
    stores piled up (a 1M-line PL1 scan peaked at 450 MB instead of about 340)."""

    def __init__(self, values: pa.Array, scope: Callable[[tuple[str, ...]], np.ndarray | None] = lambda _: None,
                 index: Callable[[np.ndarray], np.ndarray] | None = None) -> None:  # fmt: skip
        self._chunks: list[pa.Array] = [values.cast(pa.string())]
        self._starts: list[int] = [0]  # where each chunk begins in the store
        self._size = len(values)
        self._root = len(values)
        self._lowered_root: int | None = None  # where the input's lower case starts in the store
        self._index = index
        signature = signatures(values)
        rows = None if index is None else index(signature)
        self._chains: dict[tuple[str, ...], Staged] = {(): Staged(np.arange(len(values)), signature, rows)}
        self._scope = scope
        self._memos: dict[str, _Memo] = {}  # per transformation: results by input position

    def get(self, chain: tuple[str, ...]) -> "Staged":
        """The values after `chain`, their signatures and (with `index`) their table rows."""
        found = self._chains.get(chain)
        if found is None:
            found = self._apply(chain[-1], self.get(chain[:-1]), self._scope(chain))
            self._chains[chain] = found
        return found

    def compact(self) -> None:
        """One chunk: later takes are a single gather."""
        if len(self._chunks) > 1:
            self._chunks, self._starts = [pa.concat_arrays(self._chunks)], [0]

    def take(self, where: np.ndarray) -> pa.Array:
        """The strings at `where` (positions in the store), gathered chunk by chunk."""
        if len(self._chunks) > 16:
            self._chunks, self._starts = [pa.concat_arrays(self._chunks)], [0]
        if len(self._chunks) == 1:
            return self._chunks[0].take(pa.array(where, pa.int64()))
        chunk = np.searchsorted(self._starts, where, side="right") - 1
        order = np.argsort(chunk, kind="stable")
        ordered, bounds = where[order], np.searchsorted(chunk[order], np.arange(len(self._chunks) + 1))
        pieces = [
            self._chunks[c].take(pa.array(ordered[bounds[c] : bounds[c + 1]] - self._starts[c], pa.int64()))
            for c in range(len(self._chunks)) if bounds[c + 1] > bounds[c]
        ]  # fmt: skip
        gathered = pa.concat_arrays(pieces) if pieces else self._chunks[0].slice(0, 0)
        back = np.empty(len(where), dtype=np.int64)
        back[order] = np.arange(len(where))
        return gathered.take(pa.array(back))

    def _store(self, values: pa.Array) -> np.ndarray:
        """Add strings to the store; their positions in it."""
        self._chunks.append(values.cast(pa.string()))
        self._starts.append(self._size)
        self._size += len(values)
        return np.arange(self._size - len(values), self._size)

    def _lower(self, parent: "Staged", rows: np.ndarray) -> np.ndarray:
        """`parent.where` with the values at `rows` lower-cased (the input's through its lower case,
        computed once; values already transformed one by one)."""
        if self._lowered_root is None:
            self._lowered_root = int(self._store(pc.utf8_lower(self._chunks[0].slice(0, self._root)))[0]) if self._root else 0
        where = parent.where.copy()
        picked = where[rows]
        original = picked < self._root
        picked[original] += self._lowered_root
        later = np.flatnonzero(~original & ((picked < self._lowered_root) | (picked >= self._lowered_root + self._root)))
        if len(later):
            picked[later] = self._store(pc.utf8_lower(self.take(picked[later])))
        where[rows] = picked
        return where

    def _apply(self, name: str, parent: "Staged", scope: np.ndarray | None) -> "Staged":
        everywhere = np.arange(len(parent.where)) if scope is None else np.flatnonzero(scope)
        if name == "lowercase":
            return Staged(self._lower(parent, everywhere), parent.signature, parent.rows)  # kinds are case-folded
        if name in TRIGGERS or name == "cmdLine":
            hit = _triggered(_CMDLINE_MARKS if name == "cmdLine" else TRIGGERS[name], parent.signature)
        else:  # length, base64Decode: every value changes
            hit = np.ones(len(parent.where), dtype=bool)
        rows = np.flatnonzero(hit if scope is None else hit & scope)
        where = self._lower(parent, everywhere) if name == "cmdLine" else parent.where
        if not len(rows):
            return Staged(where, parent.signature, parent.rows)
        memo = self._memos.setdefault(name, _Memo())
        source = parent.where[rows]
        found, target, signature_, table_row = memo.find(source)
        todo = np.flatnonzero(~found)
        if len(todo):
            target[todo], signature_[todo], table_row[todo] = self._transform(
                name, source[todo], parent.signature[rows[todo]], None if parent.rows is None else parent.rows[rows[todo]]
            )
            memo.add(source[todo], target[todo], signature_[todo], table_row[todo])
        where = where.copy() if where is parent.where else where
        where[rows] = target
        signature = parent.signature.copy()
        signature[rows] = signature_
        table_rows = None
        if parent.rows is not None and self._index is not None:
            table_rows = parent.rows.copy()
            table_rows[rows] = table_row
        return Staged(where, signature, table_rows)

    def _transform(self, name: str, source: np.ndarray, signature: np.ndarray,
                   table_row: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Transformation `name` of the strings at `source` (store positions, with their
        signatures and table rows): where each result is, its signature and table row. A value
        the transformation leaves as it was keeps its position (no copy, no new signature),
        so later steps and other chains see the same position for the same string."""
        before = self.take(source)
        after = TRANSFORMS[name](before).cast(pa.string())
        differs = ~mask_of(pc.equal(before, after))  # null (either side): stored, as before
        target, signature = source.copy(), signature.copy()
        rows = np.full(len(source), -1, dtype=np.int64) if table_row is None else table_row.copy()
        moved = np.flatnonzero(differs)
        if len(moved):
            changed = after.filter(pa.array(differs))
            target[moved] = self._store(changed)
            signature[moved] = signatures(changed)
            if table_row is not None and self._index is not None:
                rows[moved] = self._index(signature[moved])
        return target, signature, rows


class _Memo:
    """One transformation's results in a store, by input position: chains that reach the
    same string (`t:urlDecodeUni` after a `t:utf8toUnicode` that changed nothing) transform
    it once. Sorted arrays, looked up with searchsorted."""

    def __init__(self) -> None:
        self._source = np.zeros(0, dtype=np.int64)
        self._target = np.zeros(0, dtype=np.int64)
        self._signature = np.zeros(0, dtype=np.uint64)
        self._row = np.zeros(0, dtype=np.int64)

    def find(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per position: known?, and (where known) the result's position, signature, table row."""
        at = np.searchsorted(self._source, source)
        inside = at < len(self._source)
        found = np.zeros(len(source), dtype=bool)
        found[inside] = self._source[at[inside]] == source[inside]
        hit = at[found]
        target = np.zeros(len(source), dtype=np.int64)
        signature = np.zeros(len(source), dtype=np.uint64)
        row = np.zeros(len(source), dtype=np.int64)
        target[found], signature[found], row[found] = self._target[hit], self._signature[hit], self._row[hit]
        return found, target, signature, row

    def add(self, source: np.ndarray, target: np.ndarray, signature: np.ndarray, row: np.ndarray) -> None:
        keys = np.concatenate([self._source, source])
        order = np.argsort(keys, kind="stable")
        self._source = keys[order]
        self._target = np.concatenate([self._target, target])[order]
        self._signature = np.concatenate([self._signature, signature])[order]
        self._row = np.concatenate([self._row, row])[order]


@dataclass(frozen=True)
class Staged:
    """Values after a transformation chain: where each string is in the chains' store
    (`TransformChains.take`), the signatures (charsets.py) and optionally each signature's row
    in a signature table."""

    where: np.ndarray
    signature: np.ndarray
    rows: np.ndarray | None = None
