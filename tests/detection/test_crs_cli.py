"""The CRS through the CLI: `rules crs --check`, `scan` with `crs:` in logwarden.yaml (a
finding of web-crs-inbound, the CRS version recorded and its change reported), `match`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clikit import run_cli
from crskit import combined, write_crs
from detector.config import load_config
from detector.errors import ConfigError


def lw(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    result = run_cli(capsys, *argv)
    return result.code, result.out, result.err


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_crs(tmp_path / "crs")
    (tmp_path / "logwarden.yaml").write_text(
        "state: state/state.db\ntimezone: UTC\ncrs:\n  path: crs\n  paranoia: 1\n  threshold: 5\n"
    )
    (tmp_path / "access.log").write_text(
        "\n".join(
            [
                combined("/p?id=1%20union%20select%20pass", ip="203.0.113.200"),
                combined("/index.html", ip="198.51.100.9"),
                combined("/search?q=boots", ip="198.51.100.9"),
            ]
        )
        + "\n"
    )
    return tmp_path


def test_check_lists_every_rule_that_cannot_run_with_totals(site, capsys):
    code, out, _ = lw(capsys, "rules", "crs", "--check", str(site / "crs"))
    assert code == 0
    assert "OWASP CRS 9.1.0" in out
    assert "109002 operator" in out and "libinjection" in out
    assert "109003 regex" in out and "109004 transformation" in out and "109001 target" in out
    assert "target             1" in out
    code, out, _ = lw(capsys, "rules", "crs", "--check", str(site / "crs"), "--format", "json")
    report = json.loads(out)
    assert report["reasons"]["regex"]["rules"] == 1 and report["version"] == "9.1.0"
    assert {s["id"] for s in report["skipped"]} >= {109001, 109002, 109003, 109004}


def test_check_of_a_missing_install_exits_2(tmp_path, capsys):
    code, _, err = lw(capsys, "rules", "crs", "--check", str(tmp_path / "nope"))
    assert code == 2 and "CRS directory not found" in err


def test_scan_raises_a_crs_finding_and_records_the_crs_version(site, capsys):
    code, out, _ = lw(capsys, "scan", str(site / "access.log"), "-c", str(site / "logwarden.yaml"),
                      "--format", "json", "--no-escalate")
    assert code == 0, out
    findings = [f for f in json.loads(out)["findings"] if f["scenario_id"] == "web-crs-inbound"]
    assert [f["entity"] for f in findings] == [{"source.ip": "203.0.113.200"}]
    assert findings[0]["scenario_version"] == "9.1.0"
    assert "union%20select" in findings[0]["evidence"][0]["line"]
    # the evidence names the CRS rules the line hit, their messages and the matched data
    detail = findings[0]["extra"]["crs"]
    assert [(d["offset"], d["score"]) for d in detail] == [(findings[0]["evidence"][0]["offset"], 5)]
    assert detail[0]["rules"] == [{"id": 100100, "msg": "SQL union", "severity": "CRITICAL", "category": "sqli",
                                   "variable": "ARGS:id", "matched": "1 union select pass"}]  # fmt: skip
    code, out, _ = lw(capsys, "rules", "history", "-c", str(site / "logwarden.yaml"), "--format", "json")
    versions = json.loads(out)["versions"]
    assert "web-crs-inbound" in versions[-1]["added"]

    # a new CRS version: reported at the next scan and in the history
    conf = site / "crs" / "rules" / "REQUEST-910-TEST.conf"
    conf.write_text(conf.read_text().replace("OWASP_CRS/9.1.0", "OWASP_CRS/9.2.0"))
    code, out, err = lw(capsys, "scan", str(site / "access.log"), "-c", str(site / "logwarden.yaml"), "--no-escalate")
    assert code == 0
    assert "OWASP CRS version changed: 9.1.0 -> 9.2.0" in out + err
    code, out, _ = lw(capsys, "rules", "history", "-c", str(site / "logwarden.yaml"), "--format", "json")
    assert {"id": "web-crs-inbound", "from": "9.1.0", "to": "9.2.0"} in json.loads(out)["versions"][-1]["changed"]


def test_match_shows_crs_rule_ids_messages_and_data(site, capsys):
    code, out, _ = lw(capsys, "match", str(site / "access.log"), "-c", str(site / "logwarden.yaml"), "--format", "json")
    assert code == 0
    matches = json.loads(out)["matches"]
    assert len(matches) == 1
    fields = matches[0]["fields"]
    assert "web-crs-inbound/crs-inbound" in matches[0]["rules"]
    assert fields["crs.anomaly_score"] == 5 and fields["crs.rules"] == "100100"
    assert "SQL union" in fields["crs.matched"] and "ARGS:id" in fields["crs.matched"]
    code, out, _ = lw(capsys, "match", str(site / "access.log"), "-c", str(site / "logwarden.yaml"))
    assert "100100 SQL union [ARGS:id: 1 union select pass]" in out


def test_config_crs_section(tmp_path):
    config = tmp_path / "logwarden.yaml"
    config.write_text("crs:\n  path: /opt/crs\n  paranoia: 2\n  threshold: 10\n  exclusions: [942100, attack-sqli]\n")
    crs = load_config(config).crs
    assert crs is not None and crs.path == Path("/opt/crs") and crs.paranoia == 2 and crs.threshold == 10
    assert crs.exclusions == ("942100", "attack-sqli")
    config.write_text("crs:\n  path: /opt/crs\n  paranoia: 5\n  colour: red\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert "logwarden.yaml:3: crs.paranoia must be an integer from 1 to 4" in text and "colour" in text


def test_without_a_crs_section_the_scan_runs_no_crs(site, capsys):
    config = site / "plain.yaml"
    config.write_text("state: state/plain.db\ntimezone: UTC\n")
    code, out, _ = lw(capsys, "scan", str(site / "access.log"), "-c", str(config), "--format", "json", "--no-escalate")
    assert code == 0, out
    assert not [f for f in json.loads(out)["findings"] if f["scenario_id"] == "web-crs-inbound"]
    code, out, _ = lw(capsys, "rules", "history", "-c", str(config), "--format", "json")
    assert "web-crs-inbound" not in json.loads(out)["versions"][-1]["added"]


def test_the_engine_names_the_crs_scenario_as_the_checklist_does():
    from detector.checklist.crs.scenario import SCENARIO_ID
    from detector.detection.engine import CRS_SCENARIO

    assert CRS_SCENARIO == SCENARIO_ID


SIGMA_RULE = """\
title: Boot searches
id: 00000000-0000-4000-8000-000000000901
status: test
level: high
logsource:
    category: webserver
detection:
    selection:
        cs-uri-query|contains: boots
    condition: selection
"""


def test_the_crs_and_sigma_rules_run_in_one_scan(site, capsys):
    (site / "sigma").mkdir()
    (site / "sigma" / "boots.yml").write_text(SIGMA_RULE)
    code, out, _ = lw(capsys, "scan", str(site / "access.log"), "-c", str(site / "logwarden.yaml"),
                      "--sigma", str(site / "sigma"), "--format", "json", "--no-escalate")
    assert code == 0, out
    fired = {(f["scenario_id"], f["entity"]["source.ip"]) for f in json.loads(out)["findings"]}
    assert ("web-crs-inbound", "203.0.113.200") in fired
    assert ("00000000-0000-4000-8000-000000000901", "198.51.100.9") in fired
    code, out, _ = lw(capsys, "match", str(site / "access.log"), "-c", str(site / "logwarden.yaml"),
                      "--sigma", str(site / "sigma"), "--format", "json")
    rules = {r.split("/")[0] for m in json.loads(out)["matches"] for r in m["rules"]}
    assert {"web-crs-inbound", "00000000-0000-4000-8000-000000000901"} <= rules
