"""Business hours: is an instant inside them, after them, or on a holiday, and when do they
start next. Escalation uses this to pick business-hours or after-hours targets and to release
held notifications. Pure: every answer is a function of the calendar and the instant asked about.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

BUSINESS = "business"
AFTER_HOURS = "after_hours"
HOLIDAY = "holiday"
DAY_CLASSES = (BUSINESS, AFTER_HOURS, HOLIDAY)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_SEARCH_DAYS = 800  # far enough to cross any holiday season and a leap year


class HolidaysUnavailable(Exception):
    """A calendar names a country but the `holidays` package is not installed."""


@functools.lru_cache(maxsize=64)
def country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """Public holidays of one country (and subdivision) in one year, from the `holidays` package."""
    try:
        import holidays
    except ImportError:
        raise HolidaysUnavailable(
            f"country {country} needs the holidays package; install logwarden[holidays] "
            "(pip install 'logwarden[holidays]') or list the dates under holidays:"
        ) from None
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


@dataclass(frozen=True)
class Calendar:
    """Weekly business hours in one IANA zone; holidays count as after hours all day."""

    name: str
    timezone: str
    # per weekday (Monday first): business ranges as (start, end) minutes after local midnight
    hours: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = frozenset()
    country: str | None = None
    subdivision: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def has_business_hours(self) -> bool:
        return any(self.hours)

    def is_holiday(self, day: date) -> bool:
        if day in self.holidays:
            return True
        if self.country:
            return day in country_holidays(self.country, self.subdivision, day.year)
        return False

    def classify(self, at: datetime) -> str:
        """`business`, `after_hours` or `holiday` at this instant (local time of the calendar)."""
        local = at.astimezone(self.zone)
        if self.is_holiday(local.date()):
            return HOLIDAY
        minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
        for start, end in self.hours[local.weekday()]:
            if start <= minute < end:
                return BUSINESS
        return AFTER_HOURS

    def next_business_start(self, at: datetime) -> datetime | None:
        """`at` itself when it is inside business hours, else the next instant they begin
        (UTC). None when the calendar has no business hours at all."""
        if not self.has_business_hours():
            return None
        at_utc = at.astimezone(timezone.utc)
        day = at.astimezone(self.zone).date()
        for offset in range(_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if self.is_holiday(current):
                continue
            for start, end in self.hours[current.weekday()]:
                start_at = self._instant(current, start)
                end_at = self._instant(current, end)
                if start_at <= at_utc < end_at:
                    return at_utc
                if start_at > at_utc:
                    return start_at
        return None

    def _instant(self, day: date, minute: int) -> datetime:
        if minute >= MINUTES_PER_DAY:
            day, minute = day + timedelta(days=1), minute - MINUTES_PER_DAY
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(timezone.utc)

    # -- frozen form (stored with every incident) -----------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "timezone": self.timezone,
            "hours": {
                WEEKDAYS[i]: [[start, end] for start, end in ranges]
                for i, ranges in enumerate(self.hours)
                if ranges
            },
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "country": self.country,
            "subdivision": self.subdivision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calendar":
        hours = tuple(
            tuple((int(start), int(end)) for start, end in data["hours"].get(day, ())) for day in WEEKDAYS
        )
        return cls(
            name=data["name"],
            timezone=data["timezone"],
            hours=hours,
            holidays=frozenset(date.fromisoformat(d) for d in data.get("holidays", ())),
            country=data.get("country"),
            subdivision=data.get("subdivision"),
        )


def always_business(timezone_name: str) -> Calendar:
    """The calendar of a policy that names none and a file that defines none: every hour counts."""
    full_day = ((0, MINUTES_PER_DAY),)
    return Calendar(name="always", timezone=timezone_name, hours=tuple(full_day for _ in WEEKDAYS))


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
