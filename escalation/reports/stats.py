"""Duration statistics (n, median, p90, mean) split by the class of day an incident was
detected in. SAMM level 3 asks that detection quality not depend on the time or day, so every
figure is given for business hours, after hours and holidays side by side.

p90 is numpy's default (linear interpolation between closest ranks, "type 7"): for sorted
values v[0..n-1] it is v[k] + f * (v[k+1] - v[k]) with k + f = 0.9 * (n - 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from escalation.engine.calendar import AFTER_HOURS, BUSINESS, HOLIDAY

DAY_CLASSES = (BUSINESS, AFTER_HOURS, HOLIDAY)
SPLITS = ("all", *DAY_CLASSES)


@dataclass(frozen=True)
class Summary:
    """Seconds; None when there is nothing to summarize."""

    n: int
    median: float | None
    p90: float | None
    mean: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "median": self.median, "p90": self.p90, "mean": self.mean}


def _round(value: float) -> float:
    return round(float(value), 3)


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, None, None, None)
    data = np.asarray(values, dtype=float)
    return Summary(
        n=int(data.size),
        median=_round(np.median(data)),
        p90=_round(np.percentile(data, 90)),
        mean=_round(np.mean(data)),
    )


def split_summaries(samples: Iterable[tuple[str, float | None]]) -> dict[str, dict[str, Any]]:
    """(day class, seconds or None) pairs -> {"all"|day class: Summary dict}; None is skipped."""
    buckets: dict[str, list[float]] = {key: [] for key in SPLITS}
    for day_class, seconds in samples:
        if seconds is None:
            continue
        buckets["all"].append(seconds)
        buckets.setdefault(day_class, []).append(seconds)
    return {key: summarize(values).to_dict() for key, values in buckets.items()}


def share(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places; None when there is no whole to take a share of."""
    return round(part / whole, 4) if whole else None
