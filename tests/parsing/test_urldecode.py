"""Percent-decoding of request targets, column at a time."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.parsing.arrowtext import holding_bytes, mask_of
from detector.parsing.urldecode import percent_decode, split_target


def decode(values: list, plus: bool = False) -> list:
    return percent_decode(pa.array(values, pa.string()), plus_as_space=plus).to_pylist()


def test_decodes_once_and_leaves_invalid_escapes():
    assert decode(["/a%20b", "%2541", "%41%42", "/x%zz%", "%4", "", None, "/caf%C3%A9"]) == [
        "/a b",
        "%41",
        "AB",
        "/x%zz%",
        "%4",
        "",
        None,
        "/café",
    ]


def test_plus_is_a_space_only_in_queries():
    assert decode(["a+b%2B"]) == ["a+b+"]
    assert decode(["a+b%2B"], plus=True) == ["a b+"]


def test_bytes_that_are_not_utf8_keep_the_raw_text():
    assert decode(["/%ff", "/%C3", "/%C3%A9%ff", "/%e2%82%ac"]) == ["/%ff", "/%C3", "/%C3%A9%ff", "/€"]


def test_escapes_at_row_boundaries_stay_in_their_row():
    assert decode(["%4", "1", "ab%", "41"]) == ["%4", "1", "ab%", "41"]


def test_split_target():
    path, query = split_target(pa.array(["/p?x=%31&y=a+b", "/only", "?q", None, "https://h.example", "//double"]))
    assert path.to_pylist() == ["/p", "/only", "", None, "/", "//double"]
    assert query.to_pylist() == ["x=1&y=a b", None, "q", None, None, None]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet="a%+\\é\x00 2", max_size=8)), max_size=30),
    st.booleans(),
    st.integers(0, 5),
)
def test_holding_bytes_finds_the_values_a_substring_search_finds(values, wide, skip):
    arr = pa.array(values, pa.large_string() if wide else pa.string()).slice(min(skip, len(values)))
    for chars in (b"%", b"%+", b"\\"):
        expected = np.zeros(len(arr), dtype=bool)
        for char in chars.decode():
            expected |= mask_of(pc.match_substring(arr, char))
        assert holding_bytes(arr, chars).tolist() == expected.tolist()
