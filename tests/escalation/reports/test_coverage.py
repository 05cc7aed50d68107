"""What a policy promises: cumulative level offsets and the share of the week it pages at once."""

from __future__ import annotations

from datetime import timedelta

from escalation.engine.calendar import Calendar, always_business
from escalation.engine.policy import Level, Match, Policy, Target
from escalation.reports.coverage import (
    business_minutes,
    describe_policy,
    level_offsets,
    policy_coverage,
)

ONCALL = (Target("oncall", False, ("console",)),)
OFFICE = Calendar("office", "Europe/Berlin", tuple(((540, 1020),) if day < 5 else () for day in range(7)))


def policy(after_hours: str, calendar: Calendar = OFFICE, levels: tuple[Level, ...] | None = None) -> Policy:
    levels = levels or (Level(timedelta(minutes=20), ONCALL), Level(timedelta(minutes=30), ONCALL),
                        Level(timedelta(hours=1), ONCALL))
    return Policy("p", Match(severity="high"), calendar, after_hours, levels)


def test_levels_fire_at_cumulative_offsets() -> None:
    offsets = level_offsets(policy("notify").levels)
    assert offsets == [timedelta(0), timedelta(minutes=20), timedelta(minutes=50)]
    described = describe_policy(policy("notify"))
    assert [lv["offset_seconds"] for lv in described["levels"]] == [0, 1200, 3000]
    assert described["path_seconds"] == 6600


def test_holding_after_hours_covers_only_the_business_week() -> None:
    assert business_minutes(OFFICE) == 5 * 8 * 60
    held = policy_coverage(policy("hold"))
    assert held.covered_minutes == 2400 and held.share == round(40 / 168, 4) and not held.after_hours_covered
    paged = policy_coverage(policy("notify"))
    assert paged.covered_minutes == 168 * 60 and paged.share == 1.0 and paged.after_hours_covered


def test_ranges_past_midnight_and_round_the_clock_calendars() -> None:
    night = Calendar("night", "UTC", tuple(((1320, 1800),) for _ in range(7)))  # 22:00-06:00 every day
    assert business_minutes(night) == 7 * 8 * 60
    assert policy_coverage(policy("hold", always_business("UTC"))).share == 1.0
