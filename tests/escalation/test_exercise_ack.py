"""Drills practise the acknowledgement: the command an exercise notification prints works as
printed (with the options of the exercise), and the time to acknowledge is recorded with the
exercise and shown by the maturity report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from clikit import run_cli

from detector.state.store import Store
from escalation.exercise import exercise_root, load_exercises

EXERCISE_AT = "2026-11-24T10:00:00Z"  # a Tuesday, business hours
ACK_AT = "2026-11-24T10:04:30Z"


def lw(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    result = run_cli(capsys, *argv)
    return result.code, result.out, result.err


def test_the_printed_ack_command_acknowledges_the_drill_and_is_timed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state" / "state.db"
    code, out, err = lw(capsys, "exercise", "ssh-bruteforce", "--state", str(state), "--now", EXERCISE_AT)
    assert code == 0, err
    # the bundled policy prints every notification on stdout: take the command exactly as printed
    printed = re.findall(r"logwarden incidents ack (INC-[0-9a-f]+) --by <your name>", out)
    assert printed, out
    incident_id = printed[0]
    assert f"practise: logwarden incidents ack {incident_id}" in out

    with Store(state) as store:  # an isolated drill: the live state holds no incident
        assert "incidents" not in {row[0] for row in store.execute("SELECT name FROM sqlite_master")}
    assert list(exercise_root(state).glob("EX-*/*.db")), "the isolated state is kept for the drill"

    code, out, err = lw(capsys, "incidents", "ack", incident_id, "--by", "alice", "--state", str(state), "--now", ACK_AT)
    assert code == 0, err
    assert f"{incident_id} acknowledged by alice" in out
    assert "exercise: acknowledgement recorded 270s after the first notification" in out
    assert "exercise incident, held in" in err

    again = lw(capsys, "incidents", "ack", incident_id, "--by", "bob", "--state", str(state), "--now", ACK_AT)
    assert again[0] == 2 and "already acknowledged by alice" in again[2]

    with Store(state) as store:
        (exercise,) = load_exercises(store)
    (result,) = exercise.results
    assert result.incident_id == incident_id
    assert result.acknowledged_by == "alice"
    assert result.acknowledge_seconds == 270.0

    code, out, err = lw(capsys, "report", "maturity", "--state", str(state), "--format", "json", "--now", ACK_AT)
    assert code == 0, err
    summary = json.loads(out)["evidence"]["exercises"][-1]
    assert summary["acknowledged"] == 1 and summary["max_acknowledge_seconds"] == 270.0


def test_a_live_drill_acknowledged_in_the_live_state_is_timed_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    code, out, err = lw(capsys, "exercise", "ssh-bruteforce", "--live", "--state", str(state), "--format", "json",
                        "--now", EXERCISE_AT)
    assert code == 0, err
    incident_id = json.loads(out)["results"][0]["incident_id"]
    code, out, err = lw(capsys, "incidents", "ack", incident_id[:10], "--by", "carol", "--state", str(state),
                        "--now", ACK_AT)
    assert code == 0, err
    assert "exercise incident, held in" not in err
    with Store(state) as store:
        (exercise,) = load_exercises(store)
    assert exercise.results[0].acknowledged_by == "carol"
    assert exercise.results[0].acknowledge_seconds == 270.0


def test_an_unknown_incident_is_still_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.db"
    assert lw(capsys, "exercise", "ssh-bruteforce", "--state", str(state), "--now", EXERCISE_AT)[0] == 0
    code, _, err = lw(capsys, "incidents", "ack", "INC-ffffffffff", "--by", "alice", "--state", str(state))
    assert code == 2 and "no incident 'INC-ffffffffff'" in err
