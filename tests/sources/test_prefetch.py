"""The read-ahead thread: same items in the same order, errors raised where they belong,
never more than one item read ahead, and a consumer that stops early stops the worker."""

from __future__ import annotations

import threading

import pytest

from detector.sources.prefetch import Prefetch


def test_items_arrive_in_order_and_the_worker_reads_at_most_one_ahead() -> None:
    produced: list[int] = []
    consumed = 0
    ahead: list[int] = []

    def source():
        for i in range(50):
            produced.append(i)
            ahead.append(len(produced) - consumed)
            yield i

    got = []
    with Prefetch(source()) as items:
        for item in items:
            got.append(item)
            consumed += 1
    assert got == list(range(50))
    assert max(ahead) <= 2  # the one the consumer holds and the one read ahead


def test_an_error_in_the_source_is_raised_in_the_consumer_after_the_good_items() -> None:
    def source():
        yield 1
        yield 2
        raise OSError("disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"), Prefetch(source()) as items:
        for item in items:
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_ends_the_worker() -> None:
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    with Prefetch(endless()) as items:
        assert next(items) == 0
        assert next(items) == 1
    assert threading.active_count() == before


def test_the_finish_stage_runs_once_per_item_on_whichever_thread_is_free() -> None:
    """A slow consumer leaves finishing to the worker; a consumer that waits for items
    finishes them itself. Either way each item is finished exactly once, in order."""
    worker_finished: list[int] = []
    main = threading.current_thread()

    def finish(item: tuple[int, int]) -> tuple[int, int]:
        if threading.current_thread() is not main:
            worker_finished.append(item[0])
        return (item[0], item[1] + 1)

    release = threading.Event()

    def slow_source():
        for i in range(6):
            if i >= 3:
                release.wait(timeout=5)  # the consumer waits for these: it finishes them
            yield (i, 0)

    got = []
    with Prefetch(slow_source(), finish=finish) as items:
        for n, item in enumerate(items):
            got.append(item)
            if n == 0:
                threading.Event().wait(0.2)  # a busy consumer: the worker finishes item 1
            if n == 2:
                threading.Timer(0.2, release.set).start()
    assert got == [(i, 1) for i in range(6)]
    assert 1 in worker_finished  # produced while the consumer was busy with item 0
    assert 3 not in worker_finished  # produced while the consumer was waiting for it
