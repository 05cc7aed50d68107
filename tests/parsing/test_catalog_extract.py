"""Extraction without the uncaptured tail gives exactly the whole pattern's captures."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.parsing.catalog import load_catalog
from detector.parsing.catalog.extract import MIN_ROWS, extract, tail_split

SPLIT = [t.pattern for s in load_catalog() for t in s.templates if tail_split(t.pattern)]
ACCEPTED = next(p for p in SPLIT if p.startswith("^Accepted publickey"))
LINES = [
    "Accepted publickey for deploy from 198.51.100.4 port 40023 ssh2: ED25519 SHA256:3q2+7w0Yy1hXbV0ZcKkqPzQ",
    "Accepted publickey for deploy from 198.51.100.4 port 40023",
    # the first way the head matches is not followed by the tail: the user takes the rest
    "Accepted publickey for a from 1.1.1.1 port 22 x from 2.2.2.2 port 33 ssh2",
    "Accepted publickey for a from 1.1.1.1 port 123456 ssh2",  # five digits, then no tail
    "Accepted publickey for é from 2001:db8::1 port 1 ssh1: x",
    "Accepted publickey for  from 1.2.3.4 port 5",
    "Accepted publickey for x from 1.2.3.4 port 5 ssh3",
    "User root from 203.0.113.11 not allowed because not listed in AllowUsers",
    "User root not allowed because account is locked",
    "Unable to negotiate with 203.0.113.9 port 5: no matching key exchange method found. Their offer: x",
    'Connection from 203.0.113.9 port 5 on 10.0.0.1 port 22 rdomain ""',
    'user "bob" was not found in "/etc/nginx/.htpasswd"',
    "something else",
    "",
]


def _same(values: list[str], pattern: str) -> None:
    array = pa.array(values, pa.string())
    match, ok = extract(array, pattern)
    expected = pc.extract_regex(array, pattern)
    assert ok.tolist() == expected.is_valid().to_pylist()
    for field in expected.type:
        got = pc.struct_field(match, field.name).filter(pa.array(ok))
        assert got.equals(pc.struct_field(expected, field.name).filter(pa.array(ok))), field.name


def test_the_split_templates_include_the_busiest():
    assert tail_split(ACCEPTED).literal_bytes == len("Accepted publickey for  from  port ")


def test_hostile_lines_get_the_whole_patterns_captures():
    _same(LINES * (MIN_ROWS // len(LINES) + 1), ACCEPTED)
    sliced = pa.array(["x"] * 3 + LINES * 10, pa.string()).slice(3)
    match, ok = extract(sliced, ACCEPTED)
    assert ok.tolist() == pc.extract_regex(sliced, ACCEPTED).is_valid().to_pylist()


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(SPLIT),
    st.lists(
        st.tuples(st.sampled_from(LINES), st.integers(0, 90), st.text(alphabet=" :.0123456789abfromport[]$é", max_size=12)),
        min_size=MIN_ROWS,
        max_size=MIN_ROWS + 8,
    ),
)
def test_every_split_template_on_mutated_lines(pattern: str, edits: list[tuple[str, int, str]]):
    lines = [line[:cut] + insert + line[cut:] for line, cut, insert in edits]
    _same(lines, pattern)
