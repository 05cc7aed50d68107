"""A state database that cannot be used: one clear line (what failed, where, what to do), exit 1,
no Python traceback unless `--debug`; and nothing half-written. Also: only a missing path is a
new state; an existing file that is not a logwarden database (an empty one included) is refused.

Real processes, real files: an unwritable state (another user's), a parent that is a file, a
page corrupted in the middle of the database, a full file system (a small tmpfs in a private
mount namespace)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from watchkit import assert_contiguous, auth_benign, auth_failure, lines_ingested

from detector.state.store import Store

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))
NOW = "2026-11-21T12:00:00Z"


def lw(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:  # noqa: ANN003 - subprocess options
    return subprocess.run([LOGWARDEN, *args], capture_output=True, text=True, timeout=300, **kwargs)


def assert_one_clear_line(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 1, one line on stderr naming what failed and where, no traceback."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _auth_log(path: Path, lines: int) -> None:
    from datetime import timedelta

    from watchkit import T0

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        for i in range(lines):
            handle.write(auth_benign(i) + "\n")
            if i % 5000 == 2500:
                for j in range(7):
                    handle.write(auth_failure(f"203.0.113.{i % 200 + 1}", j, T0 + timedelta(seconds=i + j)) + "\n")


def test_unwritable_state_is_one_line(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _auth_log(logs / "auth.log", 50)
    state = tmp_path / "state" / "state.db"
    assert lw("scan", str(logs), "--state", str(state), "--no-escalate").returncode == 0
    _auth_log(logs / "auth.log", 60)
    state.chmod(0o400)
    state.parent.chmod(0o500)
    # root writes anywhere: without its override capabilities it meets permissions like anyone
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        done = subprocess.run([*prefix, LOGWARDEN, "scan", str(logs), "--state", str(state), "--no-escalate"],
                              capture_output=True, text=True, timeout=300)
    finally:
        state.parent.chmod(0o700)
        state.chmod(0o600)
    assert_one_clear_line(done, str(state), "writ")
    assert lines_ingested(state) == 50  # nothing half-done


def test_state_whose_parent_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "not-a-dir").write_text("I am a file\n")
    state = tmp_path / "not-a-dir" / "state.db"
    done = lw("scan", str(tmp_path / "logs"), "--state", str(state), "--no-escalate")
    assert_one_clear_line(done, str(tmp_path / "not-a-dir"), "not a directory", "--state")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "not-a-dir").write_text("")
    done = lw("--debug", "scan", str(tmp_path / "logs"), "--state", str(tmp_path / "not-a-dir" / "s.db"))
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "not a directory" in done.stderr.splitlines()[-1]


def _corrupt_findings_page(state: Path) -> None:
    """Overwrite the root page of the findings table: a bad sector in the middle of the file."""
    conn = sqlite3.connect(state)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'findings'").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert 1 < root < pages, "the findings table should sit in the middle of the file"
    with open(state, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(bytes(range(256)) * (page_size // 256))


def test_a_corrupted_page_is_one_line_and_names_the_remedy(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _auth_log(logs / "auth.log", 20_000)
    state = tmp_path / "state.db"
    assert lw("scan", str(logs), "--state", str(state), "--no-escalate").returncode == 0
    _corrupt_findings_page(state)
    done = lw("findings", "--state", str(state))
    assert_one_clear_line(done, str(state), "corrupt", "backup")
    done = lw("scan", str(logs), "--state", str(state), "--now", NOW)
    assert_one_clear_line(done, str(state), "corrupt")


def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "true"], capture_output=True)
    return probe.returncode == 0


def _scan_on_small_tmpfs(logs: Path, size: str, kept: Path) -> subprocess.CompletedProcess[str]:
    """`logwarden scan` with its state on a tmpfs of `size` in a private mount namespace; the
    state files are copied to `kept` when it ends (the tmpfs goes with the namespace)."""
    small = kept.with_name(kept.name + "-tmpfs")
    small.mkdir(exist_ok=True)
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir()
    script = (
        f'mount -t tmpfs -o size={size} tmpfs "{small}" && '
        f'"{LOGWARDEN}" scan "{logs}" --state "{small}/state.db" --no-escalate --chunk-size 65536; '
        f'code=$?; cp -a "{small}"/. "{kept}"/; exit $code'
    )
    return subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not _unshare_available(), reason="needs unshare (a private mount namespace for a small tmpfs)")
def test_disk_full_is_one_line_and_a_later_run_goes_on_exactly(tmp_path: Path) -> None:
    """The state on a small tmpfs: the scan fills it after some batches, stops with one line,
    and what it committed is right: moved to a roomy disk, the next scan reads each remaining
    byte exactly once."""
    logs = tmp_path / "logs"
    _auth_log(logs / "auth.log", 30_000)
    kept = tmp_path / "kept"
    for size in ("1m", "1500k", "2m", "3m", "4m", "6m", "8m"):  # the smallest that holds a few batches
        done = _scan_on_small_tmpfs(logs, size, kept)
        if done.returncode == 1 and lines_ingested(kept / "state.db") > 0:
            break
    else:
        pytest.fail("no tmpfs size let the scan commit a batch and then fill up")
    small = kept.with_name("kept-tmpfs")
    assert_one_clear_line(done, str(small / "state.db"), "no space left")
    saved = kept / "state.db"
    partial = lines_ingested(saved)
    final = lw("scan", str(logs), "--state", str(saved), "--no-escalate", "--format", "json")
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["stats"]["lines_read"] + partial == lines_ingested(saved)
    assert_contiguous(saved)
    assert sum(1 for _ in open(logs / "auth.log")) == lines_ingested(saved)


# -- only a missing path is a new state ------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am a text file\n", b"SQLite format 3\x00" + b"\x00" * 84],
    ids=["empty", "text", "truncated-sqlite"],
)
def test_an_existing_file_that_is_no_logwarden_database_is_refused(tmp_path: Path, content: bytes) -> None:
    logs = tmp_path / "logs"
    _auth_log(logs / "auth.log", 10)
    state = tmp_path / "state.db"
    state.write_bytes(content)
    done = lw("scan", str(logs), "--state", str(state), "--now", NOW)
    assert_one_clear_line(done, str(state), "not a logwarden state database")
    assert state.read_bytes() == content  # left as it was: nothing re-read, nobody re-notified
    assert not state.with_name("state.db-wal").exists()


def test_another_programs_sqlite_database_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "other.db"
    conn = sqlite3.connect(state)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.commit()
    conn.close()
    (tmp_path / "logs").mkdir()
    done = lw("scan", str(tmp_path / "logs"), "--state", str(state), "--no-escalate")
    assert_one_clear_line(done, str(state), "not a logwarden state database")
    conn = sqlite3.connect(state)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["moz_places"]
    conn.close()


def test_a_missing_path_is_a_new_state_created_whole(tmp_path: Path) -> None:
    state = tmp_path / "new" / "state.db"
    with Store(state) as store:
        assert store.execute("SELECT version FROM schema_migrations WHERE component = 'detector'").fetchone()
    with Store(state) as store:  # and it opens again as ours
        assert store.findings() == []
    leftovers = [p.name for p in state.parent.iterdir() if p.name not in ("state.db", "state.db-wal", "state.db-shm")]
    assert leftovers == []
