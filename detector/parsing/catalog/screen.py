"""Which rows a template could match, from the first bytes of each message (numpy), before
any regex runs: a template is only extracted on rows starting with one of its literal
prefixes (`model.literal_prefixes`), or, when it starts variably, on rows passing its
service's combined prefilter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from detector.parsing.arrowtext import string_offsets
from detector.parsing.catalog.model import Template

#: Bytes of a message's start the literal-prefix screen compares (two words): `Disconnected
#: from` and `Disconnecting user` differ only in their 11th byte.
PREFIX_BYTES = 16
_WORDS = PREFIX_BYTES // 8


def first_bytes(text: pa.Array) -> np.ndarray:
    """The first PREFIX_BYTES bytes of every value packed big-endian into uint64 words (one row
    per value, zero-padded), so that testing a literal prefix is a numpy comparison or two
    instead of a pass over the text."""
    offsets = string_offsets(text).astype(np.int64)
    data = text.buffers()[2]
    length = len(text)
    if data is None or length == 0:
        return np.zeros((length, _WORDS), dtype=np.uint64)
    raw = np.frombuffer(data, dtype=np.uint8)
    if len(raw) == 0:
        return np.zeros((length, _WORDS), dtype=np.uint64)
    starts, sizes = offsets[:-1], np.diff(offsets)
    columns = np.arange(PREFIX_BYTES)
    heads = raw[np.minimum(starts[:, None] + columns, len(raw) - 1)]
    heads[columns >= sizes[:, None]] = 0
    return np.ascontiguousarray(heads).view(">u8").astype(np.uint64)



def _prefix_key(prefix: str) -> list[tuple[int, np.uint64, np.uint64]]:
    """(word, key, mask) of each word the prefix's first PREFIX_BYTES bytes reach into."""
    head = prefix.encode("utf-8")[:PREFIX_BYTES]
    keys = []
    for word in range(0, len(head), 8):
        part = head[word : word + 8]
        key = int.from_bytes(part.ljust(8, b"\0"), "big")
        mask = int.from_bytes((b"\xff" * len(part)).ljust(8, b"\0"), "big")
        keys.append((word // 8, np.uint64(key), np.uint64(mask)))
    return keys


def candidates(
    template: Template, heads: np.ndarray, open_rows: np.ndarray, prefiltered: Callable[[], np.ndarray]
) -> np.ndarray:
    """Rows still open that the template could match: those whose first bytes are one of its
    literal prefixes (the anchored regex checks the rest), else those passing the service's
    combined prefilter."""
    if not template.prefixes:
        return open_rows & prefiltered()
    hit = np.zeros(len(heads), dtype=bool)
    for prefix in template.prefixes:
        same = open_rows.copy()
        for word, key, mask in _prefix_key(prefix):
            same &= (heads[:, word] & mask) == key
        hit |= same
    return hit
