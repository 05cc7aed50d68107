"""The daemon watches its sources' health: a source silent longer than its max_silence or a file
it cannot read becomes a defect (and an incident), logged once and resolved when it clears; a
source whose directory appears later is read from its first line."""

from __future__ import annotations

import gzip
import os
from datetime import timedelta
from pathlib import Path

from watchkit import (
    T0,
    Watcher,
    append,
    auth_benign,
    auth_failure,
    findings,
    query,
    wait_for,
    wait_ingested,
)


def _config(tmp_path: Path, source: str, max_silence: str | None = None) -> Path:
    journal = tmp_path / "notifications.jsonl"
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "schema: 1\ntimezone: UTC\n"
        f"channels:\n  journal: {{kind: file, path: '{journal}'}}\n"
        "contacts:\n  on-call: {channels: [journal]}\n"
        "policies:\n  - name: all\n    match: {severity: informational}\n    after_hours: notify\n"
        "    levels:\n      - {notify: [on-call], wait: 1h}\n"
    )
    silence = f", max_silence: {max_silence}" if max_silence else ""
    config = tmp_path / "logwarden.yaml"
    config.write_text(
        f"state: {tmp_path / 'state.db'}\nescalation: {policy}\n"
        "applications:\n  - name: bastion\n    owner: ops\n    criticality: high\n    sources:\n"
        f"      - {{path: '{source}', kind: auth{silence}}}\n"
    )
    return config


def _defects(state: Path) -> list[tuple[str, str]]:
    return query(state, "SELECT kind, status FROM defects ORDER BY first_seen, id")


def test_a_silent_source_becomes_a_defect_and_an_incident_then_clears(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "auth.log"
    append(log, [auth_benign(1)])
    config = _config(tmp_path, f"{logs}/auth.log", max_silence="2s")
    # no periodic re-check to rely on: the daemon wakes when the silence exceeds max_silence
    with Watcher(tmp_path, ["-c", str(config), "--recheck", "600"], state=tmp_path / "state.db") as watcher:
        state = watcher.state
        wait_ingested(state, 1, watcher)
        # the daemon idles; nothing is written to the source
        wait_for(lambda: ("source-silent", "open") in _defects(state), "the silent source to become a defect")
        line = watcher.wait_log("kind=source-silent")
        assert "longer than its max_silence of 2s" in line
        wait_for(lambda: query(state, "SELECT severity FROM incidents WHERE kind = 'defect'"
                                      " AND scenario_id = 'defect:source-silent'"),
                 "the defect to open an incident")
        (severity,), = query(state, "SELECT severity FROM incidents WHERE kind = 'defect'")
        assert severity == "high"  # the application is high criticality
        append(log, [auth_benign(2)])
        wait_for(lambda: _defects(state) == [("source-silent", "resolved")], "the defect to clear on new lines")
        assert watcher.stop() == 0


def test_a_source_directory_created_later_is_read_from_its_first_line(tmp_path: Path) -> None:
    app_dir = tmp_path / "var" / "log" / "bastion"  # does not exist when the daemon starts
    config = _config(tmp_path, f"{app_dir}/*.log")
    args = ["-c", str(config), "--recheck", "30", "--missing-grace", "0.5"]
    with Watcher(tmp_path, args, state=tmp_path / "state.db") as watcher:
        state = watcher.state
        wait_for(lambda: ("source-missing", "open") in _defects(state), "the missing source to be reported")
        # created later, with lines written at once: inotify alone cannot have seen them
        app_dir.mkdir(parents=True)
        append(app_dir / "auth.log", [auth_failure("203.0.113.190", j, T0 + timedelta(seconds=j)) for j in range(6)])
        wait_ingested(state, 6, watcher)
        wait_for(lambda: _defects(state) == [("source-missing", "resolved")], "the missing source to clear")
        assert [f["entity"] for f in findings(state) if f["scenario_id"] == "ssh-bruteforce"] == [
            {"source.ip": "203.0.113.190"}
        ]
        # and the new directory is watched: a later append is read without waiting for the re-check
        append(app_dir / "auth.log", [auth_benign(7)])
        wait_ingested(state, 7, watcher)
        assert watcher.stop() == 0


def test_an_unreadable_file_is_a_defect_logged_once_and_resolved_when_readable(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    live, archive = logs / "auth.log", logs / "auth.log.1.gz"
    append(live, [auth_benign(1)])
    archive.write_bytes(b"not gzip at all\n" * 4)  # a broken archive: nothing in it can be read
    config = _config(tmp_path, f"{logs}/auth.log*")
    with Watcher(tmp_path, ["-c", str(config), "--recheck", "0.2"], state=tmp_path / "state.db") as watcher:
        state = watcher.state
        wait_for(lambda: ("source-unreadable", "open") in _defects(state), "the unreadable file to become a defect")
        wait_for(lambda: query(state, "SELECT 1 FROM incidents WHERE scenario_id = 'defect:source-unreadable'"),
                 "the defect to open an incident")
        # the live file is still read, pass after pass, while the archive stays broken
        for i in range(3):
            append(live, [auth_benign(10 + i)])
            wait_ingested(state, 2 + i, watcher)
        announced = [line for line in watcher.log_lines("defect") if "kind=source-unreadable" in line.split()]
        assert len(announced) == 1, announced  # once, not at every pass
        assert str(archive) in announced[0]

        fixed = logs / ".fixed.tmp"
        with gzip.open(fixed, "wt") as handle:
            handle.write("".join(auth_benign(100 + i) + "\n" for i in range(3)))
        os.replace(fixed, archive)
        wait_ingested(state, 7, watcher)
        wait_for(lambda: _defects(state) == [("source-unreadable", "resolved")], "the defect to clear")
        assert watcher.stop() == 0
