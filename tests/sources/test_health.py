"""Log-source health: silent and missing sources become defects, stored, listed by `scan`,
and resolved when the source writes again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from detector.config import load_config
from detector.sources.health import SourceHealth, record_silent_sources, silence_check
from detector.sources.scope import resolve_sources
from detector.state.store import Store

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


def _config(tmp_path: Path, criticality: str = "medium") -> Path:
    (tmp_path / "logs").mkdir(exist_ok=True)
    path = tmp_path / "logwarden.yaml"
    path.write_text(
        f"state: {tmp_path / 'state.db'}\n"
        "applications:\n"
        f"  - name: shop\n    owner: web-team\n    criticality: {criticality}\n    sources:\n"
        "      - {path: 'logs/access.log*', kind: access, max_silence: 30m}\n"
        "      - {path: 'logs/error.log', kind: web-error}\n"
        "  - name: bastion\n    owner: ops\n    sources:\n"
        "      - {path: 'logs/auth/*.log', kind: auth, max_silence: 1h}\n"
    )
    return path


def _touch(path: Path, at: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("")
    os.utime(path, (at.timestamp(), at.timestamp()))


def test_a_source_quiet_longer_than_its_max_silence_is_silent(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, criticality="critical"))
    _touch(tmp_path / "logs" / "access.log", NOW - timedelta(minutes=45))
    _touch(tmp_path / "logs" / "access.log.1", NOW - timedelta(days=1))
    _touch(tmp_path / "logs" / "auth" / "sshd.log", NOW - timedelta(minutes=59))
    _touch(tmp_path / "logs" / "error.log", NOW - timedelta(days=30))  # no max_silence: never silent
    files = resolve_sources(config, []).files
    report = silence_check(config, files, NOW)
    assert [(d.kind, d.subject, d.severity) for d in report.silent] == [
        ("source-silent", str(tmp_path / "logs" / "access.log*"), "high")  # a critical application
    ]
    assert "wrote nothing for 45m, longer than its max_silence of 30m" in report.silent[0].detail
    assert len(report.cleared) == 1  # the auth source is fine: its defect (if any) is resolved
    assert report.next_due == NOW + timedelta(minutes=1)  # when the auth source would turn silent


def test_silent_defects_are_stored_and_resolved_when_the_source_writes_again(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    log = tmp_path / "logs" / "access.log"
    _touch(log, NOW - timedelta(hours=2))
    _touch(tmp_path / "logs" / "auth" / "sshd.log", NOW)
    with Store(config.state) as store:
        files = resolve_sources(config, []).files
        first = record_silent_sources(store, config, files, NOW)
        again = record_silent_sources(store, config, files, NOW + timedelta(minutes=5))
        assert [d.id for d in first] == [d.id for d in again]
        (stored,) = store.defects(status="open")
        assert (stored.kind, stored.severity, stored.first_seen) == ("source-silent", "medium", NOW)
        assert stored.last_seen == NOW + timedelta(minutes=5)
        _touch(log, NOW + timedelta(minutes=10))
        assert record_silent_sources(store, config, files, NOW + timedelta(minutes=11)) == []
        assert store.defects(status="open") == []
        changes = [c for _, _, c in store.defect_changes_since(0)]
        assert changes == ["new", "resolved"]


def test_a_missing_source_waits_for_the_grace_then_resolves_when_it_appears(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    _touch(tmp_path / "logs" / "access.log", NOW)
    _touch(tmp_path / "logs" / "auth" / "sshd.log", NOW)
    health = SourceHealth(missing_grace=timedelta(seconds=5))
    names = [s.path for s in config.sources()]
    error_glob = str(tmp_path / "logs" / "error.log")
    with Store(config.state) as store:
        sources = resolve_sources(config, [])
        assert sources.missing == [error_glob]
        assert health.check(store, config, sources, names, NOW) == []  # a rotation instant, maybe
        assert health.next_due == NOW + timedelta(seconds=5)  # the daemon wakes then to decide
        assert health.check(store, config, sources, names, NOW + timedelta(seconds=4)) == []
        (missing,) = health.check(store, config, sources, names, NOW + timedelta(seconds=5))
        assert (missing.kind, missing.subject) == ("source-missing", error_glob)
        assert [d.kind for d in store.defects(status="open")] == ["source-missing"]
        _touch(tmp_path / "logs" / "error.log", NOW)
        assert health.check(store, config, resolve_sources(config, []), names, NOW + timedelta(seconds=6)) == []
        assert store.defects(status="open") == []


def test_scan_json_lists_a_silent_source_under_defects(tmp_path: Path) -> None:
    config = _config(tmp_path)
    log = tmp_path / "logs" / "access.log"
    log.write_text('198.51.100.7 - - [23/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5"\n')
    _touch(log, NOW - timedelta(hours=3))
    _touch(tmp_path / "logs" / "auth" / "sshd.log", NOW)
    _touch(tmp_path / "logs" / "error.log", NOW)
    done = subprocess.run(
        [LOGWARDEN, "scan", "-c", str(config), "--format", "json", "--no-escalate", "--now", "2026-11-23T12:00:00Z"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    defects = json.loads(done.stdout)["defects"]
    assert [(d["kind"], d["subject"], d["status"]) for d in defects] == [
        ("source-silent", str(tmp_path / "logs" / "access.log*"), "open")
    ]
    assert "max_silence of 30m" in defects[0]["detail"]


def test_cron_scans_resolve_a_missing_source_and_an_unreadable_file_once_they_recover(tmp_path: Path) -> None:
    """`logwarden scan` from cron: the defects a run raises are resolved by the first run that
    finds the source again (no grace: each run is a full look)."""
    config = _config(tmp_path)
    _touch(tmp_path / "logs" / "access.log", NOW)
    _touch(tmp_path / "logs" / "auth" / "sshd.log", NOW)
    broken = tmp_path / "logs" / "access.log.2.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00 this is not gzip data")

    def scan(at: datetime) -> list[tuple[str, str]]:
        done = subprocess.run(
            [LOGWARDEN, "scan", "-c", str(config), "--format", "json", "--no-escalate", "--now", at.isoformat()],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        with Store(tmp_path / "state.db") as store:
            return sorted((d.kind, Path(d.subject).name) for d in store.defects(status="open"))

    assert scan(NOW) == [("source-missing", "error.log"), ("source-unreadable", "access.log.2.gz")]
    _touch(tmp_path / "logs" / "error.log", NOW)
    broken.unlink()
    assert scan(NOW + timedelta(minutes=5)) == []
