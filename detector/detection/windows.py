"""Window search over event time: the exact earliest firing window of a pool, and vectorized
upper bounds that tell, for a whole batch at once, which groups cannot fire at all."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np

from detector.checklist.model import Correlation
from detector.detection.events import Event

_INT62 = 1 << 62


def first_firing(pool: list[Event], correlation: Correlation | None) -> list[Event] | None:
    """Events of the earliest window (by event time) that satisfies the correlation.

    One pass with a sliding window: counters of the window's rules and values are updated as
    events enter and leave it, so a large pool costs O(n), not O(n x window)."""
    if not pool:
        return None
    if correlation is None:
        return [pool[0]]
    span = correlation.timespan // timedelta(microseconds=1)
    kind = correlation.type
    step_of = correlation.step_of
    steps = len(correlation.rules)
    # Conditions are gt/gte, so no window can hold what the whole pool does not: most groups
    # (one stray failed login) are rejected here without the window pass.
    if kind == "event_count" and not correlation.holds(len(pool)):
        return None
    if kind == "value_count" and not correlation.holds(len({e.value for e in pool} - {None})):
        return None
    if kind in ("temporal", "temporal_ordered") and len({step_of.get(e.rule) for e in pool} - {None}) < steps:
        return None  # a step never seen (most logins follow no scan at all)
    rules: Counter[int | None] = Counter()
    values: Counter[str] = Counter()
    ordered = _OrderedTracker(step_of, steps)
    start = 0
    for end, event in enumerate(pool):
        rules[step_of.get(event.rule)] += 1
        if event.value is not None:
            values[event.value] += 1
        while pool[start].ts < event.ts - span:
            leaving = pool[start]
            _decrement(rules, step_of.get(leaving.rule))
            if leaving.value is not None:
                _decrement(values, leaving.value)
            start += 1
        if kind == "event_count":
            if correlation.holds(end - start + 1):
                return pool[start : end + 1]
        elif kind == "value_count":
            if correlation.holds(len(values)):
                return pool[start : end + 1]
        elif kind == "temporal":
            if all(rules[step] for step in range(steps)):
                return pool[start : end + 1]
        elif kind == "temporal_ordered":
            if ordered.add(event, pool[end + 1].ts if end + 1 < len(pool) else None, span):
                window = pool[start : end + 1]
                chain = _ordered_chain(window, correlation.rules, step_of)
                assert chain is not None  # the tracker only reports chains that exist
                return [e for e in window if e.ts >= chain and e.rule in step_of]
    return None


class _OrderedTracker:
    """Whether an ordered chain rules[0] <= rules[1] <= ... fits in the window ending now.

    Keeps, per step, the latest start time of a partial chain through that step: a chain
    fits in the window iff the latest complete one starts within `span` of the newest event.
    Events of one timestamp are applied together (steps may share a stamp in any line order),
    so each event costs O(steps) instead of a pass over the window."""

    def __init__(self, step_of: dict[str, int], steps: int) -> None:
        self.step = step_of
        self.latest: list[int | None] = [None] * steps
        self.run_ts: int | None = None
        self.run_steps: set[int] = set()

    def add(self, event: Event, next_ts: int | None, span: int) -> bool:
        """Feed `event`; True when, with the events of its timestamp, a chain fits."""
        if event.rule in self.step:
            self.run_steps.add(self.step[event.rule])
        if next_ts == event.ts:
            return False  # the rest of this timestamp's events first
        for index in range(len(self.latest)):
            if index not in self.run_steps:
                continue
            if index == 0:
                self.latest[0] = event.ts
            elif self.latest[index - 1] is not None:
                previous = self.latest[index]
                self.latest[index] = max(previous, self.latest[index - 1]) if previous is not None else self.latest[index - 1]
        self.run_steps = set()
        last = self.latest[-1]
        return last is not None and last >= event.ts - span


def _decrement(counter: Counter, key: object) -> None:
    counter[key] -= 1
    if not counter[key]:
        del counter[key]


def _ordered_chain(window: list[Event], rules: tuple[str, ...], step_of: dict[str, int] | None = None) -> int | None:
    """Start time of the earliest chain rules[0] <= rules[1] <= ... (event time; equal stamps
    are in order, as whole-second logs often put two steps in one second) in the window.

    The earliest start, not the latest: the finding then holds the same events whether a
    later step arrived in the same batch or after the firing (another file, a later run, an
    out-of-order line) and absorbed it. Greedy is enough: if any chain exists, the one
    built from the earliest first step with the earliest next steps exists too."""
    step_of = step_of if step_of is not None else {rule: index for index, rule in enumerate(rules)}
    start: int | None = None
    cursor: int | None = None
    for step in range(len(rules)):
        times = [e.ts for e in window if step_of.get(e.rule) == step and (cursor is None or e.ts >= cursor)]
        if not times:
            return None
        cursor = min(times)
        start = cursor if start is None else start
    return start


# -- vectorized screening (one numpy pass per batch, no Python per event) ---------------------


def max_window_counts(code: np.ndarray, ts: np.ndarray, span_us: int, groups: int) -> np.ndarray:
    """Per group: the most events any window `[t - span, t]` holds.

    Events are sorted by (group, time) and keyed `group * M + time` with `M` larger than any
    time difference plus the span, so one `searchsorted` finds every window's first event
    without crossing into the previous group. Groups are taken in blocks so the key fits."""
    best = np.zeros(groups, np.int64)
    if not len(code):
        return best
    order = np.lexsort((ts, code))
    c, rel = code[order], ts[order] - ts.min()
    width = int(rel.max()) + span_us + 1
    block = max(1, _INT62 // width)
    for lo in range(0, groups, block):
        a, b = np.searchsorted(c, [lo, lo + block])
        if b > a:
            key = (c[a:b] - lo) * width + rel[a:b]
            counts = np.arange(b - a) - np.searchsorted(key, key - span_us, side="left") + 1
            starts = np.flatnonzero(np.concatenate(([True], c[a + 1 : b] != c[a : b - 1])))
            best[c[a:b][starts]] = np.maximum.reduceat(counts, starts)
    return best


def all_rules_within(code: np.ndarray, rule: np.ndarray, ts: np.ndarray, rules: int, span_us: int, groups: int) -> np.ndarray:
    """Per group: does some window `[t - span, t]` hold an event of every rule (in any order)?

    For each event as a window's end, the latest event of each rule at or before it is found
    with one `searchsorted` per rule over keys `(group, rule, time)`. When the keys cannot fit
    in 62 bits the answer is a plain "every rule occurs" (still an upper bound)."""
    if not len(code):
        return np.zeros(groups, dtype=bool)
    # only groups holding every rule somewhere can hold them in one window (on a busy jump host
    # most groups hold logins alone): the searches run over those groups' events
    complete = rule_masks(code, np.left_shift(1, rule), groups) == (1 << rules) - 1
    candidate = complete[code]
    if not candidate.any():
        return complete
    if not candidate.all():
        code, rule, ts = code[candidate], rule[candidate], ts[candidate]
    rel = ts - ts.min()
    width = int(rel.max()) + span_us + 1
    if groups * rules * width >= _INT62:
        return complete
    keys = np.sort((code * rules + rule) * width + rel)
    ok = np.ones(len(code), dtype=bool)
    for r in range(rules):
        slot = (code * rules + r) * width
        position = np.searchsorted(keys, slot + rel, side="right") - 1
        latest = keys[np.maximum(position, 0)]
        ok &= (position >= 0) & (latest >= slot) & (slot + rel - latest <= span_us)
    found = np.zeros(groups, dtype=bool)
    found[code[ok]] = True
    return found


def distinct_counts(code: np.ndarray, value_code: np.ndarray, groups: int) -> np.ndarray:
    """Per group: how many distinct values its events carry (events without one ignored)."""
    has = value_code >= 0
    if not has.any():
        return np.zeros(groups, np.int64)
    pairs = np.unique(np.stack([code[has], value_code[has]], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=groups).astype(np.int64)


def rule_masks(code: np.ndarray, bits: np.ndarray, groups: int) -> np.ndarray:
    """Per group: the OR of its events' rule bits."""
    masks = np.zeros(groups, np.int64)
    np.bitwise_or.at(masks, code, bits)
    return masks


def has_first_step_before(code: np.ndarray, ts: np.ndarray, first: np.ndarray, ask: np.ndarray, span_us: int) -> np.ndarray:
    """For the rows in `ask`: does a row of the first step, same group code, lie in
    `[ts - span, ts]`? (An ordered chain's later step is of use only after a first one.)

    One sort by (group, time, first step before others at equal times) and a running index of
    the last first-step row: no key arithmetic, so any time range and group count fit."""
    answer = np.zeros(len(code), dtype=bool)
    if not ask.any() or not first.any():
        return answer
    # rows asked in groups without any first step are answered no without sorting them
    with_first = np.zeros(int(code.max()) + 1, dtype=bool)
    with_first[code[first]] = True
    rows = np.flatnonzero(first | (ask & with_first[code]))
    if not ask.any() or not len(rows):
        return answer
    order = rows[np.lexsort((~first[rows], ts[rows], code[rows]))]
    marks = np.where(first[order], np.arange(len(order)), -1)
    last = np.maximum.accumulate(marks)
    at = np.maximum(last, 0)
    ok = (last >= 0) & (code[order][at] == code[order]) & (ts[order] - ts[order][at] <= span_us)
    asked = ask[order]
    answer[order[asked]] = ok[asked]
    return answer
