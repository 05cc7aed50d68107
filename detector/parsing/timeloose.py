"""The time layouts real servers write besides the fixed-width ones, read once per distinct value.

`timeparse` reads the common fixed widths straight from the bytes; what is left over (a one-digit
day, fractions, a year in a BSD stamp, ctime, journalctl's `short-full`, access times without a
zone) comes here. Busy logs repeat each second many times, so one regex per *distinct* value is
cheap even when a whole batch takes this road.

    Jun 7 10:00:00 | Jun  7 10:00:00.123456 | Jun 07 2026 10:00:00       (BSD, year from the file)
    1/Apr/2014:10:00:00 +0200 | 08/Jul/2024:11:07:07.123               (access, haproxy)
    Mon Jul  8 11:07:07 2024 | Mon Jul  8 11:07:07.123 2024            (ctime: vsftpd, openvpn)
    Mon 2026-07-08 11:07:07 CEST                                          (journalctl -o short-full)
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import group, to_int, valid_mask
from detector.parsing.timeparse import (
    DAY,
    MICROS,
    _civil_seconds,
    _to_utc_array,
    fraction_micros,
    localize,
    per_distinct,
    zone_offset_seconds,
)

_MONTH = r"(?P<mon>[A-Za-z]{3})"
_CLOCK = r"(?P<clock>[0-9]{1,2}:[0-9]{2}:[0-9]{2})(?:[.,](?P<frac>[0-9]{1,9}))?"
_WEEKDAY = r"(?:[A-Za-z]{3},? )"
#: One pattern, one branch per layout; a branch is chosen by its first bytes (RE2 one-pass).
LOOSE_PATTERN = (
    r"^\[?(?:"
    + r"(?P<d1>[0-9]{1,2})/(?P<m1>[A-Za-z]{3})/(?P<y1>[0-9]{4}):(?P<c1>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    + r"(?:[.,](?P<f1>[0-9]{1,9}))?(?: ?(?P<z1>[+-][0-9]{2}:?[0-9]{2}|Z))?"
    + r"|"
    + _WEEKDAY
    + r"?"
    + _MONTH
    + r" +(?P<day>[0-9]{1,2})(?: (?P<year>[0-9]{4}))? "
    + _CLOCK
    + r"(?: (?P<y2>[0-9]{4}))?(?: (?P<z2>[+-][0-9]{2}:?[0-9]{2}|UTC|GMT|Z))?"
    + r"|"
    + _WEEKDAY
    + r"(?P<y3>[0-9]{4})-(?P<m3>[0-9]{2})-(?P<d3>[0-9]{2}) (?P<c3>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.,](?P<f3>[0-9]{1,9}))?"
    + r"(?: (?P<z3>[+-][0-9]{2}:?[0-9]{2}|[A-Z]{2,5}))?"
    + r")\]?$"
)
_MONTHS = pa.array(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
_UTC_WORDS = pa.array(["UTC", "GMT", "Z"])


def _numbers(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _clock_parts(clock: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = pc.split_pattern(pc.fill_null(clock, "0:0:0"), ":")
    return tuple(_numbers(to_int(pc.list_element(parts, i))) for i in range(3))  # type: ignore[return-value]


def _pick(match: pa.StructArray, *names: str) -> pa.Array:
    return pc.coalesce(*(group(match, name) for name in names))


def _zone_seconds(zone: pa.Array) -> pa.Array:
    """Offset east of UTC for a numeric zone or a UTC word; null for other abbreviations (CEST):
    those are ambiguous, the source's configured zone decides."""
    numeric = zone_offset_seconds(zone)
    return pc.if_else(pc.is_in(zone, value_set=_UTC_WORDS), pa.scalar(0, pa.int64()), numeric)


def _parse_distinct(distinct: pa.Array, tz: str, file_mtime: datetime) -> tuple[pa.Array]:
    match = pc.extract_regex(distinct, LOOSE_PATTERN)
    month_word = pc.utf8_lower(_pick(match, "m1", "mon"))
    month = pc.add(pc.index_in(month_word, value_set=_MONTHS), 1)
    month = pc.coalesce(month, to_int(group(match, "m3")))
    day = pc.coalesce(to_int(group(match, "d1")), to_int(group(match, "day")), to_int(group(match, "d3")))
    year = pc.coalesce(*(to_int(group(match, name)) for name in ("y1", "year", "y2", "y3")))
    hour, minute, second = _clock_parts(_pick(match, "c1", "clock", "c3"))
    micros = _numbers(fraction_micros(_pick(match, "f1", "frac", "f3")))
    offset = _zone_seconds(_pick(match, "z1", "z2", "z3"))

    ok = valid_mask(month) & valid_mask(day) & match.is_valid().to_numpy(zero_copy_only=False)
    mtime_local = file_mtime.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    has_year = valid_mask(year)
    years = np.where(has_year, _numbers(year), mtime_local.year)
    args = (_numbers(month), _numbers(day), hour, minute, second)
    seconds, valid = _civil_seconds(years, *args, ok)
    # A stamp without a year lies no later than a day after the file was last written.
    latest = int((np.datetime64(mtime_local, "s") - np.datetime64(0, "s")).astype(np.int64)) + DAY
    earlier = ok & ~has_year & (~valid | (seconds > latest))
    if earlier.any():
        before, ok_before = _civil_seconds(years - 1, *args, ok)
        seconds, valid = np.where(earlier, before, seconds), np.where(earlier, ok_before, valid)
    wall = seconds * MICROS + micros
    shift = valid_mask(offset)
    utc = np.where(shift, wall - _numbers(offset) * MICROS, localize(wall, valid & ~shift, tz))
    return (_to_utc_array(utc, valid),)


def parse_loose(text: pa.Array, tz: str, file_mtime: datetime) -> pa.Array:
    """UTC time of every value in one of the layouts above; null where none fits."""
    if len(text) == 0 or text.null_count == len(text):
        return pa.nulls(len(text), pa.timestamp("us", tz="UTC"))
    (stamps,) = per_distinct(text, lambda distinct: _parse_distinct(distinct, tz, file_mtime))
    return stamps


def or_loose(stamps: pa.Array, text: pa.Array, tz: str, file_mtime: datetime) -> pa.Array:
    """`stamps` (from a fixed-width reader), with the rows it could not read tried as loose layouts."""
    missing = np.flatnonzero(~valid_mask(stamps) & valid_mask(text))
    if len(missing) == 0:
        return stamps
    loose = parse_loose(text.take(pa.array(missing)), tz, file_mtime)
    mask = np.zeros(len(stamps), dtype=bool)
    mask[missing] = True
    return pc.replace_with_mask(stamps, pa.array(mask), loose.cast(stamps.type))
