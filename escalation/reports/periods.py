"""The reporting period: which incidents a report covers, and how it is parsed from the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from detector.errors import UsageError
from detector.model import iso, parse_iso

DEFAULT_ESCALATION_DAYS = 30
DEFAULT_MATURITY_DAYS = 365  # SAMM asks for reviews and exercises "at least annually"


@dataclass(frozen=True)
class Period:
    """Half-open [since, until): an incident belongs to the period its detection falls in."""

    since: datetime
    until: datetime

    def contains(self, at: datetime | None) -> bool:
        return at is not None and self.since <= at < self.until

    def to_dict(self) -> dict[str, str | None]:
        return {"since": iso(self.since), "until": iso(self.until)}


def _parse(option: str, text: str) -> datetime:
    try:
        value = parse_iso(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not ISO-8601 (e.g. 2026-11-01 or 2026-11-01T00:00:00Z)") from None
    assert value is not None
    return value


def resolve_period(since: str | None, until: str | None, now: datetime, default_days: int) -> Period:
    """--since/--until (ISO-8601, naive = UTC); until defaults to now, since to `default_days` before it."""
    end = _parse("--until", until) if until else now
    start = _parse("--since", since) if since else end - timedelta(days=default_days)
    if start >= end:
        raise UsageError(f"--since {iso(start)} is not before --until {iso(end)}; give an earlier --since")
    return Period(start, end)
