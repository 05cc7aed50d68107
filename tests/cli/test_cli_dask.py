"""`logwarden scan --engine dask` as an operator runs it: a local cluster started for the run,
its dashboard and progress on stderr, the same JSON document as a local scan; the engine in
logwarden.yaml; one-line errors for a bad option or an unreachable scheduler; and a client
killed mid-scan leaves the state exactly as it was."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import distributed
import pytest
from clikit import run_cli

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import generate_logs  # noqa: E402

NOW = "2026-11-24T12:00:00Z"
SAMPLES = [str(ROOT / "sample_logs" / name) for name in ("web", "app", "infra")]


def _without_engine(document: dict) -> dict:
    document["stats"].pop("engine", None)
    for finding in document["findings"]:
        finding.pop("detected_at")
        for evidence in finding["evidence"]:
            evidence.pop("file_uid", None)  # a random id per state file
    return document


def test_dask_scan_prints_dashboard_and_progress_and_the_local_document(capsys, tmp_path) -> None:
    args = ["--now", NOW, "--no-escalate", "--format", "json"]
    local = run_cli(capsys, "scan", *SAMPLES, "--state", str(tmp_path / "local.db"), *args)
    remote = run_cli(capsys, "scan", *SAMPLES, "--state", str(tmp_path / "dask.db"), *args, "--engine", "dask",
                     "--workers", "2")
    assert (local.code, remote.code) == (0, 0), remote.err
    assert re.search(r"^dask: scheduler tcp://127\.0\.0\.1:\d+, 2 worker\(s\), dashboard http://127\.0\.0\.1:\d+/status$",
                     remote.err, re.MULTILINE)
    assert re.search(r"^dask: (\d+)/\1 partitions done, \d+ s$", remote.err, re.MULTILINE)
    document = remote.json()
    assert document["stats"]["engine"]["kind"] == "dask"
    assert len(document["stats"]["engine"]["workers"]) == 2
    assert document["findings"]
    assert _without_engine(document) == _without_engine(local.json())


def test_with_the_progress_meter_the_partition_lines_do_not_break_it(capsys, tmp_path) -> None:
    """`--progress` (a terminal's default) redraws one line in place: the per-partition lines,
    for logs, would break it, and are left out; the dashboard address is still printed."""
    result = run_cli(capsys, "scan", *SAMPLES, "--state", str(tmp_path / "dask.db"), "--now", NOW, "--no-escalate",
                     "--engine", "dask", "--workers", "1", "--progress")
    assert result.code == 0, result.err
    assert re.search(r"^dask: scheduler tcp://\S+, 1 worker\(s\), dashboard http://\S+$", result.err, re.MULTILINE)
    assert "partitions done" not in result.err


def test_the_engine_named_in_the_config_is_used_and_file_urls_are_paths(capsys, tmp_path) -> None:
    config = tmp_path / "logwarden.yaml"
    config.write_text("state: state.db\nengine:\n  kind: dask\n  workers: 1\n")
    url = Path(SAMPLES[2]).as_uri()  # file:///.../sample_logs/infra, as a Dask deployment shares it
    result = run_cli(capsys, "scan", url, "-c", str(config), "--now", NOW, "--no-escalate", "--format", "json")
    assert result.code == 0, result.err
    assert ", 1 worker(s), dashboard http://" in result.err
    local = run_cli(capsys, "scan", SAMPLES[2], "-c", str(config), "--now", NOW, "--no-escalate", "--engine", "local",
                    "--state", str(tmp_path / "local.db"), "--format", "json")
    assert local.code == 0 and "dask:" not in local.err
    assert _without_engine(result.json()) == _without_engine(local.json())


def test_object_store_urls_are_refused_with_what_to_do(capsys, tmp_path) -> None:
    result = run_cli(capsys, "scan", "s3://archive/logs", "--state", str(tmp_path / "s.db"), "--engine", "dask")
    assert result.code == 2
    assert "s3:// URLs cannot be scanned yet" in result.err and "mount the storage at the same path" in result.err
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "local", "--workers", "2"], "--scheduler and --workers apply to --engine dask"),
        (["--scheduler", "http://sched:8786"], "is not a Dask scheduler address"),
        (["--scheduler", "tcp://sched:8786", "--workers", "2"], "--workers sizes the local cluster"),
    ],
)
def test_bad_engine_options_are_usage_errors(capsys, tmp_path, options, message) -> None:
    result = run_cli(capsys, "scan", SAMPLES[2], "--state", str(tmp_path / "s.db"), *options)
    assert result.code == 2
    assert message in result.err
    assert not (tmp_path / "s.db").exists()


def test_an_unreachable_scheduler_is_one_line_and_exit_1(capsys, tmp_path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(capsys, "scan", SAMPLES[2], "--state", str(tmp_path / "s.db"), "--no-escalate",
                     "--scheduler", f"tcp://127.0.0.1:{port}")
    assert result.code == 1
    assert result.err.startswith(f"logwarden: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: ")
    assert result.err.count("\n") == 1


def _state_rows(state: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(state) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(map(repr, db.execute(f"SELECT * FROM {table}"))) for table in tables}  # noqa: S608


@pytest.mark.slow
def test_a_client_killed_mid_scan_leaves_the_state_as_it_was(tmp_path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(ROOT / "sample_logs" / "infra" / "auth.log", logs / "auth.log")
    state = tmp_path / "state.db"
    command = [str(Path(sys.executable).parent / "logwarden"), "scan", str(logs), "--state", str(state), "--now", NOW,
               "--no-escalate"]
    assert subprocess.run(command, capture_output=True).returncode == 0  # a first, local run
    before = _state_rows(state)
    generate_logs.write("access", 400_000, logs / "access.log", seed=2, attack_rate=0.01)
    child = subprocess.Popen([*command, "--engine", "dask", "--workers", "2"], stderr=subprocess.PIPE, text=True,
                             start_new_session=True)  # its own process group: the cluster goes with it
    try:
        for line in child.stderr:  # killed once the results have started to come in
            if re.match(r"dask: \d+/\d+ partitions done", line):
                break
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    time.sleep(0.5)
    assert child.returncode == -signal.SIGKILL
    assert _state_rows(state) == before
    again = subprocess.run([*command, "--format", "json"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert '"lines_read": 400000' in again.stdout  # the next run reads it all, once


def test_a_scheduler_without_workers_is_one_line_and_exit_1(capsys, tmp_path, monkeypatch) -> None:
    from detector.runs import dask_engine

    monkeypatch.setattr(dask_engine, "WAIT_FOR_WORKERS", 1.0)
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0", silence_logs=50) as empty:
        result = run_cli(capsys, "scan", SAMPLES[2], "--state", str(tmp_path / "s.db"), "--no-escalate",
                         "--scheduler", empty.scheduler_address)
    assert result.code == 1
    assert result.err == (f"logwarden: error: the Dask scheduler at {empty.scheduler_address} has no workers "
                          f"(waited 1 s); start them with `dask worker {empty.scheduler_address}`\n")


def test_a_running_scheduler_is_used_and_left_running(capsys, tmp_path) -> None:
    local = run_cli(capsys, "scan", SAMPLES[2], "--state", str(tmp_path / "local.db"), "--now", NOW, "--no-escalate",
                    "--format", "json").json()["stats"]["lines_read"]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                                  silence_logs=50) as cluster:
        for run in ("first", "second"):  # the cluster outlives a run: a second one uses it again
            result = run_cli(capsys, "scan", SAMPLES[2], "--state", str(tmp_path / f"{run}.db"), "--now", NOW,
                             "--no-escalate", "--scheduler", cluster.scheduler_address, "--format", "json")
            assert result.code == 0, result.err
            assert f"dask: scheduler {cluster.scheduler_address}, 1 worker(s)" in result.err
            assert result.json()["stats"]["lines_read"] == local > 0
