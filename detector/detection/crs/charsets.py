"""Which characters a pattern needs: a prefilter derived from each CRS pattern, never guessed.

A value can only match a pattern if it holds, for at least one way the pattern can match, every
character that way requires. Characters fall into 64 *kinds* (each letter case-folded, digits,
each ASCII punctuation mark, space, other controls, non-ASCII), a value's *signature* is the set
of kinds it contains (one 64-bit mask), and a pattern's *requirement* is a list of kind masks,
one per way of matching: the value may match only if one mask is inside its signature.

The requirement is computed from the parsed pattern and is sound by construction: wherever the
analysis cannot be exact (large or negated classes, `.`, optional parts, constructs it does not
know) it requires less, so the prefilter may let a value through that cannot match, but never
stops one that can. A pattern it cannot parse requires nothing (every value is tested).
"""

from __future__ import annotations

import re
import re._constants as C  # noqa: N812 (the standard library's own names)
import re._parser as sre
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_PUNCT = "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum())  # 32 marks
DIGIT, SPACE, CONTROL, HIGH = 26, 27, 28, 29  # letters are kinds 0-25, marks 30-61
NBSP_BYTE = 62  # the byte 0xA0 (U+00A0, no-break space, is C2 A0): alongside HIGH, for t:*Whitespace


def _kind_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for byte in range(256):
        char = chr(byte)
        if byte >= 0x80:
            table[byte] = HIGH
        elif char.isascii() and char.isalpha():
            table[byte] = ord(char.lower()) - ord("a")
        elif char.isdigit():
            table[byte] = DIGIT
        elif char == " ":
            table[byte] = SPACE
        elif byte < 0x20 or byte == 0x7F:
            table[byte] = CONTROL
        else:
            table[byte] = 30 + _PUNCT.index(char)
    return table


KIND_OF_BYTE = _kind_table()
_BIT_OF_BYTE = (np.uint64(1) << KIND_OF_BYTE.astype(np.uint64)).astype(np.uint64)
_BIT_OF_BYTE[0xA0] |= np.uint64(1 << NBSP_BYTE)
#: Non-ASCII letters that RE2's case folding matches to ASCII ones: KELVIN SIGN ~ k, LONG S ~ s.
_FOLDS_TO_ASCII = {0x212A: "k", 0x017F: "s"}
_FOLDED = np.uint64(sum(1 << (ord(c) - ord("a")) for c in _FOLDS_TO_ASCII.values()))
_MAX_TERMS = 512  # beyond this a concatenation keeps only what all its ways share


def kinds_of_text(text: str) -> int:
    """The signature of one string (for pattern literals; values go through `signatures`)."""
    mask = 0
    for byte in text.encode("utf-8", errors="surrogatepass"):
        mask |= int(_BIT_OF_BYTE[byte])
    return mask


_SIGNATURE_SLICE = 4096  # values per pass: the per-byte temporaries stay a few MB


def signatures(values: pa.Array) -> np.ndarray:
    """Per string of `values`, the mask of the kinds of its bytes (uint64), without a Python
    loop: each byte's kind bit, OR-reduced per string over the Arrow offsets."""
    if len(values) > _SIGNATURE_SLICE:
        return np.concatenate([
            _signatures(values.slice(start, _SIGNATURE_SLICE)) for start in range(0, len(values), _SIGNATURE_SLICE)
        ])  # fmt: skip
    return _signatures(values)


def _signatures(values: pa.Array) -> np.ndarray:
    values = values.cast(pa.large_string()) if pa.types.is_string(values.type) else values
    n = len(values)
    out = np.zeros(n, dtype=np.uint64)
    if not n:
        return out
    values = pc.fill_null(values, "")
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset : values.offset + n + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8) if values.buffers()[2] is not None else np.zeros(0, np.uint8)
    start, end = offsets[0], offsets[-1]
    if end == start:
        return out
    bits = _BIT_OF_BYTE[data[start:end]]
    starts = offsets[:-1] - start
    nonempty = offsets[1:] > offsets[:-1]
    out[nonempty] = np.bitwise_or.reduceat(bits, starts[nonempty])
    high = (out & np.uint64(1 << HIGH)) != 0
    out[high] |= _FOLDED  # a case-insensitive `k`/`s` also matches the KELVIN SIGN / LONG S
    return out


# -- requirements from the parsed pattern ----------------------------------------------------

Terms = frozenset[int]  # alternative kind masks; the empty mask means "nothing required"
_NOTHING: Terms = frozenset({0})
_LETTERS = (1 << 26) - 1


def _char_kinds(code: int) -> int:
    return kinds_of_text(chr(code)) if code < 0x110000 and not 0xD800 <= code < 0xE000 else 1 << HIGH


def _range_kinds(low: int, high: int) -> int:
    mask = 0
    for code in range(low, min(high, 0x7F) + 1):
        mask |= _char_kinds(code)
    if high >= 0x80:
        mask |= 1 << HIGH
    for code, letter in _FOLDS_TO_ASCII.items():
        if low <= code <= high:
            mask |= kinds_of_text(letter)
    return mask


_CATEGORY = {
    C.CATEGORY_DIGIT: 1 << DIGIT,
    C.CATEGORY_WORD: _LETTERS | 1 << DIGIT | kinds_of_text("_"),
    C.CATEGORY_SPACE: 1 << SPACE | 1 << CONTROL,
}


def _class(items: list) -> Terms:
    """`[...]`: one of its characters. A negated or unknown class requires nothing."""
    mask = 0
    for op, arg in items:
        if op is C.LITERAL:
            mask |= _char_kinds(arg)
        elif op is C.RANGE:
            mask |= _range_kinds(*arg)
        elif op is C.CATEGORY and arg in _CATEGORY:
            mask |= _CATEGORY[arg]
        else:  # NEGATE, negated categories
            return _NOTHING
    return _alternatives(mask)


def _alternatives(mask: int) -> Terms:
    """One character of any kind in `mask`: one term per kind (each kind alone suffices)."""
    if mask.bit_count() > 12:
        return _NOTHING
    return frozenset(1 << bit for bit in range(64) if mask >> bit & 1)


def _concat(left: Terms, right: Terms) -> Terms:
    if _NOTHING == left:
        return right
    if _NOTHING == right:
        return left
    if len(left) * len(right) > _MAX_TERMS:  # either side alone is still required: keep the stronger
        return max((left, right, frozenset({_shared(left) | _shared(right)})), key=_strength)
    return _minimal(frozenset(a | b for a in left for b in right))


def _strength(terms: Terms) -> tuple[int, int]:
    return min(int.bit_count(t) for t in terms), -len(terms)


def _shared(terms: Terms) -> int:
    """What every way of matching needs: a sound single-term summary."""
    mask = -1
    for term in terms:
        mask &= term
    return mask if mask != -1 else 0


def _minimal(terms: Terms) -> Terms:
    """Drop a term that needs more than another one (it can never decide alone)."""
    if 0 in terms:
        return _NOTHING
    if len(terms) > 64:
        return terms
    ordered = sorted(terms, key=int.bit_count)
    kept: list[int] = []
    for term in ordered:
        if not any(k & term == k for k in kept):
            kept.append(term)
    return frozenset(kept)


def _sequence(items) -> Terms:  # noqa: ANN001 (sre's SubPattern)
    terms = _NOTHING
    for op, arg in items:
        terms = _concat(terms, _node(op, arg))
    return terms


def _node(op, arg) -> Terms:  # noqa: ANN001, PLR0911 (one branch per sre opcode)
    if op is C.LITERAL:
        return _NOTHING if arg in _FOLDS_TO_ASCII else frozenset({_char_kinds(arg)})
    if op is C.IN:
        return _class(arg)
    if op is C.SUBPATTERN:
        return _sequence(arg[-1])
    if op is C.BRANCH:
        out: set[int] = set()
        for branch in arg[1]:
            out |= _sequence(branch)
        return _minimal(frozenset(out))
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _, item = arg
        return _sequence(item) if low >= 1 else _NOTHING
    if op is C.ATOMIC_GROUP:
        return _sequence(arg)
    return _NOTHING  # AT (anchors, \b), ANY, NOT_LITERAL, CATEGORY, lookarounds, ...


_RE2_ONLY = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}|\\z|\\C|\\Q|\\E|\\p|\\P|\[\[:")
#: A flag group such as `(?i)` or `(?s)` anywhere (RE2 allows it mid-pattern, Python's parser
#: does not); case, dot-all and multi-line change nothing about the kinds a pattern needs.
_FLAG_GROUP = re.compile(r"(?<!\\)\(\?[imsU]+\)")


def _to_python_syntax(pattern: str) -> str | None:
    """RE2 text -> Python `re` text for the analysis only: `\\x{hh}`; anything else RE2-only
    (`\\C`, `\\Q..\\E`, `\\pL`, POSIX classes) gives up (None: the pattern requires nothing)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return f"\\U{int(match.group(1), 16):08x}"
        if match.group(0) == "\\z":
            return "\\Z"
        raise ValueError(match.group(0))

    try:
        return _FLAG_GROUP.sub("", _RE2_ONLY.sub(replace, pattern))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def requirement(pattern: str) -> Terms:
    """The alternative kind masks of an RE2 pattern (`{0}`: it may match anything)."""
    text = _to_python_syntax(pattern)
    if text is None:
        return _NOTHING
    try:
        parsed = sre.parse(text)
    except (re.error, OverflowError, RecursionError):
        return _NOTHING
    return _sequence(parsed)


def phrase_requirement(phrases: tuple[str, ...]) -> Terms:
    """@pm: any one phrase, whole (case-folded kinds)."""
    if any(chr(code) in phrase for phrase in phrases for code in _FOLDS_TO_ASCII):
        return _NOTHING
    terms = frozenset(kinds_of_text(p) for p in phrases)
    return _minimal(terms) if terms else _NOTHING


#: Kinds from common to rare in web requests (letters by English frequency): a long requirement
#: is cut down to its rarest kinds, which keeps it sound and cheap to test.
_COMMON_TO_RARE = (
    [DIGIT] + [ord(c) - ord("a") for c in "etaoinsrhldcumfpgwybvkxjqz"]
    + [30 + _PUNCT.index(c) for c in "/.-_=&?%:+,"] + [SPACE]
    + [30 + _PUNCT.index(c) for c in ";()~*!@#$'\"[]{}|\\^`<>"] + [CONTROL, HIGH, NBSP_BYTE]
)  # fmt: skip
_RARITY = {kind: rank for rank, kind in enumerate(_COMMON_TO_RARE)}


def _rarest(term: int, keep: int) -> int:
    kinds = sorted((k for k in range(64) if term >> k & 1), key=_RARITY.__getitem__, reverse=True)
    return sum(1 << k for k in kinds[:keep])


def reduced(terms: Terms, cap: int = 32) -> Terms:
    """At most `cap` terms: each cut to its rarest kinds (two, then one) until they fit."""
    for keep in (3, 2, 1):
        if len(terms) <= cap:
            return terms
        terms = _minimal(frozenset(_rarest(t, keep) for t in terms))
    return terms


def admits(terms: Terms, signatures_: np.ndarray) -> np.ndarray:
    """Per signature: may a string of these kinds match? (vectorized over terms and values)"""
    if 0 in terms:
        return np.ones(len(signatures_), dtype=bool)
    table = np.fromiter(terms, dtype=np.uint64, count=len(terms))
    missing = ~signatures_
    out = np.zeros(len(signatures_), dtype=bool)
    for chunk in range(0, len(table), 256):
        part = table[chunk : chunk + 256]
        out |= ((part[None, :] & missing[:, None]) == 0).any(axis=1)
    return out
