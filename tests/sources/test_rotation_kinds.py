"""The rotations logrotate and people do besides rename and copytruncate: `copy` (the original
keeps growing next to its duplicate), `dateext` (with the default and a custom `dateformat`),
`olddir` (generations moved to another directory), and an editor's atomic save (a new file
renamed over the log). Each line is read exactly once and nothing is reported lost."""

from __future__ import annotations

import gzip
import os
import random
import shutil
from pathlib import Path

import pytest
from helpers import Scanner, access_lines, write
from test_rotation import assert_exactly_once
from watchkit import append, rotate_through_copy_dateext_and_olddir


def test_copy_rotation_reads_neither_the_duplicate_nor_the_original_twice(scanner: Scanner, tmp_path: Path) -> None:
    """logrotate `copy`: the log is copied to .1 and NOT truncated; the program keeps writing."""
    log = tmp_path / "access.log"
    a, b, c, d = access_lines(0, 30), access_lines(30, 10), access_lines(40, 10), access_lines(50, 5)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")  # not read before the copy
    shutil.copyfile(log, tmp_path / "access.log.1")
    write(log, c, mode="a")
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    # next night: .1 compressed to .2.gz, a fresh copy to .1, still no truncation
    with open(tmp_path / "access.log.1", "rb") as plain, gzip.open(tmp_path / "access.log.2.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    os.remove(tmp_path / "access.log.1")
    write(log, d, mode="a")
    shutil.copyfile(log, tmp_path / "access.log.1")
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c + d)
    assert scanner.gaps() == []


@pytest.mark.parametrize("rotated", ["access.log-20261121", "old/access.log.1"], ids=["dateext", "olddir"])
def test_rename_to_a_dated_name_or_into_olddir(scanner: Scanner, tmp_path: Path, rotated: str) -> None:
    """`dateext`, or `olddir old`: the rotated generation takes lines not yet read elsewhere."""
    _rotate(scanner, tmp_path, lambda log: os.rename(log, tmp_path / rotated), create=True)


@pytest.mark.parametrize("copy", ["access.log-20261121-1763683200", "old/access.log.1"],
                         ids=["dateformat-with-seconds", "olddir"])
def test_copytruncate_to_a_name_or_place_no_pattern_knows(scanner: Scanner, tmp_path: Path, copy: str) -> None:
    """`dateext` + `dateformat -%Y%m%d-%s` (logrotate's example for several rotations a day), or
    `olddir old`: the copy is known by its content, not its name."""

    def copy_then_truncate(log: Path) -> None:
        shutil.copyfile(log, tmp_path / copy)
        os.truncate(log, 0)

    _rotate(scanner, tmp_path, copy_then_truncate, create=False)


def _rotate(scanner: Scanner, tmp_path: Path, rotation, create: bool) -> None:  # noqa: ANN001
    """Lines read, lines written and not read, the rotation, lines in the new file: each read once."""
    log = tmp_path / "access.log"
    (tmp_path / "old").mkdir()
    a, b, c = access_lines(0, 25), access_lines(25, 10), access_lines(35, 10)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    rotation(log)
    write(log, c, mode="w" if create else "a")
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    assert scanner.gaps() == []


def test_an_editor_saving_the_log_atomically_is_not_read_twice(scanner: Scanner, tmp_path: Path) -> None:
    """vim, `sed -i`, Ansible's `lineinfile`: write a new file, rename it over the log. The
    content read before is unchanged at the start of the new file; only what follows is new."""
    log = tmp_path / "access.log"
    a, b = access_lines(0, 20), access_lines(20, 5)
    write(log, a)
    scanner.scan(tmp_path)
    saved = tmp_path / ".access.log.swp-new"
    write(saved, a + b)
    os.replace(saved, log)
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b)
    assert scanner.gaps() == []


def test_olddir_with_compression_at_once_is_not_read_again(scanner: Scanner, tmp_path: Path) -> None:
    """`olddir old` + `compress` without `delaycompress`: the generation appears only as
    old/access.log.1.gz, a name and a directory the original never had."""
    log = tmp_path / "access.log"
    (tmp_path / "old").mkdir()
    a, b, c = access_lines(0, 30), access_lines(30, 10), access_lines(40, 10)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    with open(log, "rb") as plain, gzip.open(tmp_path / "old" / "access.log.1.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    os.remove(log)
    write(log, c)
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    assert scanner.gaps() == []


def test_two_logs_that_start_alike_are_both_read(scanner: Scanner, tmp_path: Path) -> None:
    """Matching copies by content must not take a different log for a copy: two files whose
    first lines are equal (a banner) but less than a whole fingerprint are two logs."""
    banner = ["# service started"] * 3
    write(tmp_path / "one.log", banner + access_lines(0, 5))
    scanner.scan(tmp_path)
    write(tmp_path / "two.log", banner + access_lines(100, 5))
    scanner.scan(tmp_path)
    assert sorted(scanner.sink.lines) == sorted(access_lines(0, 5) + access_lines(100, 5))


def test_a_first_scan_reads_a_copy_rotation_once(scanner: Scanner, tmp_path: Path) -> None:
    """A new state meets the live file and its `copy` duplicates (plain and compressed) at
    once: each line once, from the live file."""
    log = tmp_path / "access.log"
    a, b, c = access_lines(0, 40), access_lines(40, 20), access_lines(60, 10)
    write(log, a)
    with open(log, "rb") as plain, gzip.open(tmp_path / "access.log.2.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    write(log, b, mode="a")
    shutil.copyfile(log, tmp_path / "access.log.1")
    write(log, c, mode="a")
    (tmp_path / "other.log").write_text("\n".join(access_lines(500, 3)) + "\n")  # not a copy: read
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c + access_lines(500, 3))


def test_a_copy_that_diverges_after_its_head_is_read(scanner: Scanner, tmp_path: Path) -> None:
    """Same first kilobytes, different content after: two logs, both read."""
    a = access_lines(0, 40)
    write(tmp_path / "access.log", a + access_lines(100, 5))
    write(tmp_path / "access.log.1", a + access_lines(200, 3))
    scanner.scan(tmp_path)
    read = scanner.sink.lines
    assert sorted(set(read)) == sorted(set(a + access_lines(100, 5) + access_lines(200, 3)))
    assert all(line in read for line in access_lines(200, 3))


# Which of the 7 writes of `rotate_through_copy_dateext_and_olddir` a scan follows: none, all,
# each alone, and a fixed sample of the other 120 orders of events (all 128 take a minute).
_MOMENTS = sorted({0, 127, *(1 << k for k in range(7)), *random.Random(18).sample(range(128), 10)})


def test_copy_dateext_and_olddir_read_once_whenever_the_scans_happen(tmp_path: Path) -> None:
    for moments in _MOMENTS:
        root = tmp_path / f"moments-{moments}"
        logs = root / "logs"
        logs.mkdir(parents=True)
        scanner = Scanner(state=root / "state.db")
        calls = iter(range(7))
        written: list[str] = []

        def write_then_maybe_scan(path: Path, lines: list[str]) -> None:
            append(path, lines)
            written.extend(lines)
            if moments >> next(calls) & 1:
                scanner.scan(logs)

        rotate_through_copy_dateext_and_olddir(logs, write_then_maybe_scan)
        scanner.scan(logs)
        scanner.scan(logs)
        assert sorted(scanner.sink.lines) == sorted(written), f"scans after writes {moments:07b}"
        assert scanner.gaps() == [], f"scans after writes {moments:07b}"


def test_a_rotation_between_planning_and_reading_does_not_mix_two_files(
    scanner: Scanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """logrotate renames the log after the scan identified it and before it opens it: the new
    file must not be read as the old one (its offset would then be applied to the other)."""
    import detector.sources.checkpoints as checkpoints

    log = tmp_path / "access.log"
    old, new = access_lines(0, 30), access_lines(30, 2)
    write(log, old)
    real_identify = checkpoints.identify
    rotated: list[bool] = []

    def identify_then_rotate(path: Path, compression: str | None):  # noqa: ANN202
        identity = real_identify(path, compression)
        if path == log and not rotated:
            rotated.append(True)
            os.rename(log, tmp_path / "access.log-20261121")
            write(log, new)
        return identity

    monkeypatch.setattr(checkpoints, "identify", identify_then_rotate)
    scanner.scan(tmp_path)
    scanner.scan(tmp_path)
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, old + new)
    assert scanner.gaps() == []


def test_copytruncate_while_a_file_is_being_read(
    scanner: Scanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """logrotate copies and truncates the log between two chunks of a read, and the program
    writes on from offset 0: the next chunk at the old offset would be the middle of the new
    content. Nothing read after the truncation is committed; the copy and the new content are
    each read once, with no gap reported."""
    import detector.pipeline as pipeline

    log = tmp_path / "access.log"
    old, new = access_lines(0, 400), access_lines(400, 400)
    write(log, old)
    rotated: list[bool] = []

    class RotatingReader(pipeline.LineReader):  # type: ignore[misc, valid-type]
        def __iter__(self):  # noqa: ANN204
            for batch in super().__iter__():
                yield batch
                if not rotated and self.offset > 0:
                    rotated.append(True)
                    shutil.copyfile(log, tmp_path / "access.log.1")
                    os.truncate(log, 0)
                    write(log, new, mode="a")  # longer than what was read: the old offset lands in it

    monkeypatch.setattr(pipeline, "LineReader", RotatingReader)
    scanner.scan(tmp_path, chunk_size=8192)
    assert rotated
    scanner.scan(tmp_path, chunk_size=8192)
    assert_exactly_once(scanner, old + new)
    assert scanner.gaps() == []



def test_an_archive_still_being_compressed_is_left_for_the_next_pass(
    scanner: Scanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """logrotate's gzip creates `.2.gz`, fills it, then removes `.1`. A scan that identifies the
    archive while it is still empty and reads it once it is full must not take it for a new file:
    the whole generation would be read twice (chaos --kills 1000 found 9,102 lines read twice
    this way, under a watch daemon)."""
    import detector.sources.checkpoints as checkpoints

    log = tmp_path / "access.log"
    lines = access_lines(0, 40)
    write(log, lines)
    scanner.scan(tmp_path)
    os.rename(log, tmp_path / "access.log.1")
    write(log, [])
    archive = tmp_path / "access.log.2.gz"
    archive.write_bytes(b"")  # gzip has created its output, nothing written yet
    real_identify = checkpoints.identify
    filled: list[bool] = []

    def identify_then_finish_compressing(path: Path, compression: str | None):  # noqa: ANN202
        identity = real_identify(path, compression)
        if path == archive and not filled:
            filled.append(True)
            archive.write_bytes(gzip.compress((tmp_path / "access.log.1").read_bytes()))
        return identity

    monkeypatch.setattr(checkpoints, "identify", identify_then_finish_compressing)
    scanner.scan(tmp_path)
    os.remove(tmp_path / "access.log.1")  # gzip is done: logrotate removes the source
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, lines)
    assert scanner.gaps() == []
