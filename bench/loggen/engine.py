"""Sessions in, time-ordered lines out.

A model (one log kind) makes *sessions*: lists of (offset in seconds, payload). Session starts
form a Poisson process whose rate follows the model's day profile; their lines are merged in
event time through a heap, so the output is monotonic and sessions interleave the way a real
server writes them, in memory bounded by the sessions in flight. Clock-driven jobs (Timer) fire
on top of that. Attack episodes are sessions too, started with the probability that makes their
lines about `attack_rate` of the output.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from typing import Any

from .clock import FLAT_DAY

#: A line still to be written: (head, tail) around the timestamp, or a kind-specific tuple.
Payload = tuple
#: (seconds after the session start, payload)
Event = tuple[float, Payload]


class Timer:
    """A clock-driven job (cron, log rotation): `fire(t)` gives its events and next firing time."""

    __slots__ = ("fire",)

    def __init__(self, fire: Callable[[float], tuple[list[Event], float]]) -> None:
        self.fire = fire


class Model:
    """One log kind: its sessions, attack episodes, clock-driven jobs and line layout."""

    default_rate = 10.0  # lines per second of event time, averaged over a day
    day = FLAT_DAY  # relative session rate per UTC hour

    def __init__(self, rng: random.Random, host: str) -> None:
        self.rng = rng
        self.host = host

    def session(self, t: float) -> list[Event]:
        raise NotImplementedError

    def attack(self, t: float) -> list[Event]:
        raise NotImplementedError

    def timers(self, start: float) -> list[tuple[float, Timer]]:
        return []

    def render(self, t: float, payload: Payload) -> str:
        raise NotImplementedError


def stream(model: Model, total: int, start: float, rate: float, attack_rate: float, clock: list) -> Iterator[str]:
    """Lines of `model` in event-time order; `clock[0]` follows the time of the last line."""
    if total <= 0:
        return
    benign_len, attack_len = mean_lengths(model)
    share = min(max(attack_rate, 0.0), 0.5)
    p_attack = share * benign_len / (attack_len * (1 - share) + share * benign_len) if share > 0 else 0.0
    session_rate = rate / ((1 - p_attack) * benign_len + p_attack * attack_len)
    rng = model.rng
    expo, rand = rng.expovariate, rng.random
    push, pop = heapq.heappush, heapq.heappop
    session, attack, render, day = model.session, model.attack, model.render, model.day
    heap: list[tuple[float, int, Any]] = []
    seq = 0
    for when, timer in model.timers(start):
        push(heap, (when, seq, timer))
        seq += 1
    emitted = 0
    t = start
    while True:
        t += expo(session_rate * day[int(t // 3600) % 24])
        while heap and heap[0][0] <= t:
            when, _, payload = pop(heap)
            if payload.__class__ is Timer:
                events, following = payload.fire(when)
                for offset, item in events:
                    push(heap, (when + offset, seq, item))
                    seq += 1
                push(heap, (following, seq, payload))
                seq += 1
                continue
            clock[0] = when
            yield render(when, payload)
            emitted += 1
            if emitted >= total:
                return
        events = attack(t) if p_attack and rand() < p_attack else session(t)
        for offset, item in events:
            push(heap, (t + offset, seq, item))
            seq += 1


_CALIBRATION: dict[tuple, tuple[float, float]] = {}


def mean_lengths(model: Model) -> tuple[float, float]:
    """Mean lines per benign session and per attack episode, measured once per kind on a probe
    model of its own (the caller's random stream is left untouched)."""
    options = getattr(model, "options", {})
    key = (type(model).__name__, tuple(sorted(options.items())))
    if key not in _CALIBRATION:
        probe = type(model)(random.Random(0x5EED), "probe", **options)
        t = 1_795_000_000.0
        benign = sum(len(probe.session(t)) for _ in range(3000)) / 3000
        attack = sum(len(probe.attack(t)) for _ in range(600)) / 600
        _CALIBRATION[key] = (max(benign, 1.0), max(attack, 1.0))
    return _CALIBRATION[key]
