"""Hostile and broken input: counted per reason, sampled, never a crash, nothing else lost."""

from __future__ import annotations

import random
from pathlib import Path

from helpers import Scanner, access_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.state.store import Store


def test_crlf_lines_parse_like_lf(scanner: Scanner, tmp_path: Path) -> None:
    lines = access_lines(0, 10)
    (tmp_path / "access.log").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    result = scanner.scan(tmp_path)
    assert scanner.sink.lines == lines
    assert result.stats["lines_unparsed"] == 0


def test_nul_runs_invalid_utf8_and_long_lines_are_counted(scanner: Scanner, tmp_path: Path) -> None:
    good = access_lines(0, 6)
    data = b"".join(
        [
            good[0].encode() + b"\n",
            b"\x00" * 4096 + b"\n",  # a NUL run: what a crash leaves in a preallocated log
            good[1].encode() + b"\n",
            good[2].replace("Firefox", "Fire\xfffox").encode("latin-1") + b"\n",  # invalid UTF-8
            b"A" * (3 << 20) + b"\n",  # a 3 MiB line
            good[3].encode() + b"\n",
            bytes(random.Random(7).randrange(256) for _ in range(3000)).replace(b"\n", b" ") + b"\n",
            good[4].encode() + b"\n",
            b"\n\n",
            good[5].encode() + b"\n",
        ]
    )
    (tmp_path / "access.log").write_bytes(data)
    result = scanner.scan(tmp_path, chunk_size=64 << 10)
    stats = result.stats
    assert stats["lines_read"] == 11
    assert stats["lines_blank"] == 2
    assert stats["lines_parsed"] == 6  # the repaired UTF-8 line still parses
    assert stats["lines_unparsed"] == 3
    assert stats["unparsed_reasons"]["nul-run"] == 1
    assert stats["unparsed_reasons"]["too-long"] == 1
    assert stats["unparsed_reasons"]["no-match"] == 1  # the random bytes
    assert stats["lines_repaired"] == {"invalid-utf8": 2}  # the Latin-1 line and the random bytes
    assert sum(stats["unparsed_reasons"].values()) == 3
    read = scanner.sink.lines
    assert read[3:] == good[3:]  # the lines after the 3 MiB one are all read
    assert read[:2] == good[:2]
    assert "Fire\ufffdfox" in read[2]
    with Store(scanner.state) as store:
        reasons = {r[0] for r in store.execute("SELECT reason FROM unparsed_samples")}
        longest = store.execute("SELECT MAX(LENGTH(sample)) FROM unparsed_samples").fetchone()[0]
    assert {"nul-run", "too-long"} <= reasons
    assert longest <= 300  # samples are capped, a 3 MiB line is never stored


def test_unknown_format_is_counted_not_fatal(scanner: Scanner, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("this is\njust some prose\nnot a log at all\n")
    (tmp_path / "access.log").write_text("\n".join(access_lines(0, 3)) + "\n")
    result = scanner.scan(tmp_path)
    assert result.stats["unparsed_reasons"] == {"unknown-format": 3}
    assert len(scanner.sink.lines) == 3


def test_a_line_longer_than_the_chunk_is_skipped_without_holding_it(scanner: Scanner, tmp_path: Path) -> None:
    good = access_lines(0, 2)
    (tmp_path / "access.log").write_bytes(
        good[0].encode() + b"\n" + b"x" * (1 << 20) + b"\n" + good[1].encode() + b"\n"
    )
    result = scanner.scan(tmp_path, chunk_size=16 << 10)
    assert scanner.sink.lines == good
    assert result.stats["unparsed_reasons"] == {"too-long": 1}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=400),
            st.sampled_from(
                [
                    b'1.2.3.4 - - [21/Nov/2026:10:00:00 +0000] "GET /\\"x HTTP/1.1" 200 1 "-" "a\\"b"',
                    b"<34>Nov 21 10:00:00 h sshd[1]: Failed password for \x1b[31m from 1.2.3.4 port 1 ssh2",
                    b'{"ts": "2026-11-21T10:00:00Z", "msg": "\\u0000"}',
                    b"\xef\xbb\xbf\xff\xfe",
                    b"${jndi:ldap://x}" * 100,
                ]
            ),
        ),
        max_size=30,
    ),
    fmt=st.sampled_from(["access.log", "auth.log", "app.jsonl", "x.log"]),
)
def test_random_bytes_never_crash_and_every_line_is_accounted(tmp_path_factory, chunks, fmt) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    data = b"\n".join(chunks) + b"\n"
    (base / fmt).write_bytes(data)
    scanner = Scanner(state=base / "state.db")
    result = scanner.scan(base)
    stats = result.stats
    assert stats["lines_read"] == data.count(b"\n")
    assert stats["lines_parsed"] + stats["lines_unparsed"] + stats["lines_blank"] == stats["lines_read"]
    assert sum(stats["unparsed_reasons"].values()) == stats["lines_unparsed"]
    assert len(scanner.sink.lines) == stats["lines_parsed"]


def test_an_archive_corrupt_halfway_keeps_the_lines_before_and_the_scan_goes_on(scanner: Scanner, tmp_path: Path) -> None:
    """A rotated `.gz` whose deflate stream breaks in the middle (a disk error, a copy cut
    short and patched): the lines before the damage are read, the scan warns and finishes,
    and the other files of the run are read whole."""
    import gzip
    import zlib

    lines = access_lines(0, 20_000)
    blob = bytearray(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    middle = len(blob) // 2
    blob[middle : middle + 64] = bytes(random.Random(7).randrange(256) for _ in range(64))
    try:  # the damage must really be in the deflate stream, not a harmless spot
        zlib.decompress(bytes(blob), wbits=31)
        raise AssertionError("the corruption did not corrupt")
    except zlib.error:
        pass
    (tmp_path / "access.log.2.gz").write_bytes(bytes(blob))
    healthy = access_lines(20_000, 50)
    (tmp_path / "access.log").write_text("\n".join(healthy) + "\n")
    result = scanner.scan(tmp_path, chunk_size=64 << 10)
    read = scanner.sink.lines
    assert read[-50:] == healthy  # the live file, after its older generation
    archived = read[:-50]
    # gzip checks its CRC only at the end: lines just before the damage may be garbled, but
    # the first half is intact and nothing after the damage is invented
    assert archived[:5_000] == lines[:5_000] and len(archived) < len(lines)
    assert any("access.log.2.gz" in m and "stopped reading" in m for m in scanner.messages)
    assert result.stats["files"] == 2
