"""Cheap deterministic random picks: one `random()` per pick (`choices()` costs five times more)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def picker(rng: random.Random, weighted: Sequence[tuple[T, float]], resolution: int = 4096) -> Callable[[], T]:
    """A function returning one item at random, in proportion to its weight."""
    total = float(sum(weight for _, weight in weighted))
    table: list[T] = []
    for item, weight in weighted:
        if weight > 0:
            table.extend([item] * max(1, round(weight / total * resolution)))
    size = len(table)
    rand = rng.random
    return lambda: table[int(rand() * size)]


def uniform(rng: random.Random, items: Sequence[T]) -> Callable[[], T]:
    table = list(items)
    size = len(table)
    rand = rng.random
    return lambda: table[int(rand() * size)]


def rng_choice(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


def zipf_weights(count: int, exponent: float) -> list[float]:
    """Weights 1/rank^exponent: a few heavy hitters and a long tail."""
    return [1.0 / (rank + 1) ** exponent for rank in range(count)]


def between(rng: random.Random, low: float, high: float) -> float:
    """Uniform float in [low, high)."""
    return low + rng.random() * (high - low)


def integer(rng: random.Random, low: int, high: int) -> int:
    """Uniform integer in [low, high] (cheaper than randint, same determinism)."""
    return low + int(rng.random() * (high - low + 1))


class Cycle:
    """Addresses handed out in shuffled rounds: the same address comes back only after all the
    others (internet noise then never piles up on one source within a detection window)."""

    def __init__(self, rng: random.Random, items: Sequence[str]) -> None:
        self.rng = rng
        self.items = list(items)
        self.index = len(self.items)

    def __call__(self) -> str:
        if self.index >= len(self.items):
            self.rng.shuffle(self.items)
            self.index = 0
        item = self.items[self.index]
        self.index += 1
        return item
