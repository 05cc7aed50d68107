"""Timestamp layouts and zone handling below the parsers."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from detector.parsing.timeparse import localize, parse_clf, parse_epoch, parse_iso

UTC = timezone.utc


def test_clf_times_with_offsets_and_impossible_dates():
    values = parse_clf(
        pa.array(
            [
                "[10/Oct/2026:13:55:36 -0700]",
                "10/Oct/2026:13:55:36 +0530",
                "[29/Feb/2028:00:00:00 +0000]",
                "[29/Feb/2026:00:00:00 +0000]",
                "[10/Oct/2026:13:55:60 +0000]",
                "[10/Foo/2026:13:55:36 +0000]",
                "[10/Oct/1969:13:55:36 +0000]",
                None,
                "",
            ]
        )
    ).to_pylist()
    assert values == [
        datetime(2026, 10, 10, 20, 55, 36, tzinfo=UTC),
        datetime(2026, 10, 10, 8, 25, 36, tzinfo=UTC),
        datetime(2028, 2, 29, tzinfo=UTC),
        None,
        None,
        None,
        None,
        None,
        None,
    ]


def test_iso_batch_with_an_impossible_date_still_reads_the_others():
    values = parse_iso(
        pa.array(
            [
                "2026-11-23T10:00:00Z",
                "2026-02-30T10:00:00Z",
                "2026-11-23 11:00:00.5",
                "2026-11-23T10:00:00.1234567+01:00",
                "2026-11-23t10:00:00z",
                "nonsense",
            ]
        ),
        "UTC",
    ).to_pylist()
    assert values == [
        datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        None,
        datetime(2026, 11, 23, 11, 0, 0, 500000, tzinfo=UTC),
        datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        None,
    ]


def test_epoch_units_follow_the_magnitude():
    values = parse_epoch(
        pa.array(["1795000000", "1795000000123", "1795000000123456", "1795000000123456789", "-5", "abc", "1e9"])
    ).to_pylist()
    second = datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)
    assert values[0] == second
    assert values[1] == second.replace(microsecond=123000)
    assert values[2] == second.replace(microsecond=123456)
    assert values[3] == second.replace(microsecond=123457)
    assert values[4:] == [None, None, None]


def test_localize_gap_and_fold_in_new_york():
    wall = np.array(
        [
            np.datetime64("2026-03-08T02:30:00", "us"),  # does not exist
            np.datetime64("2026-11-01T01:30:00", "us"),  # first pass, EDT
            np.datetime64("2026-11-01T01:10:00", "us"),  # clock turned back: EST
        ]
    ).astype(np.int64)
    utc = localize(wall, np.ones(3, dtype=bool), "America/New_York").astype("datetime64[us]")
    assert list(utc) == [
        np.datetime64("2026-03-08T07:00:00", "us"),
        np.datetime64("2026-11-01T05:30:00", "us"),
        np.datetime64("2026-11-01T06:10:00", "us"),
    ]


def test_small_numbers_are_not_epoch_times():
    assert parse_epoch(pa.array(["0.003", "5", "99999999", "100000000"])).to_pylist() == [
        None,
        None,
        None,
        datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC),
    ]


def test_loose_layouts_once_per_distinct_value():
    from detector.parsing.timeloose import parse_loose

    mtime = datetime(2026, 1, 1, 5, tzinfo=UTC)
    values = parse_loose(
        pa.array(
            [
                "Jun 7 10:00:00",
                "Dec 31 23:00:00",  # a day before the file was written: last year's
                "Jun 07 2024 10:00:00.5",
                "08/Jul/2024:11:07:07.123",  # haproxy: milliseconds, no zone
                "Mon Jul  8 11:07:07 2024",  # ctime (vsftpd, openvpn)
                "Mon 2024-07-08 11:07:07 UTC",
                "Feb 30 10:00:00",
                "garbage",
                None,
            ]
        ),
        "UTC",
        mtime,
    ).to_pylist()
    assert values == [
        datetime(2025, 6, 7, 10, 0, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
        datetime(2024, 6, 7, 10, 0, 0, 500000, tzinfo=UTC),
        datetime(2024, 7, 8, 11, 7, 7, 123000, tzinfo=UTC),
        datetime(2024, 7, 8, 11, 7, 7, tzinfo=UTC),
        datetime(2024, 7, 8, 11, 7, 7, tzinfo=UTC),
        None,
        None,
        None,
    ]
