"""Every rotation and fault case of DESIGN §10, asserting the exact lines read across runs."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from helpers import RecordingSink, Scanner, access_lines, write

from detector.state.store import Store


def assert_exactly_once(scanner: Scanner, expected: list[str]) -> None:
    read = scanner.sink.lines
    assert len(read) == len(set(read)), "a line was read twice"
    assert sorted(read) == sorted(expected)


def test_appends_across_runs_hold_back_a_partial_line(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    first, second, third = access_lines(0, 100), access_lines(100, 50), access_lines(150, 10)
    write(log, first)
    scanner.scan(log)
    assert_exactly_once(scanner, first)
    # append 50 lines and half of the next one
    with open(log, "a") as handle:
        handle.write("\n".join(second) + "\n" + third[0][:40])
    result = scanner.scan(log)
    assert_exactly_once(scanner, first + second)
    assert result.stats["lines_read"] == 50
    with open(log, "a") as handle:
        handle.write(third[0][40:] + "\n" + "\n".join(third[1:]) + "\n")
    scanner.scan(log)
    assert_exactly_once(scanner, first + second + third)


def test_nothing_new_reads_nothing(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, access_lines(0, 20))
    scanner.scan(log)
    result = scanner.scan(log)
    assert result.stats["lines_read"] == 0
    assert len(scanner.sink.lines) == 20


def test_rename_and_create_rotation(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a, b, c = access_lines(0, 30), access_lines(30, 20), access_lines(50, 25)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")  # written before the rotation, not yet scanned
    os.rename(log, tmp_path / "access.log.1")
    write(log, c)
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    assert scanner.gaps() == []


def test_copytruncate_rotation(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a, b, c = access_lines(0, 40), access_lines(40, 15), access_lines(55, 12)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    shutil.copyfile(log, tmp_path / "access.log.1")
    os.truncate(log, 0)
    write(log, c, mode="a")
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    assert scanner.gaps() == []


def test_copy_in_progress_is_not_read_twice(scanner: Scanner, tmp_path: Path) -> None:
    """copytruncate caught between the copy and the truncate: the copy is a duplicate."""
    log = tmp_path / "access.log"
    a, b, c = access_lines(0, 40), access_lines(40, 15), access_lines(55, 5)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, b, mode="a")
    shutil.copyfile(log, tmp_path / "access.log.1")
    scanner.scan(tmp_path)  # original and copy both present, same content
    assert_exactly_once(scanner, a + b)
    os.truncate(log, 0)
    write(log, c, mode="a")
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)


def test_rotated_file_compressed_between_runs(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a, b, c, d = access_lines(0, 30), access_lines(30, 10), access_lines(40, 10), access_lines(50, 10)
    write(log, a)
    scanner.scan(tmp_path)
    rotated = tmp_path / "access.log.1"
    os.rename(log, rotated)
    write(log, c)
    write(rotated, b, mode="a")  # the writer still appended to the old inode before reopening
    # logrotate compresses .1 into .1.gz (delaycompress on the next cycle) before we scan again
    with open(rotated, "rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    rotated.unlink()
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + b + c)
    write(log, d, mode="a")
    scanner.scan(tmp_path)  # the archive is not read again
    assert_exactly_once(scanner, a + b + c + d)
    assert scanner.gaps() == []


def test_rotated_siblings_are_read_oldest_first(scanner: Scanner, tmp_path: Path) -> None:
    oldest, older, live = access_lines(0, 10), access_lines(10, 10), access_lines(20, 10)
    with gzip.open(tmp_path / "access.log.2.gz", "wt") as handle:
        handle.write("\n".join(oldest) + "\n")
    write(tmp_path / "access.log.1", older)
    write(tmp_path / "access.log", live)
    scanner.scan(tmp_path)
    assert scanner.sink.lines == oldest + older + live


def test_truncation_in_place_is_a_gap(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    a, lost, c = access_lines(0, 20), access_lines(20, 5), access_lines(25, 7)
    write(log, a)
    scanner.scan(tmp_path)
    write(log, lost, mode="a")
    os.truncate(log, 0)  # `: > access.log` — the classic way of wiping a log
    write(log, c, mode="a")
    result = scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + c)
    gaps = scanner.gaps()
    assert [g["reason"] for g in gaps] == ["truncated"]
    assert result.stats["gaps"] == 1
    assert any("GAP" in m for m in scanner.messages)
    with Store(scanner.state) as store:
        assert [d.kind for d in store.defects()] == ["gap"]


def test_delete_and_recreate(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a, c = access_lines(0, 20), access_lines(30, 8)
    write(log, a)
    scanner.scan(tmp_path)
    log.unlink()
    write(log, c)
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + c)
    gaps = scanner.gaps()
    assert len(gaps) == 1 and gaps[0]["reason"] in ("replaced", "truncated")


def test_unread_bytes_of_a_vanished_file_are_counted(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"  # the live file: a partial last line waits for its newline
    a = access_lines(0, 10)
    write(log, a)
    with open(log, "a") as handle:
        handle.write(access_lines(10, 1)[0][:30])  # an incomplete line we could not read yet
    scanner.scan(tmp_path)
    log.unlink()
    scanner.scan(tmp_path)
    gaps = scanner.gaps()
    assert len(gaps) == 1
    assert gaps[0]["reason"] == "deleted"
    assert gaps[0]["lost_bytes"] == 30


def test_inode_reuse_is_a_new_file(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a, c = access_lines(0, 15), access_lines(100, 15)
    write(log, a)
    scanner.scan(tmp_path)
    log.unlink()
    write(log, c)
    new_inode = os.stat(log).st_ino
    # Make the stored checkpoint claim the new file's inode, as when the filesystem reuses it.
    with Store(scanner.state) as store, store.transaction():
        store.execute("UPDATE files SET inode = ?", (new_inode,))
    scanner.scan(tmp_path)
    assert_exactly_once(scanner, a + c)


def test_rewritten_content_before_the_offset_is_read_as_new(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a = access_lines(0, 20)
    write(log, a)
    scanner.scan(tmp_path)
    # Same first kilobyte (same head fingerprint), different content afterwards, longer file.
    b = a[:6] + access_lines(200, 30)
    write(log, b)
    scanner.scan(tmp_path)
    assert sorted(scanner.sink.lines) == sorted(a + b)
    assert [g["reason"] for g in scanner.gaps()] == ["rewritten"]


def test_rotation_caught_between_rename_and_create_under_a_glob_is_not_a_gap(tmp_path: Path) -> None:
    """A source `logs/*.log`: a run between `mv app.log app.log.1` and the re-create sees no
    file of the stream at all. The renamed file is still there, so nothing is lost: no gap,
    and the next run reads its tail and the new file exactly once."""
    from datetime import datetime, timezone

    from detector.config import Application, Config, SourceSpec
    from detector.runs.scan import run_scan

    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    state = tmp_path / "state" / "state.db"
    source = SourceSpec(path=f"{logs}/*.log", application="shop")
    config = Config(path=None, state=state, checklist=None, escalation=None, timezone="UTC",
                    applications=(Application("shop", "high", "ops", None, (source,)),))
    sink = RecordingSink()

    def scan() -> None:
        with Store(state) as store:
            run_scan(store, config, [], datetime.now(timezone.utc), sink=sink, log=lambda m: None)

    a, b, c = access_lines(0, 5), access_lines(5, 3), access_lines(8, 4)
    write(log, a)
    scan()
    write(log, b, mode="a")
    log.rename(logs / "app.log.1")
    scan()  # between rename and re-create
    write(log, c)
    scan()
    assert sorted(sink.lines) == sorted(a + b + c)
    with Store(state) as store:
        assert [dict(r) for r in store.execute("SELECT reason FROM gaps")] == []
