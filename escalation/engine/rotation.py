"""On-call rotations: who holds the pager at an instant, computed, never stored.

A rotation hands over every `interval` of local wall-clock time starting at `start` (the first
member's first shift), so "weekly, Monday 09:00" stays 09:00 across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Rotation:
    name: str
    members: tuple[str, ...]  # contact names, in hand-over order
    start: datetime  # naive local time of the first hand-over (to members[0])
    interval: timedelta
    timezone: str

    def shift_index(self, at: datetime) -> int:
        """How many hand-overs have happened at `at` (negative before `start`)."""
        local = at.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)
        return (local - self.start) // self.interval

    def on_call(self, at: datetime) -> str:
        """The member on call at `at`; before `start` the order runs backwards, so every
        instant has exactly one person on call."""
        return self.members[self.shift_index(at) % len(self.members)]

    def handover_after(self, at: datetime) -> datetime:
        """The next hand-over instant after `at` (aware, in the rotation's zone)."""
        local_start = self.start + (self.shift_index(at) + 1) * self.interval
        return local_start.replace(tzinfo=ZoneInfo(self.timezone))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "members": list(self.members),
            "start": self.start.isoformat(timespec="minutes"),
            "interval_seconds": int(self.interval.total_seconds()),
            "timezone": self.timezone,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Rotation":
        return cls(
            name=data["name"],
            members=tuple(data["members"]),
            start=datetime.fromisoformat(data["start"]),
            interval=timedelta(seconds=int(data["interval_seconds"])),
            timezone=data["timezone"],
        )
