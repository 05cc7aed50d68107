"""Which format a line is in, guessed from its first bytes, vectorized.

Only lines the file's usual format could not read come here, so a cheap guess is enough: each
rule is one anchored RE2 test on the line's head, the first rule that fits wins, and the guessed
format's real parser then decides. A wrong guess costs nothing but a `no-match`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import mask_of

HEAD_CHARS = 256
COMMENT = "comment"

_BSD = r"[A-Z][a-z]{2} +[0-9]{1,2}(?: [0-9]{4})? [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?(?: ?(?:Z|[+-][0-9]{2}:?[0-9]{2}))?"
#: `host prog[pid]: ` or, without a host, `prog[pid]: ` (a pid, else `2026-06-08 10:00:04 AUTH-PAM: `
#: of a daemon's own log would pass for a tag)
_TAGGED = r"(?:[^ :]+ [^ :\[]+(?:\[[0-9]*\])?|[^ :\[]+\[[0-9]*\]): "

#: (format, RE2 on the line's head), first fit wins. `access` stands for combined then common.
RULES: tuple[tuple[str, str], ...] = (
    ("json", r"^[ \t]*\{"),
    ("syslog", r"^<[0-9]{1,3}>"),
    ("auditd", r"^(?:node=[^ ]+ )?type=[A-Z0-9_]+ msg=audit\([0-9]+"),
    ("aws-alb", r"^(?:https?|h2|grpcs|wss?) [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [^ ]+ [^ ]+:[0-9]+ "),
    ("apache-error", r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:"),
    ("nginx-error", r"^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[[a-z]+\] "),
    ("haproxy", r"^[0-9a-fA-F.:]+:[0-9]{1,5} \[[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}:[0-9:.]+\] "),
    ("access", r"^[^ ]+ [^ ]+ [^\[]*\[[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:"),
    ("syslog", r"^(?:" + _BSD + " |[A-Z][a-z]{2} [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}|" + _ISO + " (?:" + _BSD + " )?" + _TAGGED + ")"),
    ("stamped", r"^(?:[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]?[0-9] [0-9:]{8}(?:\.[0-9]+)? [0-9]{4}|" + _ISO + "|[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8}) "),
    (COMMENT, r"^(?:#|-- |//|;)"),
    ("logfmt", r"^[A-Za-z_][A-Za-z0-9_.-]*=(?:\"[^\"]*\"|[^ \"]*) +[A-Za-z_][A-Za-z0-9_.-]*="),
    ("bare", r"^[A-Za-z][A-Za-z0-9_./-]*(?:\[[0-9]+\])?: "),
)
GUESSES: tuple[str, ...] = tuple(dict.fromkeys(fmt for fmt, _ in RULES))


def guess_formats(lines: pa.Array) -> np.ndarray:
    """Per line, the index in GUESSES of its guessed format, or -1 when nothing fits."""
    head = pc.utf8_slice_codeunits(lines, 0, HEAD_CHARS)
    guess = np.full(len(lines), -1, dtype=np.int64)
    open_rows = np.arange(len(lines))
    for fmt, pattern in RULES:
        if len(open_rows) == 0:
            break
        fits = mask_of(pc.match_substring_regex(head.take(pa.array(open_rows)), pattern))
        guess[open_rows[fits]] = GUESSES.index(fmt)
        open_rows = open_rows[~fits]
    return guess
