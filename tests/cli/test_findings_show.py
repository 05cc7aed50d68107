"""Evidence as `path:line_no` (checked against grep -n on the real file, through rotation and
compression), `findings show ID` with the scenario's notes as next steps, `incidents list`
filters sorted by urgency, evidence in `incidents show`, and `--format json` on the commands
that act or check (`rules validate`, `incidents ack|resolve|snooze|note`)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from detector.checklist import load_checklist
from detector.cli.root import main
from detector.model import Evidence

NOW = "2026-11-23T10:00:00Z"
T = datetime(2026, 11, 23, 9, 0, 0)
NOISE = '198.51.100.{i} - - [23/Nov/2026:08:{m:02d}:00 +0000] "GET /shop/item/{i} HTTP/1.1" 200 {i} "-" "Mozilla/5.0"'
SQLI = ('192.0.2.33 - - [23/Nov/2026:07:00:{s:02d} +0000] "GET /shop/item?id={s}%27%20UNION%20SELECT%20'
        'username,password%20FROM%20users-- HTTP/1.1" 500 120 "-" "sqlmap/1.8#stable (https://sqlmap.org)"')


@dataclass
class Lw:
    root: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def state(self) -> str:
        return str(self.root / "st" / "s.db")

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        extra = ["--state", self.state] if argv[0] in ("scan", "incidents", "findings") else []
        extra += ["--now", NOW] if argv[0] in ("scan", "incidents") else []
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main([*argv, *extra])
        out, err = self.capsys.readouterr()
        return int(exited.value.code or 0), out, err

    def json(self, *argv: str) -> dict:
        code, out, err = self(*argv, "--format", "json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def lw(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Lw:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    # blank lines, a CRLF line and multi-byte text in front of the evidence: byte offsets and
    # line numbers part ways, as in real files
    lines = [NOISE.format(i=i, m=i) for i in range(1, 6)] + ["", "r\u00e9sum\u00e9 \u2713 caf\u00e9\r"]
    lines += [SQLI.format(s=s) if s % 2 == 0 else NOISE.format(i=40 + s, m=30 + s) for s in range(8)]
    (logs / "access.log").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    auth = [
        f"{T + timedelta(seconds=20 * i):%b %d %H:%M:%S} bastion sshd[811]: Failed password for root "
        f"from 203.0.113.50 port {40000 + i} ssh2"
        for i in range(7)
    ]
    (logs / "auth.log").write_text("\n".join(auth) + "\n")
    stamp = datetime(2026, 11, 23, 10, tzinfo=timezone.utc).timestamp()
    os.utime(logs / "auth.log", (stamp, stamp))
    return Lw(tmp_path, capsys)


def _grep_n(path: Path, text: str) -> list[int]:
    done = subprocess.run(["grep", "-n", "-a", "-F", text, str(path)], capture_output=True, check=True)
    return [int(line.split(b":", 1)[0]) for line in done.stdout.splitlines()]


def _sqli(lw: Lw) -> dict:
    (finding,) = [f for f in lw.json("findings")["findings"] if f["scenario_id"] == "web-sqli"]
    return finding


def test_evidence_line_numbers_are_those_grep_prints_and_json_keeps_the_offset(lw: Lw) -> None:
    assert lw("scan", str(lw.root / "logs"), "--no-escalate")[0] == 0
    finding = _sqli(lw)
    shown = lw.json("findings", "show", finding["id"][:8])
    log = lw.root / "logs" / "access.log"
    assert [e["line_no"] for e in shown["finding"]["evidence"]] == _grep_n(log, "UNION%20SELECT") == [8, 10, 12, 14]
    raw = log.read_bytes()
    for item in shown["finding"]["evidence"]:
        assert raw[item["offset"]:].startswith(item["line"].encode())  # the byte offset stays, and is right
        assert item["current_path"] == str(log)
    code, text, _ = lw("findings", "show", finding["id"])
    assert code == 0
    evidence = [line.strip() for line in text.splitlines() if str(log) in line]
    assert evidence[0] == f"{log}:8: {SQLI.format(s=0)}"
    assert len(evidence) == 4


def test_findings_show_gives_the_scenario_description_and_false_positives_as_next_steps(lw: Lw) -> None:
    lw("scan", str(lw.root / "logs"))
    finding = _sqli(lw)
    code, text, _ = lw("findings", "show", finding["id"])
    steps = text[text.index("Next steps:"):]
    scenario = load_checklist(None).scenario("web-sqli")
    assert f"What it means: {' '.join(scenario.description.split())}" in steps
    assert scenario.falsepositives and all(f"\n    - {fp}\n" in steps for fp in scenario.falsepositives)
    incident = lw.json("incidents", "list", "--scenario", "web-sqli")["incidents"][0]["id"]
    assert f"logwarden incidents ack {incident} --by <your name>" in steps
    doc = lw.json("findings", "show", finding["id"])
    assert doc["incident_id"] == incident and doc["scenario"]["falsepositives"]
    # the listing points at the first evidence line and at `findings show`
    code, listing, _ = lw("findings")
    assert f"    evidence: {lw.root / 'logs' / 'access.log'}:8: " in listing
    assert f"... 3 more: logwarden findings show {finding['id']}" in listing
    assert lw("findings", "show", "nosuchid")[0] == 2


def test_line_numbers_follow_rotation_and_compression_and_refuse_a_rewritten_file(lw: Lw) -> None:
    logs = lw.root / "logs"
    lw("scan", str(logs), "--no-escalate")
    finding = _sqli(lw)
    # logrotate: rename, new file, compress the old generation; the next scan follows it
    os.rename(logs / "access.log", logs / "access.log.1")
    (logs / "access.log").write_text(NOISE.format(i=99, m=59) + "\n")
    lw("scan", str(logs), "--no-escalate")
    with open(logs / "access.log.1", "rb") as src, gzip.open(logs / "access.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.utime(logs / "access.log.1.gz", (os.stat(logs / "access.log.1").st_mtime,) * 2)
    os.remove(logs / "access.log.1")
    lw("scan", str(logs), "--no-escalate")
    shown = lw.json("findings", "show", finding["id"])
    assert [(e["current_path"], e["line_no"]) for e in shown["finding"]["evidence"]] == [
        (str(logs / "access.log.1.gz"), n) for n in (8, 10, 12, 14)
    ]
    # a file rewritten under the same name: no number rather than a wrong one
    from detector.sources.lineno import locate

    evidence = [Evidence.from_dict(e) for e in finding["evidence"]]
    (lw.root / "other.log").write_text(NOISE.format(i=1, m=1) * 30 + "\n")
    moved = [Evidence(str(lw.root / "other.log"), e.offset, e.line, e.timestamp, e.log_kind) for e in evidence]
    spots = locate(None, moved)
    assert {spot.line_no for spot in spots.values()} == {None}
    assert spots[(moved[0].path, moved[0].offset)].text(moved[0].offset).endswith(f"(byte offset {moved[0].offset})")


def test_incidents_list_filters_and_sorts_by_urgency_and_show_has_the_evidence(lw: Lw) -> None:
    lw("scan", str(lw.root / "logs"))
    everything = lw.json("incidents", "list")["incidents"]
    assert [i["severity"] for i in everything] == ["high", "high", "low"]  # worst first
    assert {i["scenario_id"] for i in everything} == {"web-sqli", "ssh-bruteforce", "web-scanner-user-agent"}
    ssh = next(i for i in everything if i["scenario_id"] == "ssh-bruteforce")
    assert lw("incidents", "ack", ssh["id"], "--by", "alice")[0] == 0
    ordered = lw.json("incidents", "list")["incidents"]
    assert [i["scenario_id"] for i in ordered] == ["web-sqli", "web-scanner-user-agent", "ssh-bruteforce"]  # acked last

    def ids(*filters: str) -> set[str]:
        return {i["scenario_id"] for i in lw.json("incidents", "list", "--status", "all", *filters)["incidents"]}

    assert ids("--severity", "low") == {"web-scanner-user-agent"}
    assert ids("--severity", "critical,high") == {"web-sqli", "ssh-bruteforce"}
    assert ids("--scenario", "ssh-bruteforce") == {"ssh-bruteforce"}
    assert ids("--entity", "192.0.2.33") == {"web-sqli", "web-scanner-user-agent"}
    assert ids("--entity", "source.ip=203.0.113.50") == {"ssh-bruteforce"}
    assert ids("--entity", "user.name=192.0.2.33") == set()
    assert ids("--since", "1h") == {"web-sqli", "ssh-bruteforce", "web-scanner-user-agent"}
    assert ids("--since", "2026-11-24T00:00:00Z") == set()
    assert lw("incidents", "list", "--severity", "urgent")[0] == 2
    assert lw("incidents", "list", "--since", "yesterday")[0] == 2
    sqli = next(i for i in everything if i["scenario_id"] == "web-sqli")
    code, text, _ = lw("incidents", "show", sqli["id"])
    assert f"  {lw.root / 'logs' / 'access.log'}:8: {SQLI.format(s=0)}" in text.splitlines()
    assert [e["line_no"] for e in lw.json("incidents", "show", sqli["id"])["evidence"]][:4] == [8, 10, 12, 14]


def test_acting_and_checking_commands_speak_json(lw: Lw) -> None:
    lw("scan", str(lw.root / "logs"))
    incident = lw.json("incidents", "list", "--scenario", "web-sqli")["incidents"][0]["id"]
    assert lw.json("incidents", "ack", incident, "--by", "alice")["incident"]["status"] == "acknowledged"
    assert lw.json("incidents", "note", incident, "--by", "alice", "--text", "blocked")["incident"]["id"] == incident
    snoozed = lw.json("incidents", "snooze", incident, "--for", "1h", "--by", "alice")["incident"]
    assert snoozed["status"] == "snoozed" and snoozed["snoozed_until"] == "2026-11-23T11:00:00Z"
    code, out, err = lw("incidents", "resolve", incident, "--by", "alice", "--note", "blocked",
                        "--root-cause", "no WAF", "--format", "json")
    assert code == 0 and json.loads(out)["incident"]["status"] == "resolved"  # follow-ups went to stderr
    assert "RESOLVED" in err
    code, out, _ = lw("rules", "validate", "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True
    bad = lw.root / "rules"
    shutil.copytree(Path(__file__).resolve().parents[2] / "rules", bad)
    scenario = bad / "scenarios" / "ssh-bruteforce.yaml"
    scenario.write_text(scenario.read_text().replace("severity: high", "severity: hgh"))
    code, out, _ = lw("rules", "validate", "--checklist", str(bad), "--format", "json")
    doc = json.loads(out)
    assert code == 2 and doc["ok"] is False
    assert any(p.startswith(f"{scenario}:") and "severity 'hgh'" in p for p in doc["problems"])
