"""What a policy promises: when each level fires after detection (cumulative offsets) and how
much of the week an incident reaches a person at once (after-hours coverage).

Weekly coverage is counted in minutes of the calendar's weekly business hours; holidays are
left out (they follow the after-hours rule, so they are covered exactly when after hours are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from escalation.engine.calendar import (
    AFTER_HOURS,
    BUSINESS,
    WEEKDAYS,
    Calendar,
    format_minute,
)
from escalation.engine.policy import Level, Policy, PolicySet, Target

WEEK_MINUTES = 7 * 24 * 60


def business_minutes(calendar: Calendar) -> int:
    """Minutes of business hours in one week (ranges may run past midnight; overlaps count once)."""
    covered: set[int] = set()
    for day, ranges in enumerate(calendar.hours):
        for start, end in ranges:
            covered.update((day * 1440 + m) % WEEK_MINUTES for m in range(start, end))
    return len(covered)


@dataclass(frozen=True)
class Coverage:
    """Minutes of one week in which a new incident notifies someone immediately."""

    business_minutes: int
    covered_minutes: int
    after_hours: str  # notify | hold

    @property
    def share(self) -> float:
        return round(self.covered_minutes / WEEK_MINUTES, 4)

    @property
    def after_hours_covered(self) -> bool:
        return self.covered_minutes == WEEK_MINUTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "week_hours": WEEK_MINUTES // 60,
            "business_hours": round(self.business_minutes / 60, 2),
            "covered_hours": round(self.covered_minutes / 60, 2),
            "share": self.share,
            "after_hours": self.after_hours,
            "after_hours_covered": self.after_hours_covered,
        }


def policy_coverage(policy: Policy) -> Coverage:
    business = business_minutes(policy.calendar)
    first = policy.levels[0] if policy.levels else None
    covered = 0
    if first is not None and first.targets(BUSINESS):
        covered += business
    if first is not None and policy.after_hours == "notify" and first.targets(AFTER_HOURS):
        covered += WEEK_MINUTES - business
    return Coverage(business, covered, policy.after_hours)


def level_offsets(levels: tuple[Level, ...]) -> list[timedelta]:
    """When each level fires after the first one, if nobody acknowledges: 0, w1, w1+w2, ..."""
    offsets, total = [], timedelta(0)
    for level in levels:
        offsets.append(total)
        total += level.wait
    return offsets


def _targets(targets: tuple[Target, ...]) -> list[dict[str, Any]]:
    return [{"name": t.name, "rotation": t.rotation, "channels": list(t.channels)} for t in targets]


def calendar_dict(calendar: Calendar) -> dict[str, Any]:
    return {
        "name": calendar.name,
        "timezone": calendar.timezone,
        "hours": {
            WEEKDAYS[day]: [f"{format_minute(s)}-{format_minute(e)}" for s, e in ranges]
            for day, ranges in enumerate(calendar.hours)
            if ranges
        },
        "holidays": sorted(d.isoformat() for d in calendar.holidays),
        "country": calendar.country,
    }


def describe_policy(policy: Policy) -> dict[str, Any]:
    offsets = level_offsets(policy.levels)
    path_seconds = int(sum((lv.wait for lv in policy.levels), timedelta(0)).total_seconds())
    return {
        "name": policy.name,
        "match": policy.match.to_dict(),
        "calendar": calendar_dict(policy.calendar),
        "after_hours": policy.after_hours,
        "repeat": policy.repeat,
        "ack_timeout_seconds": int(policy.ack_timeout.total_seconds()) if policy.ack_timeout else None,
        "path_seconds": path_seconds,
        "levels": [
            {
                "level": number,
                "offset_seconds": int(offset.total_seconds()),
                "wait_seconds": int(level.wait.total_seconds()),
                "business_hours": _targets(level.business_hours),
                "after_hours": _targets(level.after_hours or level.business_hours),
            }
            for number, (level, offset) in enumerate(zip(policy.levels, offsets), start=1)
        ],
        "on_exhausted": _targets(policy.on_exhausted),
        "coverage": policy_coverage(policy).to_dict(),
    }


def describe_policy_set(policy_set: PolicySet | None) -> dict[str, Any] | None:
    if policy_set is None:
        return None
    return {
        "source": policy_set.source,
        "content_hash": policy_set.content_hash,
        "policies": [describe_policy(p) for p in policy_set.policies],
    }
