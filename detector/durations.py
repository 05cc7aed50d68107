"""Durations as operators write them in YAML and on the command line: `90s`, `20m`, `4h`, `7d`, `1w`,
or combinations such as `1h30m`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TOKEN = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: object) -> timedelta:
    """Parse `20m`, `1h30m`, `7d`; raise ValueError with the accepted forms otherwise."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"expected a duration such as 20m, 4h or 7d, got {text!r}")
    if isinstance(text, int):
        return timedelta(seconds=text)
    compact = text.strip().replace(" ", "")
    if not compact or _TOKEN.sub("", compact):
        raise ValueError(f"expected a duration such as 20m, 4h or 7d, got {text!r}")
    seconds = sum(int(n) * _UNITS[u] for n, u in _TOKEN.findall(compact))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Inverse of parse_duration for whole seconds (`1h30m`, `0s`)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def parse_since(text: str, now: datetime) -> datetime:
    """`--since`: a duration back from `now` (`2h`, `7d`) or an ISO-8601 instant (naive = UTC);
    ValueError naming both forms otherwise."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        instant = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (2h, 7d, 1h30m) nor an ISO-8601 instant (2026-11-23T10:00:00Z)"
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)
