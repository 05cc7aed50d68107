"""The daemon's clock: `--now` starts it at a given instant, from which it advances in real time,
so timer behaviour is reproducible; without it, it is the wall clock."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from detector.daemon.watch import Clock

START = datetime(2026, 11, 21, 23, 59, 0, tzinfo=timezone.utc)


def test_an_injected_clock_starts_at_now_and_moves_forward() -> None:
    clock = Clock(START)
    first = clock.now()
    assert START <= first < START + timedelta(minutes=1)
    second = clock.now()
    assert second >= first
    # an hour after the injected start is an hour away on the monotonic clock, not "in the past"
    assert clock.monotonic_at(START + timedelta(hours=1)) > time.monotonic() + 3500


def test_without_injection_it_is_the_wall_clock() -> None:
    clock = Clock()
    before = datetime.now(timezone.utc)
    now = clock.now()
    assert now.tzinfo is not None and before <= now <= datetime.now(timezone.utc)
    assert clock.monotonic_at(now - timedelta(minutes=5)) < time.monotonic()
