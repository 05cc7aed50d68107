"""Log timestamps to UTC microseconds, vectorized.

The fixed-width layouts that dominate busy logs (`10/Oct/2026:13:55:36 -0700`, `Nov 23 10:00:00`,
`2026/11/23 10:00:00`) are read straight from the bytes with numpy and turned into dates with
numpy's calendar (datetime64), which also rejects impossible dates. ISO-8601 goes through
Arrow's own cast when the text is in the shape it accepts. Everything else falls back to
Arrow's strptime once per distinct value, checked by formatting the result back (strptime
alone normalizes Feb 30 to Mar 2). Local times without an offset are placed in the source's
zone with pandas; DST folds and gaps are resolved as described in `localize`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import (
    group,
    mask_of,
    string_offsets,
    to_int,
    valid_mask,
    when,
)
from detector.schema import TIMESTAMP

MICROS = 1_000_000
DAY = 86_400
#: Timestamps outside this window are treated as unparseable: they come from hostile or broken
#: lines, and years like 0 or 9999 break datetime conversions further down the pipeline.
FIRST_YEAR, LAST_YEAR = 1970, 2199
#: A jump back in time bigger than this inside a DST fold means the clock was turned back.
FOLD_JITTER_US = 60 * MICROS

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT", "UCT", "Universal", "Zulu"})
_MONTHS = [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"]
_MONTH_KEYS = np.array([(m[0] << 16) | (m[1] << 8) | m[2] for m in _MONTHS], dtype=np.int64)
_MONTH_ORDER = np.argsort(_MONTH_KEYS)

_ISO_DATE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
#: What Arrow's string->timestamp cast reads (with and without an offset).
ISO_CASTABLE_ZONED = "^" + _ISO_DATE + r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)$"
ISO_CASTABLE_LOCAL = "^" + _ISO_DATE + r"(?:\.[0-9]{1,6})?$"
#: Everything else ISO-like: `,` fractions, nanoseconds, lower-case `t`/`z`, a space before the offset.
ISO_PATTERN = (
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:[.,](?P<frac>[0-9]{1,9}))?(?: ?(?P<zone>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?))?$"
)
ZONE_PATTERN = r"^(?P<sign>[+-])(?P<hh>[0-9]{2}):?(?P<mm>[0-9]{2})?$"


# --- fixed-width layouts, read from the bytes ------------------------------------------------


def _fixed_width(text: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(byte matrix, row numbers) of the values exactly `width` bytes long."""
    offsets = string_offsets(text)
    rows = np.flatnonzero((np.diff(offsets) == width) & valid_mask(text))
    if len(rows) == 0:
        return np.zeros((0, width), dtype=np.uint8), rows
    if offsets[rows[-1]] - offsets[rows[0]] != width * (len(rows) - 1):
        text = text.take(pa.array(rows))  # gather those values into one contiguous buffer
        offsets = string_offsets(text)
        start = int(offsets[0])
    else:
        start = int(offsets[rows[0]])
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    return data[start : start + width * len(rows)].reshape(len(rows), width), rows


def _number(matrix: np.ndarray, start: int, stop: int, space_ok: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Decimal digits in columns [start, stop) (a leading space counts as 0 with `space_ok`)."""
    value = np.zeros(len(matrix), dtype=np.int64)
    ok = np.ones(len(matrix), dtype=bool)
    for column in range(start, stop):
        digit = matrix[:, column] - np.uint8(ord("0"))  # wraps around below '0'
        if space_ok and column == start:
            digit = np.where(matrix[:, column] == ord(" "), np.uint8(0), digit)
        ok &= digit < 10
        value = value * 10 + digit
    return value, ok


def _month(matrix: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """English month abbreviation (any case) in columns [start, start+3) -> 1..12."""
    lower = matrix[:, start : start + 3].astype(np.int64) | 0x20
    key = (lower[:, 0] << 16) | (lower[:, 1] << 8) | lower[:, 2]
    slot = np.searchsorted(_MONTH_KEYS[_MONTH_ORDER], key).clip(0, 11)
    month = _MONTH_ORDER[slot] + 1
    return month, _MONTH_KEYS[month - 1] == key


def _civil_seconds(year, month, day, hour, minute, second, ok) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the epoch for calendar fields (no zone); ok=False for impossible dates."""
    ok = ok & (year >= FIRST_YEAR) & (year <= LAST_YEAR) & (month >= 1) & (month <= 12) & (day >= 1)
    ok &= (hour < 24) & (minute < 60) & (second < 60)
    month_index = np.where(ok, (year - 1970) * 12 + month - 1, 0)
    first_day = month_index.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    next_first = (month_index + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ok &= day <= next_first - first_day
    seconds = (first_day + day - 1) * DAY + hour * 3600 + minute * 60 + second
    return np.where(ok, seconds, 0), ok


def _clock(matrix: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`HH:MM:SS` at column `start` -> (hour, minute, second, ok)."""
    hour, ok_h = _number(matrix, start, start + 2)
    minute, ok_m = _number(matrix, start + 3, start + 5)
    second, ok_s = _number(matrix, start + 6, start + 8)
    colons = (matrix[:, start + 2] == ord(":")) & (matrix[:, start + 5] == ord(":"))
    return hour, minute, second, ok_h & ok_m & ok_s & colons


def _spread(rows: np.ndarray, values: np.ndarray, ok: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    full = np.zeros(length, dtype=np.int64)
    valid = np.zeros(length, dtype=bool)
    full[rows] = values
    valid[rows] = ok
    return full, valid


def parse_clf(text: pa.Array) -> pa.Array:
    """Access-log time `[10/Oct/2026:13:55:36 -0700]` (brackets optional) -> UTC."""
    length = len(text)
    micros = np.zeros(length, dtype=np.int64)
    valid = np.zeros(length, dtype=bool)
    for width, skip in ((28, 1), (26, 0)):
        matrix, rows = _fixed_width(text, width)
        if len(rows) == 0:
            continue
        body = matrix[:, skip : skip + 26]
        day, ok_d = _number(body, 0, 2)
        month, ok_mon = _month(body, 3)
        year, ok_y = _number(body, 7, 11)
        hour, minute, second, ok_c = _clock(body, 12)
        zone_h, ok_zh = _number(body, 22, 24)
        zone_m, ok_zm = _number(body, 24, 26)
        sign = np.where(body[:, 21] == ord("-"), -1, 1)
        shape = (
            (body[:, 2] == ord("/")) & (body[:, 6] == ord("/")) & (body[:, 11] == ord(":")) & (body[:, 20] == ord(" "))
        )
        shape &= np.isin(body[:, 21], (ord("+"), ord("-"))) & (zone_h < 24) & (zone_m < 60)
        if skip:
            shape &= (matrix[:, 0] == ord("[")) & (matrix[:, 27] == ord("]"))
        seconds, ok = _civil_seconds(
            year, month, day, hour, minute, second, ok_d & ok_mon & ok_y & ok_c & ok_zh & ok_zm & shape
        )
        seconds = seconds - sign * (zone_h * 3600 + zone_m * 60)
        micros[rows] = seconds * MICROS
        valid[rows] = ok
    return _to_utc_array(micros, valid)


def parse_bsd(text: pa.Array, tz: str, file_mtime: datetime) -> pa.Array:
    """RFC 3164 `Nov 23 10:00:00` / `Nov  3 10:00:00`: no year, no zone.

    Local to `tz`; the year is the file's (local) modification year, or the one before when the
    date would lie more than a day after the file was last written (New-Year roll-over).
    """
    length = len(text)
    mtime_local = file_mtime.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    latest = int((np.datetime64(mtime_local, "s") - np.datetime64(0, "s")).astype(np.int64)) + DAY
    matrix, rows = _fixed_width(text, 15)
    month, ok_mon = _month(matrix, 0)
    day, ok_d = _number(matrix, 4, 6, space_ok=True)
    hour, minute, second, ok_c = _clock(matrix, 7)
    shape = ok_mon & ok_d & ok_c & (matrix[:, 3] == ord(" ")) & (matrix[:, 6] == ord(" "))
    year = np.full(len(rows), mtime_local.year, dtype=np.int64)
    seconds, ok = _civil_seconds(year, month, day, hour, minute, second, shape)
    earlier = shape & (~ok | (seconds > latest))
    if earlier.any():
        before, ok_before = _civil_seconds(year - 1, month, day, hour, minute, second, shape)
        seconds = np.where(earlier, before, seconds)
        ok = np.where(earlier, ok_before, ok)
    local, valid = _spread(rows, seconds * MICROS, ok, length)
    return _to_utc_array(localize(local, valid, tz), valid)


def parse_ymd_local(text: pa.Array, tz: str) -> pa.Array:
    """nginx error-log time `2026/11/23 10:00:00` (local to `tz`) -> UTC."""
    matrix, rows = _fixed_width(text, 19)
    year, ok_y = _number(matrix, 0, 4)
    month, ok_mon = _number(matrix, 5, 7)
    day, ok_d = _number(matrix, 8, 10)
    hour, minute, second, ok_c = _clock(matrix, 11)
    shape = (matrix[:, 4] == ord("/")) & (matrix[:, 7] == ord("/")) & (matrix[:, 10] == ord(" "))
    seconds, ok = _civil_seconds(year, month, day, hour, minute, second, ok_y & ok_mon & ok_d & ok_c & shape)
    local, valid = _spread(rows, seconds * MICROS, ok, len(text))
    return _to_utc_array(localize(local, valid, tz), valid)


# --- zones -------------------------------------------------------------------------------------


def localize(local_micros: np.ndarray, valid: np.ndarray, tz: str) -> np.ndarray:
    """UTC microseconds for wall-clock microseconds in zone `tz` (rows in file order).

    A wall time that does not exist (spring forward) is moved forward past the gap. A wall time
    that happens twice (fall back) is read as the first occurrence until the lines jump back in
    time by more than a minute inside the fold; from there on it is the second occurrence.
    """
    if tz in _UTC_NAMES or not valid.any():
        return local_micros
    wall = pd.DatetimeIndex(np.where(valid, local_micros, 0).astype("datetime64[us]"))
    strict = wall.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    utc = strict.asi8.copy()
    unsure = np.flatnonzero(strict.isna() & valid)
    if len(unsure):
        subset = wall[unsure]
        first = subset.tz_localize(tz, ambiguous=np.ones(len(unsure), bool), nonexistent="shift_forward").asi8
        second = subset.tz_localize(tz, ambiguous=np.zeros(len(unsure), bool), nonexistent="shift_forward").asi8
        folded = first != second
        chosen = first.copy()
        if folded.any():
            times = local_micros[unsure][folded]
            previous_max = np.maximum.accumulate(np.concatenate(([times[0]], times[:-1])))
            turned_back = np.logical_or.accumulate(times < previous_max - FOLD_JITTER_US)
            chosen[folded] = np.where(turned_back, second[folded], first[folded])
        utc[unsure] = chosen
    return utc


def zone_offset_seconds(zone: pa.Array) -> pa.Array:
    """Seconds east of UTC for `Z`, `+HH`, `+HHMM`, `+HH:MM`; null for null (no zone given)."""
    parts = pc.extract_regex(zone, ZONE_PATTERN)
    hours = to_int(group(parts, "hh"))
    minutes = pc.fill_null(to_int(group(parts, "mm")), 0)
    magnitude = pc.add(pc.multiply(hours, 3600), pc.multiply(minutes, 60))
    signed = pc.if_else(pc.equal(group(parts, "sign"), "-"), pc.negate(magnitude), magnitude)
    is_utc = pc.is_in(zone, value_set=pa.array(["Z", "z"]))
    return pc.if_else(is_utc, pa.scalar(0, pa.int64()), signed)


def _to_utc_array(micros: np.ndarray, valid: np.ndarray) -> pa.Array:
    earliest = (np.datetime64(f"{FIRST_YEAR}-01-01", "us") - np.datetime64(0, "us")).astype(np.int64)
    latest = (np.datetime64(f"{LAST_YEAR + 1}-01-01", "us") - np.datetime64(0, "us")).astype(np.int64)
    ok = valid & (micros >= earliest) & (micros < latest)
    return pa.array(np.where(ok, micros, 0), pa.int64(), mask=~ok).cast(TIMESTAMP)


def _numpy_int(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    valid = valid_mask(values)
    return pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64), valid


# --- ISO-8601 and free formats -----------------------------------------------------------------


def per_distinct(values: pa.Array, parse: Callable[[pa.Array], tuple[pa.Array, ...]]) -> tuple[pa.Array, ...]:
    """Run `parse` on each distinct value once and spread its results back to every row."""
    encoded = pc.dictionary_encode(values)
    results = parse(encoded.dictionary)
    return tuple(result.take(encoded.indices) for result in results)


def strptime_strict(text: pa.Array, fmt: str) -> pa.Array:
    """Naive timestamp[s] for text in `fmt`, null when it does not parse or names no real date."""
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    again = pc.strftime(parsed, format=fmt)
    return when(pc.equal(pc.utf8_lower(again), pc.utf8_lower(text)), parsed)


def fraction_micros(fraction: pa.Array) -> pa.Array:
    """'123' -> 123000 microseconds; digits beyond the sixth are dropped; null -> 0."""
    padded = pc.utf8_slice_codeunits(pc.utf8_rpad(fraction, 6, "0"), 0, 6)
    return pc.fill_null(to_int(padded), 0)


def _combine(
    local_seconds: pa.Array, micros: pa.Array, offset: pa.Array | None, tz: str
) -> tuple[np.ndarray, np.ndarray]:
    """UTC microseconds from local seconds + fraction, minus an offset where known, else localized."""
    seconds, valid = _numpy_int(local_seconds)
    wall = seconds * MICROS + pc.fill_null(micros, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if offset is None:
        return localize(wall, valid, tz), valid
    shift, has_zone = _numpy_int(offset)
    utc = wall - shift * MICROS
    no_zone = valid & ~has_zone
    if no_zone.any():
        utc = np.where(no_zone, localize(wall, no_zone, tz), utc)
    return utc, valid


def _iso_slow(text: pa.Array, tz: str) -> tuple[np.ndarray, np.ndarray]:
    def parse(distinct: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        parts = pc.extract_regex(distinct, ISO_PATTERN)
        base = pc.binary_join_element_wise(group(parts, "date"), group(parts, "time"), "T")
        local = strptime_strict(base, "%Y-%m-%dT%H:%M:%S").cast(pa.int64())
        return local, fraction_micros(group(parts, "frac")), zone_offset_seconds(group(parts, "zone"))

    local, micros, offset = per_distinct(text, parse)
    return _combine(local, micros, offset, tz)


def parse_iso(text: pa.Array, tz: str) -> pa.Array:
    """ISO-8601 (`T` or space, `.`/`,` fraction up to ns, `Z`/`+HH:MM`/`+HHMM`/none) -> UTC.

    Without an offset the time is local to `tz`."""
    length = len(text)
    zoned = mask_of(pc.match_substring_regex(text, ISO_CASTABLE_ZONED))
    local = mask_of(pc.match_substring_regex(text, ISO_CASTABLE_LOCAL))
    micros = np.zeros(length, dtype=np.int64)
    try:
        if zoned.any():
            micros[zoned] = text.filter(pa.array(zoned)).cast(TIMESTAMP).cast(pa.int64()).to_numpy()
        if local.any():
            wall = text.filter(pa.array(local)).cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
            micros[local] = localize(wall, np.ones(len(wall), dtype=bool), tz)
    except pa.ArrowInvalid:  # an impossible date such as Feb 30 in the batch: take the careful road
        zoned[:] = local[:] = False
    rest = valid_mask(text) & ~zoned & ~local
    valid = zoned | local
    if rest.any():
        rows = np.flatnonzero(rest)
        slow, ok = _iso_slow(text.take(pa.array(rows)), tz)
        micros[rows] = slow
        valid[rows] = ok
    return _to_utc_array(micros, valid)


def parse_epoch(text: pa.Array) -> pa.Array:
    """Unix time as decimal text in seconds, milliseconds, microseconds or nanoseconds -> UTC.

    The unit is read from the magnitude (a 2026 date is ~1.8e9 s, ~1.8e12 ms, ...). Numbers below
    1e8 are not times at all (a `t=0.003` duration, a counter) and give null."""
    numeric = when(pc.match_substring_regex(text, r"^[0-9]{1,20}(\.[0-9]{1,9})?$"), text)
    number = np.nan_to_num(pc.cast(numeric, pa.float64()).to_numpy(zero_copy_only=False), nan=0.0)
    valid = number >= 1e8
    scale = np.select([number < 1e11, number < 1e14, number < 1e17], [1e6, 1e3, 1.0], default=1e-3)
    return _to_utc_array(np.round(number * scale).astype(np.int64), valid)


def parse_local(text: pa.Array, fmt: str, tz: str, fraction: pa.Array | None = None) -> pa.Array:
    """Zone-less wall-clock text in a strptime format (Apache error logs) -> UTC via `tz`."""
    (local,) = per_distinct(text, lambda distinct: (strptime_strict(distinct, fmt).cast(pa.int64()),))
    micros = fraction_micros(fraction) if fraction is not None else pa.nulls(len(local), pa.int64())
    utc, valid = _combine(local, micros, None, tz)
    return _to_utc_array(utc, valid)
