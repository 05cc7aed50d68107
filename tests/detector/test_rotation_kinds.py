"""The rotations logrotate and people do besides rename and copytruncate: `copy` (the original
keeps growing next to its duplicate), `dateext` (with the default and a custom `dateformat`),
`olddir` (generations moved to another directory), and an editor's atomic save (a new file
renamed over the log). Each line is read exactly once and nothing is reported lost."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from helpers import Scanner, access_lines, write
from test_rotation import assert_exactly_once


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


def test_dateext_rename(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a, b, c = access_lines(0, 20), access_lines(20, 10), access_lines(30, 10)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    os.rename(log, tmp_path / "access.log-20261121")
    write(log, c)
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    assert scanner.gaps() == []


def test_dateext_copytruncate_with_a_custom_dateformat(scanner: Scanner, tmp_path: Path) -> None:
    """`dateext` + `dateformat -%Y%m%d-%s` (logrotate's example for several rotations a day):
    a name no pattern knows; the copy is still known by its content."""
    log = tmp_path / "access.log"
    a, b, c = access_lines(0, 25), access_lines(25, 10), access_lines(35, 10)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    shutil.copyfile(log, tmp_path / "access.log-20261121-1763683200")
    os.truncate(log, 0)
    write(log, c, mode="a")
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    assert scanner.gaps() == []


def test_olddir_rename_moves_the_unread_tail_elsewhere(scanner: Scanner, tmp_path: Path) -> None:
    """`olddir old`: the rotated generation lands in a subdirectory, with lines not yet read."""
    log = tmp_path / "access.log"
    (tmp_path / "old").mkdir()
    a, b, c = access_lines(0, 20), access_lines(20, 10), access_lines(30, 10)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    os.rename(log, tmp_path / "old" / "access.log.1")
    write(log, c)
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    assert scanner.gaps() == []


def test_olddir_copytruncate(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    (tmp_path / "old").mkdir()
    a, b, c = access_lines(0, 20), access_lines(20, 10), access_lines(30, 10)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    shutil.copyfile(log, tmp_path / "old" / "access.log.1")
    os.truncate(log, 0)
    write(log, c, mode="a")
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
