"""The hash-chained audit trail: real SQLite file, real mirror file, tampering of each copy."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from detector.errors import StateError
from detector.state.store import Store
from escalation.audit import ACTIONS, AuditTrail, default_audit_path, entry_hash

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)
HOSTILE = 'root\n<script>"x"</script> \u202e \x1b[31m'


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def store(state: Path) -> Store:
    with Store(state) as opened:
        yield opened


@pytest.fixture
def trail(store: Store, state: Path) -> AuditTrail:
    return AuditTrail(store, default_audit_path(state))


def record(trail: AuditTrail, count: int, start: int = 0) -> None:
    """`count` entries, one committed transaction each, mirrored after each commit."""
    for i in range(start, start + count):
        with trail.store.transaction():
            trail.append(
                at=T0 + timedelta(minutes=i),
                actor="logwarden" if i % 2 == 0 else "alice",
                action=ACTIONS[i % len(ACTIONS)],
                incident_id=f"INC-{i % 2:010d}",
                details={"n": i, "text": HOSTILE},
            )
        trail.sync_mirror()


def mirror_lines(trail: AuditTrail) -> list[bytes]:
    return trail.mirror_path.read_bytes().splitlines(keepends=True)


def problems_of(trail: AuditTrail) -> str:
    result = trail.verify()
    assert not result.ok
    return "\n".join(result.problems)


# -- the untampered trail ------------------------------------------------------------------------


def test_default_audit_path_sits_next_to_the_state_file(tmp_path: Path) -> None:
    assert default_audit_path(tmp_path / "state.db") == tmp_path / "state.audit.jsonl"


def test_untampered_trail_verifies(trail: AuditTrail) -> None:
    record(trail, 5)
    result = trail.verify()
    assert result.ok, result.problems
    assert result.entries == 5
    assert result.unmirrored == 0
    assert [e.seq for e in trail.entries()] == [1, 2, 3, 4, 5]


def test_entries_chain_and_mirror_agree(trail: AuditTrail) -> None:
    record(trail, 3)
    entries = trail.entries()
    assert entries[0].prev_hash == "0" * 64
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    first = entries[0]
    assert first.hash == entry_hash("0" * 64, 1, "2026-11-21T10:00:00Z", "logwarden", ACTIONS[0],
                                    "INC-0000000000", {"n": 0, "text": HOSTILE})
    mirrored = [json.loads(line) for line in mirror_lines(trail)]
    assert mirrored == [e.to_dict() for e in entries]
    assert entries[1].details["text"] == HOSTILE  # hostile text kept exactly, one line per entry


def test_entries_of_one_incident(trail: AuditTrail) -> None:
    record(trail, 4)
    assert [e.seq for e in trail.entries("INC-0000000001")] == [2, 4]
    assert {e.actor for e in trail.entries("INC-0000000001")} == {"alice"}


def test_mirror_is_created_private_whatever_the_umask(state: Path) -> None:
    old = os.umask(0o022)
    try:
        with Store(state) as store:
            trail = AuditTrail(store, default_audit_path(state))
            assert stat.S_IMODE(trail.mirror_path.stat().st_mode) == 0o600  # exists before any entry
            record(trail, 1)
            assert stat.S_IMODE(trail.mirror_path.stat().st_mode) == 0o600
            assert stat.S_IMODE(state.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_verify_reports_a_mirror_readable_by_others(trail: AuditTrail) -> None:
    record(trail, 1)
    trail.mirror_path.chmod(0o644)
    assert "readable by others" in problems_of(trail)


def test_mirror_is_only_appended_to(trail: AuditTrail) -> None:
    record(trail, 2)
    before = trail.mirror_path.read_bytes()
    inode = trail.mirror_path.stat().st_ino
    record(trail, 2, start=2)
    after = trail.mirror_path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    assert trail.mirror_path.stat().st_ino == inode
    assert trail.sync_mirror() == 0  # nothing new: nothing appended, no duplicate line
    assert trail.mirror_path.read_bytes() == after


# -- transactions and crashes ---------------------------------------------------------------------


def test_append_outside_a_transaction_is_refused(trail: AuditTrail) -> None:
    with pytest.raises(StateError, match="inside the store transaction"):
        trail.append(at=T0, actor="logwarden", action="opened", incident_id="INC-1", details={})


def test_unknown_action_is_refused(trail: AuditTrail) -> None:
    with trail.store.transaction(), pytest.raises(ValueError, match="unknown audit action 'hacked'"):
        trail.append(at=T0, actor="logwarden", action="hacked", incident_id="INC-1", details={})


def test_entry_rolls_back_with_the_change_it_describes(trail: AuditTrail) -> None:
    record(trail, 1)
    with pytest.raises(RuntimeError), trail.store.transaction():
        trail.append(at=T0, actor="logwarden", action="resolved", incident_id="INC-1", details={})
        raise RuntimeError("the state change failed")
    assert [e.action for e in trail.entries()] == [ACTIONS[0]]
    assert trail.sync_mirror() == 0
    assert trail.verify().ok


def test_sync_mirror_inside_a_transaction_is_refused(trail: AuditTrail) -> None:
    with trail.store.transaction(), pytest.raises(StateError, match="after the transaction commits"):
        trail.sync_mirror()


def test_crash_before_mirroring_is_caught_up_after_restart(state: Path) -> None:
    with Store(state) as store:
        trail = AuditTrail(store, default_audit_path(state))
        record(trail, 2)
        with store.transaction():  # committed, then the process dies before sync_mirror
            trail.append(at=T0, actor="logwarden", action="escalated", incident_id="INC-1", details={"level": 2})
        result = trail.verify()
        assert result.ok and result.unmirrored == 1  # behind, not tampered
    with Store(state) as store:
        trail = AuditTrail(store, default_audit_path(state))
        assert trail.sync_mirror() == 1
        assert [json.loads(line)["seq"] for line in mirror_lines(trail)] == [1, 2, 3]
        result = trail.verify()
        assert result.ok and result.unmirrored == 0


# -- tampering with the table ----------------------------------------------------------------------


def test_edited_table_row_is_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    trail.store.execute("UPDATE audit SET details = ? WHERE seq = 3", (json.dumps({"n": 99}),))
    assert "audit table seq 3: content does not match its hash" in problems_of(trail)


def test_table_rewritten_consistently_is_caught_by_the_mirror(trail: AuditTrail) -> None:
    record(trail, 5)
    rows = trail.store.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    prev = rows[1]["hash"]
    for row in rows[2:]:  # re-chain from seq 3 on: the table alone looks perfect
        details = {"n": 99} if row["seq"] == 3 else json.loads(row["details"])
        digest = entry_hash(prev, row["seq"], row["at"], row["actor"], row["action"], row["incident_id"], details)
        trail.store.execute("UPDATE audit SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                            (json.dumps(details), prev, digest, row["seq"]))
        prev = digest
    problems = problems_of(trail)
    assert "audit table" not in problems
    assert "audit seq 3: the table and the mirror differ" in problems


def test_removed_middle_table_row_is_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    trail.store.execute("DELETE FROM audit WHERE seq = 3")
    problems = problems_of(trail)
    assert "audit table seq 4: seq 3 missing before it" in problems
    assert "audit seq 3 is missing from the table" in problems


def test_removed_last_table_row_is_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    trail.store.execute("DELETE FROM audit WHERE seq = 5")
    assert "audit seq 5 is in the mirror but the table ends before it" in problems_of(trail)
    assert trail.sync_mirror() == 0  # the mirror keeps the evidence


def test_swapped_table_rows_are_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    conn = trail.store.conn
    conn.execute("UPDATE audit SET seq = -2 WHERE seq = 2")
    conn.execute("UPDATE audit SET seq = 2 WHERE seq = 3")
    conn.execute("UPDATE audit SET seq = 3 WHERE seq = -2")
    problems = problems_of(trail)
    assert "audit table seq 2: content does not match its hash" in problems
    assert "audit table seq 3: content does not match its hash" in problems


# -- tampering with the mirror ---------------------------------------------------------------------


def rewrite(trail: AuditTrail, lines: list[bytes]) -> None:
    """What an attacker does to the mirror (logwarden itself never rewrites it)."""
    trail.mirror_path.write_bytes(b"".join(lines))


def test_edited_byte_in_mirror_is_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    lines = mirror_lines(trail)
    assert b'"actor":"logwarden"' in lines[2]
    lines[2] = lines[2].replace(b'"actor":"logwarden"', b'"actor":"logwardem"')
    rewrite(trail, lines)
    assert "line 3 (seq 3): content does not match its hash" in problems_of(trail)


def test_garbled_mirror_line_is_detected(trail: AuditTrail) -> None:
    record(trail, 3)
    lines = mirror_lines(trail)
    lines[1] = lines[1][:10] + b"\xff" + lines[1][11:]
    rewrite(trail, lines)
    assert "line 2: unreadable" in problems_of(trail)


def test_removed_middle_mirror_line_is_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    lines = mirror_lines(trail)
    del lines[2]
    rewrite(trail, lines)
    problems = problems_of(trail)
    assert "line 3 (seq 4): seq 3 missing before it" in problems
    assert "audit seq 3 is missing from the mirror" in problems


def test_removed_last_mirror_line_is_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    rewrite(trail, mirror_lines(trail)[:-1])
    assert "audit mirror ends at seq 4 but seq 5 was already mirrored" in problems_of(trail)
    assert trail.sync_mirror() == 0  # catching up would hide the cut


def test_deleted_mirror_is_detected(trail: AuditTrail, store: Store, state: Path) -> None:
    record(trail, 2)
    trail.mirror_path.unlink()
    assert "is missing" in problems_of(trail)
    reopened = AuditTrail(store, default_audit_path(state))  # recreates an empty mirror
    assert "audit mirror ends at seq 0 but seq 2 was already mirrored" in problems_of(reopened)


def test_reordered_mirror_lines_are_detected(trail: AuditTrail) -> None:
    record(trail, 5)
    lines = mirror_lines(trail)
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(trail, lines)
    problems = problems_of(trail)
    assert "line 3 (seq 2): out of order, expected seq 4" in problems
    assert "audit seq 2 is missing from the mirror" in problems


def test_catch_up_after_entries_larger_than_the_tail_read(trail: AuditTrail) -> None:
    big = "x" * 200_000  # the mirror's last line is found reading backwards in blocks
    with trail.store.transaction():
        trail.append(at=T0, actor="logwarden", action="note", incident_id="INC-1", details={"text": big})
    assert trail.sync_mirror() == 1
    record(trail, 2, start=1)
    assert [json.loads(line)["seq"] for line in mirror_lines(trail)] == [1, 2, 3]
    assert trail.verify().ok


def test_torn_last_mirror_line_stops_appending_and_is_reported(trail: AuditTrail) -> None:
    record(trail, 2)
    with open(trail.mirror_path, "ab") as mirror:  # e.g. power lost in the middle of a write
        mirror.write(b'{"seq": 3, "at": "2026-')
    with trail.store.transaction():
        trail.append(at=T0, actor="logwarden", action="note", incident_id="INC-1", details={})
    assert trail.sync_mirror() == 0
    assert "line 3: unreadable" in problems_of(trail)
