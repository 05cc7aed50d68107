"""`logwarden doctor` finds each thing that stops an installation from working (and is content
when nothing does); `scan --metrics-file` writes a node_exporter text file that parses, holds the
run's figures, is readable by another user (0644 even under UMask=0077) and is replaced whole."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from detector.cli.root import main

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)


def _auth_lines(at: datetime) -> str:
    return "".join(
        f"{at - timedelta(minutes=5) + timedelta(seconds=20 * i):%b %d %H:%M:%S} bastion sshd[811]: "
        f"Failed password for root from 203.0.113.77 port {40000 + i} ssh2\n" for i in range(8))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with one auth source, its log written just before NOW."""
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "logs" / "auth.log"
    log.parent.mkdir()
    log.write_text(_auth_lines(NOW))
    os.utime(log, (NOW.timestamp() - 60,) * 2)
    (tmp_path / "logwarden.yaml").write_text(
        f"state: {tmp_path}/state/state.db\ntimezone: UTC\napplications:\n  - name: bastion\n    owner: ops\n"
        f"    sources:\n      - {{path: '{tmp_path}/logs/auth.log*', kind: auth, max_silence: 2h}}\n")
    return tmp_path


def _lw(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _doctor(capsys: pytest.CaptureFixture[str], site: Path, now: datetime = NOW, *extra: str) -> tuple[int, dict]:
    code, out, _ = _lw(capsys, "doctor", "-c", str(site / "logwarden.yaml"), "--format", "json",
                       "--now", now.isoformat(), *extra)
    return code, json.loads(out)


def _status(doc: dict, area: str) -> list[str]:
    return [c["status"] for c in doc["checks"] if c["area"] == area]


def test_doctor_is_content_with_a_working_installation(site: Path, capsys) -> None:
    code, doc = _doctor(capsys, site)
    assert code == 0 and doc["ok"]
    assert _status(doc, "state") == ["warn"]  # before the first run: expected, not a problem
    assert _lw(capsys, "scan", "-c", str(site / "logwarden.yaml"), "--now", NOW.isoformat(), "-q")[0] == 0
    code, doc = _doctor(capsys, site, NOW + timedelta(minutes=5))
    assert code == 0 and doc["problems"] == 0
    for area in ("config", "checklist", "policy", "channels", "state", "source", "last run", "defects", "audit"):
        assert _status(doc, area) == ["ok"], (area, doc)
    code, text, _ = _lw(capsys, "doctor", "-c", str(site / "logwarden.yaml"), "--now", NOW.isoformat())
    assert code == 0 and "ok    last run   scan finished" in text


def test_doctor_names_each_problem_and_fails(site: Path, capsys) -> None:
    config = site / "logwarden.yaml"
    _lw(capsys, "scan", "-c", str(config), "--now", NOW.isoformat(), "-q")
    # the cron job stopped two hours ago
    code, doc = _doctor(capsys, site, NOW + timedelta(hours=2))
    assert code == 1 and _status(doc, "last run") == ["fail"]
    # the state became readable by others
    state = site / "state" / "state.db"
    state.chmod(0o644)
    code, doc = _doctor(capsys, site)
    assert code == 1 and _status(doc, "state") == ["fail"] and "chmod 600" in json.dumps(doc)
    state.chmod(0o600)
    # a source whose files are gone
    os.rename(site / "logs" / "auth.log", site / "logs" / "moved")
    code, doc = _doctor(capsys, site)
    assert code == 1 and _status(doc, "source") == ["fail"] and "no file matches" in json.dumps(doc)
    os.rename(site / "logs" / "moved", site / "logs" / "auth.log")
    # a broken policy file: exit 2, and the other checks still run
    (site / "policy.yaml").write_text("schema: 1\npolicies: [oops\n")
    config.write_text(config.read_text() + "escalation: policy.yaml\n")
    code, doc = _doctor(capsys, site)
    assert code == 2 and _status(doc, "policy") == ["fail"] and _status(doc, "state") == ["ok"]


def test_metrics_file_parses_holds_the_run_and_is_readable_by_node_exporter(site: Path, capsys) -> None:
    prom = site / "logwarden.prom"
    previous = os.umask(0o077)  # as under the systemd unit's UMask=0077
    try:
        code, _, _ = _lw(capsys, "scan", "-c", str(site / "logwarden.yaml"), "--now", NOW.isoformat(), "-q",
                         "--metrics-file", str(prom))
    finally:
        os.umask(previous)
    assert code == 0
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    assert sorted(p.name for p in site.iterdir() if p.name.startswith("logwarden.prom")) == ["logwarden.prom"]
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(prom.read_text()) for s in family.samples}
    source = str(site / "logs" / "auth.log")
    assert samples[("logwarden_scan_lines", (("outcome", "read"), ("source", source)))] == 8
    assert samples[("logwarden_scan_files", ())] == 1
    found = json.loads(_lw(capsys, "findings", "-c", str(site / "logwarden.yaml"), "--format", "json")[1])["findings"]
    assert samples[("logwarden_scan_findings", (("severity", "high"),))] == len(found) >= 1
    assert all(f["severity"] == "high" for f in found)
    assert samples[("logwarden_incidents", (("scenario", "ssh-bruteforce"), ("status", "open")))] == 1
    assert samples[("logwarden_notifications", (("channel", "console"), ("status", "sent")))] == len(found)
    assert abs(samples[("logwarden_scan_last_success_timestamp_seconds", ())] - datetime.now().timestamp()) < 120
    # a run that cannot start leaves the last good file alone; a name node_exporter ignores is refused
    before = prom.read_text()
    assert _lw(capsys, "scan", "-c", str(site / "logwarden.yaml"), "--checklist", str(site / "nowhere"),
               "--metrics-file", str(prom))[0] == 2
    assert prom.read_text() == before
    code, _, err = _lw(capsys, "scan", "-c", str(site / "logwarden.yaml"), "--metrics-file", str(site / "lw.txt"))
    assert code == 2 and "*.prom" in err and not (site / "lw.txt").exists()


def test_doctor_under_the_daemon_which_records_no_runs(site: Path, capsys) -> None:
    """`watch` drives the pipeline without a `runs` row: the doctor says when lines were last
    committed instead of calling a running daemon a stopped cron job."""
    from detector.config import load_config
    from detector.runs.scan import run_scan
    from detector.state.store import Store

    config = load_config(site / "logwarden.yaml")
    with Store(config.state) as store:
        run_scan(store, config, [], NOW)
    code, doc = _doctor(capsys, site, NOW + timedelta(days=3))
    (last,) = [c for c in doc["checks"] if c["area"] == "last run"]
    assert code == 0 and last["status"] == "ok" and "the daemon records no runs" in last["detail"]
