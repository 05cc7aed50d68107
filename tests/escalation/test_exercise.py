"""`logwarden exercise`: samples replayed with fresh timestamps through the real pipeline and the
real escalation engine; results stored as evidence for the maturity report."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from detector.checklist import load_checklist
from detector.cli.root import build_cli, main
from detector.config import Config
from detector.state.store import Store
from escalation.exercise import (
    LAST_EVENT_MARGIN,
    load_exercises,
    replay_sample,
    run_exercise,
)
from escalation.reports.evidence import Inputs
from escalation.reports.maturity import build_maturity_report
from escalation.reports.periods import Period

UTC = timezone.utc
NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)  # a Tuesday, inside the bundled policy's business hours
NIGHT = datetime(2026, 11, 24, 23, 0, 0, tzinfo=UTC)


# --- fresh timestamps -----------------------------------------------------------------------------


def test_every_timestamp_shape_moves_by_the_same_whole_seconds(tmp_path: Path) -> None:
    sample = tmp_path / "sample.log"
    sample.write_text(
        "Nov 21 03:00:01 bastion sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2\n"
        '198.51.100.7 - - [21/Nov/2026:04:00:02 +0100] "GET / HTTP/1.1" 200 1 "-" "x"\n'
        '{"ts":"2026-11-21T03:00:03.123Z","event":"login"}\n'
        "ts=2026-11-21T03:00:04.500000+00:00 event=login\n"
        "[Sat Nov 21 03:00:05.970216 2026] [php:warn] [pid 1] [client 198.51.100.7:1] PHP Warning\n"
        "2026/11/21 03:00:06 [error] 1#1: *1 open() failed, client: 198.51.100.7\n"
        "2026-11-21 03:00:07 app started, next check 2026-11-21T03:10:00Z\n"
    )
    out = tmp_path / "out"
    shift = replay_sample(sample, out, NOW)
    last = datetime(2026, 11, 21, 3, 10, tzinfo=UTC)  # the latest stamp in the file (inside the message)
    assert shift == (NOW - LAST_EVENT_MARGIN) - last  # whole seconds, so sub-second digits stay as they were
    moved = lambda h, m, s: datetime(2026, 11, 21, h, m, s, tzinfo=UTC) + shift  # noqa: E731
    lines = (out / "sample.log").read_text().splitlines()
    assert lines[0].startswith(f"Nov 24 {moved(3, 0, 1):%H:%M:%S} bastion sshd[1]")
    assert f"[24/Nov/2026:{moved(3, 0, 2) + timedelta(hours=1):%H:%M:%S} +0100]" in lines[1]  # its own zone
    assert f'"ts":"2026-11-24T{moved(3, 0, 3):%H:%M:%S}.123Z"' in lines[2]
    assert f"ts=2026-11-24T{moved(3, 0, 4):%H:%M:%S}.500000+00:00" in lines[3]
    assert lines[4].startswith(f"[Tue Nov 24 {moved(3, 0, 5):%H:%M:%S}.970216 2026]")  # weekday recomputed
    assert lines[5].startswith(f"2026/11/24 {moved(3, 0, 6):%H:%M:%S} [error]")
    assert lines[6] == f"2026-11-24 {moved(3, 0, 7):%H:%M:%S} app started, next check 2026-11-24T09:59:00Z"
    assert os.stat(out / "sample.log").st_mtime == NOW.timestamp()  # syslog years come from it


def test_a_cross_source_sample_directory_moves_as_one(tmp_path: Path) -> None:
    sample = tmp_path / "positive"
    sample.mkdir()
    (sample / "kern.log").write_text("2026-11-22T08:59:46.051000+00:00 jump01 kernel: [UFW BLOCK] SRC=192.0.2.73\n")
    (sample / "auth.log").write_text("2026-11-22T10:20:01.690621+00:00 jump01 sshd[1]: Accepted password\n")
    shift = replay_sample(sample, tmp_path / "out", NOW)
    kern = (tmp_path / "out" / "kern.log").read_text()
    auth = (tmp_path / "out" / "auth.log").read_text()
    assert auth.startswith(f"{(datetime(2026, 11, 22, 10, 20, 1, tzinfo=UTC) + shift):%Y-%m-%dT%H:%M:%S}.690621+00:00")
    assert kern.startswith(f"{(datetime(2026, 11, 22, 8, 59, 46, tzinfo=UTC) + shift):%Y-%m-%dT%H:%M:%S}.051000+00:00")


def test_a_sample_without_timestamps_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_text("no time here\n")
    with pytest.raises(ValueError, match="no timestamp"):
        replay_sample(tmp_path / "empty.log", tmp_path / "out", NOW)


# --- the exercise over the starter pack -----------------------------------------------------------


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, object]:
    state = tmp_path_factory.mktemp("exercise") / "state.db"
    config = Config(path=None, state=state, checklist=None, escalation=None, timezone="UTC")
    checklist = load_checklist(None)
    return config, run_exercise(config, checklist, None, NOW, stdout_is_data=True)


def test_the_starter_pack_is_detected_and_notified_in_full(starter: tuple[Config, object]) -> None:
    _, exercise = starter
    checklist = load_checklist(None)
    positives = sum(1 for s in checklist.scenarios if s.status != "deprecated" for x in s.samples if x.positive)
    assert len(exercise.results) == positives
    missed = [(r.scenario_id, r.problems) for r in exercise.results if not r.detected]
    assert missed == []
    assert exercise.notified == positives  # business hours: every incident pages at level 1 at once
    assert {r.level for r in exercise.results} == {1}
    assert all(r.notify_seconds == 0 and r.detect_seconds >= LAST_EVENT_MARGIN.total_seconds() for r in exercise.results)
    assert all({"console", "journal"} <= {n["channel"] for n in r.notifications} for r in exercise.results)


def test_the_results_are_stored_and_the_maturity_report_shows_them(starter: tuple[Config, object]) -> None:
    config, exercise = starter
    with Store(config.state) as store:
        stored = load_exercises(store)
        assert [e.to_dict() for e in stored] == [exercise.to_dict()]
        assert store.findings(include_exercise=False) == []  # the live state got evidence, not findings
        inputs = Inputs(store, config, load_checklist(None), None, NOW + timedelta(hours=1),
                        Period(NOW - timedelta(days=365), NOW + timedelta(hours=1)))
        doc = build_maturity_report(inputs)
    shown = doc["evidence"]["exercises"][0]
    assert shown["id"] == exercise.id and shown["detected"] == shown["samples"] == len(exercise.results)
    assert shown["missed"] == []
    criterion = doc["activities"]["O-IM-3-B"]["criteria"][2]
    assert criterion["status"] == "pass" and f"{shown['detected']}/{shown['samples']} detected" in criterion["reason"]
    trained = doc["activities"]["O-IM-2-A"]["criteria"][3]
    assert trained["status"] == "pass"


def test_an_exercise_at_night_shows_what_is_held(tmp_path: Path) -> None:
    config = Config(path=None, state=tmp_path / "state.db", checklist=None, escalation=None, timezone="UTC")
    exercise = run_exercise(config, load_checklist(None), ["firewall-port-scan", "ssh-bruteforce"], NIGHT,
                            stdout_is_data=True)
    by_id = {r.scenario_id: r for r in exercise.results}
    assert all(r.detected for r in by_id.values())
    low = by_id["firewall-port-scan"]  # low severity: the bundled policy holds it until business hours
    assert low.notified_at is None and low.day_class == "after_hours"
    assert low.problems == ("held after hours: the digest goes out at 2026-11-25T09:00:00Z",)
    assert by_id["ssh-bruteforce"].notified_at == NIGHT  # high severity pages around the clock


def test_cli_exercise_and_unknown_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner = CliRunner()
    state = tmp_path / "state.db"
    result = runner.invoke(build_cli(), ["exercise", "ssh-bruteforce", "--state", str(state), "--format", "json",
                                         "--now", "2026-11-24T10:00:00Z"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["samples"] == 1 and document["detected"] == 1 and document["missed"] == []
    assert document["results"][0]["policy"] == "page-high"
    with pytest.raises(SystemExit) as bad:  # through the real entry point, which maps errors to exit codes
        main(["exercise", "no-such-scenario", "--state", str(state)])
    assert bad.value.code == 2  # bad usage (DESIGN §9), with the name and where to look
    assert "unknown or deprecated scenario(s): no-such-scenario; see `logwarden rules list`" in capsys.readouterr().err


def test_live_mode_marks_everything_it_raises_as_exercise(tmp_path: Path) -> None:
    config = Config(path=None, state=tmp_path / "state.db", checklist=None, escalation=None, timezone="UTC")
    exercise = run_exercise(config, load_checklist(None), ["ssh-bruteforce"], NOW, live=True, stdout_is_data=True)
    assert exercise.mode == "live" and exercise.detected == 1
    with Store(config.state) as store:
        assert store.findings(include_exercise=False) == []
        assert {f.exercise for f in store.findings(include_exercise=True)} == {True}
        incidents = store.execute("SELECT exercise FROM incidents").fetchall()
        assert incidents and {row[0] for row in incidents} == {1}
        assert [e.id for e in load_exercises(store)] == [exercise.id]
