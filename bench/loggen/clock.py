"""Event time: day profiles and timestamp layouts, each formatted once per second of event time."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

FLAT_DAY = (1.0,) * 24


def _normalized(profile: Sequence[float]) -> tuple[float, ...]:
    mean = sum(profile) / len(profile)
    return tuple(value / mean for value in profile)


#: Relative traffic per UTC hour of a European web shop (quiet nights, evening peak).
WEB_DAY = _normalized(
    (0.30, 0.20, 0.15, 0.13, 0.15, 0.25, 0.45, 0.75, 1.0, 1.15, 1.25, 1.3,
     1.35, 1.3, 1.3, 1.35, 1.4, 1.5, 1.6, 1.65, 1.55, 1.3, 0.95, 0.6)
)  # fmt: skip


def civil(second: int) -> time.struct_time:
    return time.gmtime(second)


class Stamp:
    """A timestamp layout, formatted once per second of event time (lines share seconds)."""

    __slots__ = ("fmt", "second", "text")

    def __init__(self, fmt: Callable[[time.struct_time], str]) -> None:
        self.fmt = fmt
        self.second = -1
        self.text = ""

    def __call__(self, t: float) -> str:
        second = int(t)
        if second != self.second:
            self.second = second
            self.text = self.fmt(civil(second))
        return self.text


def clf_stamp() -> Stamp:  # 23/Nov/2026:10:00:00 +0000
    return Stamp(
        lambda g: (
            f"{g.tm_mday:02d}/{MONTHS[g.tm_mon - 1]}/{g.tm_year}:{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} +0000"
        )
    )


def bsd_stamp() -> Stamp:  # Nov  3 10:00:00
    return Stamp(lambda g: f"{MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}")


def iso_stamp() -> Stamp:  # 2026-11-23T10:00:00 (fraction and zone appended by the caller)
    return Stamp(lambda g: f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}")


def apache_stamp() -> Stamp:  # Mon Nov 23 10:00:00 (then .micros and the year)
    return Stamp(
        lambda g: (
            f"{WEEKDAYS[g.tm_wday]} {MONTHS[g.tm_mon - 1]} {g.tm_mday:02d} "
            f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"
        )
    )


def nginx_stamp() -> Stamp:  # 2026/11/23 10:00:00
    return Stamp(lambda g: f"{g.tm_year}/{g.tm_mon:02d}/{g.tm_mday:02d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}")


def micros(t: float) -> int:
    """Microseconds within the second (rounded, so 0.35 s is 350000, not 349999)."""
    return min(int((t - int(t)) * 1_000_000 + 0.5), 999_999)


def next_at(start: float, period: float, phase: float = 0.0) -> float:
    """The first time >= start that is `phase` seconds past a multiple of `period` (epoch based)."""
    base = (start - phase) // period * period + phase
    return base if base >= start else base + period
