"""RE2, the regex engine of the hot path: a rule pattern it cannot compile is refused at load
time (scenarios) or skipped with RE2's reason (Sigma rules), never run through Python `re`."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def re2_problem(pattern: str) -> str | None:
    """Compile with RE2 (the engine pyarrow uses); None when fine, else RE2's complaint."""
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern=pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return str(exc).split(":", 1)[-1].strip() or str(exc)
    return None
