"""CRS transformations (`t:...`) over whole Arrow string arrays, never a Python loop per row.

The CRS stage applies them to the distinct values of a variable, so each transformed column
is computed once per batch and shared by every rule naming the same chain. The decoders whose
output depends on numeric escapes (`&#x3c;`, `\\u003c`, `%u003c`, CSS and C escapes, Base64,
UTF-8 to `%uHHHH`) run RE2 to find the few values that carry such escapes and decode only
those in Python (`_python_rows`): benign traffic rarely has them, and each distinct value is
decoded once per batch (see docs/crs.md for measured shares).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import fill_rows, mask_of
from detector.parsing.urldecode import percent_decode

Transform = Callable[[pa.Array], pa.Array]

_SPACE = r"[\t\n\x0b\f\r \x{a0}]"


def _python_rows(values: pa.Array, trigger: str, decode: Callable[[str], str]) -> pa.Array:
    """`decode` applied to the values matching RE2 `trigger` only (the rest stays as it is)."""
    hit = mask_of(pc.match_substring_regex(values, trigger))
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
    values = _python_rows(values, r"%[uU][0-9a-fA-F]{4}", lambda s: _PCT_U.sub(lambda m: _low_byte(int(m.group(1), 16)), s))
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
    return _python_rows(values, r"(?i)&(?:#|quot|amp|lt|gt|nbsp|apos)", lambda s: _ENTITY.sub(_entity, s))


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
    return _python_rows(values, r"\\", lambda s: _JS.sub(_js, s))


_ESC = re.compile(r"\\(?:x([0-9a-fA-F]{1,2})|([0-7]{1,3})|([abfnrtv\\?'\"]))")


def _esc(match: re.Match[str]) -> str:
    if match.group(1):
        return chr(int(match.group(1), 16))
    if match.group(2):
        return chr(int(match.group(2), 8) & 0xFF)
    return _JS_SIMPLE.get(match.group(3), match.group(3))


def escape_seq_decode(values: pa.Array) -> pa.Array:
    return _python_rows(values, r"\\", lambda s: _ESC.sub(_esc, s))


_CSS = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\f\r]?|(\n)|(.))", re.S)


def _css(match: re.Match[str]) -> str:
    if match.group(1):
        return _low_byte(int(match.group(1), 16))
    if match.group(2):
        return ""
    return match.group(3)


def css_decode(values: pa.Array) -> pa.Array:
    return _python_rows(values, r"\\", lambda s: _CSS.sub(_css, s))


def utf8_to_unicode(values: pa.Array) -> pa.Array:
    return _python_rows(
        values, r"[^\x00-\x7f]", lambda s: "".join(c if ord(c) < 0x80 else f"%u{ord(c) & 0xFFFF:04x}" for c in s)
    )


_B64 = re.compile(r"[A-Za-z0-9+/]+")


def _b64(text: str) -> str:
    """Decode the leading Base64 run (ModSecurity stops at the first invalid character)."""
    run = _B64.match(text)
    if run is None:
        return ""
    data = run.group(0)
    if len(data) % 4 == 1:
        data = data[:-1]
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data).decode("latin-1")
    except (binascii.Error, ValueError):
        return ""


def base64_decode(values: pa.Array) -> pa.Array:
    """Values without a 4-character Base64 run decode to nothing, as in ModSecurity."""
    plausible = mask_of(pc.match_substring_regex(values, r"^[A-Za-z0-9+/]{4}"))
    out = pc.if_else(pa.array(plausible), values, pa.scalar("", pa.string()))
    return _python_rows(out, r"^[A-Za-z0-9+/]{4}", _b64)


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


class TransformCache:
    """Transformed arrays keyed by (source, chain prefix): `t:urlDecodeUni,t:lowercase` reuses
    the `t:urlDecodeUni` result computed for any other rule on the same source."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, tuple[str, ...]], pa.Array] = {}

    def get(self, source: str, base: pa.Array, chain: tuple[str, ...]) -> pa.Array:
        if not chain:
            return base
        key = (source, chain)
        found = self._cache.get(key)
        if found is None:
            found = TRANSFORMS[chain[-1]](self.get(source, base, chain[:-1]))
            self._cache[key] = found
        return found

    def stages(self, source: str, base: pa.Array, chain: tuple[str, ...]) -> list[pa.Array]:
        """Every stage of the chain, the untransformed value first (for `multiMatch`)."""
        return [self.get(source, base, chain[:i]) for i in range(len(chain) + 1)]
