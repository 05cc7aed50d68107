"""Hand an item over from a generator without keeping it alive while the generator waits."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def handed_over(box: list[T]) -> T:
    """The one item of `box`, which no longer holds it. A generator keeps its locals while it
    is suspended at a `yield`: yielding a batch held in a local keeps that batch alive until
    the generator is resumed, long after its consumer is done with it. With files read
    interleaved, every file's generator would hold its last batch (raw bytes, lines, frame)."""
    return box.pop()
