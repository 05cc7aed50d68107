"""Checklist validation: a deliberately broken checklist reports every problem at once, each
as `file:line: what is wrong, what to write instead`; a good one loads into typed values."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from detection.builders import auth_failure_rule, scenario_doc, write_checklist

from detector.checklist import load_checklist
from detector.errors import RuleError

CHECKLIST = """\
schema: 1
version: "2026.11.0"
owner: secops
review_interval: 90d
reviews:
  - {date: 2026-11-20, by: secops, note: initial}
scenarios: scenarios
colour: blue
"""

GOOD_HEAD = """\
version: 1.0.0
title: a scenario
status: stable
owner: secops
confidence: 0.6
attack: [T1110.001]
provenance:
  - {kind: threat-model, ref: TM-1}
requires: [auth]
last_reviewed: 2026-11-20
"""

SAMPLES = """\
samples:
  - {log: sample_logs/pos.log, expect: [{entity: {source.ip: 203.0.113.7}}]}
  - {log: sample_logs/neg.log, expect: []}
"""

SCENARIOS = {
    # line 1 id, 2-11 GOOD_HEAD, 12 severity, 13 notes, 14 rules ...
    "alpha.yaml": "id: alpha\n" + GOOD_HEAD + """\
severity: urgent
notes: remember to tune
rules:
  alpha-rule:
    detection:
      selection:
        user.nmae: root
        process.name|contain: sshd
        message|re: '(?=admin)adm'
      condition: selection
""" + SAMPLES,
    "beta.yaml": "id: beta\n" + GOOD_HEAD + """\
severity: high
rules:
  beta-fail:
    detection:
      selection:
        event.action: ssh-failed-password
      condition: selection
correlation:
  type: event_count
  rules: [beta-fail, gamma-missing]
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 5}
""" + SAMPLES,
    "beta-copy.yaml": "id: beta\n" + GOOD_HEAD + """\
severity: high
rules:
  copy-rule:
    detection:
      selection:
        event.action: ssh-failed-password
      condition: selection
""" + SAMPLES,
    "delta.yaml": "id: delta\n" + GOOD_HEAD + """\
severity: low
rules:
  delta-rule:
    detection:
      selection:
        event.action: ssh-failed-password
      condition: selection
samples:
  - {log: sample_logs/pos.log, expect: [{entity: {source.ip: 203.0.113.7}}]}
""",
    "epsilon.yaml": "id: epsilon\n" + GOOD_HEAD + """\
severity: medium
reopen_after: soon
rules:
  eps-rule:
    detection:
      selection:
        event.action: ssh-failed-password
      condition: selection
correlation:
  type: event_count
  rules: [eps-rule]
  group-by: [source.ip]
  timespan: 10 minutes
  condition: {gte: 5}
""" + SAMPLES,
    "eta.yaml": """\
id: eta
version: 1.0.0
title: first title
title: second title
""",
    "gamma.yaml": "id: gamma\n" + GOOD_HEAD + """\
severity: low
rules:
  gamma-rule:
    detection:
      selection:
        event.action: ssh-failed-password
      condition: selection
""",
    "theta.yaml": """\
id: theta
rules: [unclosed, list
severity: low
""",
    "zeta-wrong.yaml": "id: zeta\n" + GOOD_HEAD + """\
severity: low
rules:
  zeta-rule:
    detection:
      selection:
        event.action: ssh-failed-password
      condition: selection
""" + SAMPLES,
}


def broken_checklist(root: Path) -> Path:
    rules = root / "rules"
    (rules / "scenarios").mkdir(parents=True)
    (rules / "checklist.yaml").write_text(CHECKLIST)
    for name, text in SCENARIOS.items():
        (rules / "scenarios" / name).write_text(text)
    (root / "sample_logs").mkdir()
    (root / "sample_logs" / "pos.log").write_text("x\n")
    (root / "sample_logs" / "neg.log").write_text("y\n")
    return rules


def expected_problems(rules: Path) -> list[str]:
    meta = rules / "checklist.yaml"
    s = rules / "scenarios"
    keys = (
        "attack, confidence, correlation, custom_fields, description, entity, falsepositives, id, "
        "last_reviewed, owner, provenance, references, reopen_after, requires, rules, samples, severity, "
        "status, suppressed_by, tags, title, version"
    )
    modifiers = (
        "all, base64, base64offset, cased, cidr, contains, endswith, exists, fieldref, gt, gte, i, lt, lte, m, re, s, "
        "startswith, utf16, utf16be, utf16le, wide, windash"
    )
    return [
        f"{meta}:8: unknown key 'colour'; expected one of evidence_cap, lateness, owner, reopen_after, "
        "review_interval, reviews, scenarios, schema, sigma, sigma_placeholders, title, version",
        f"{s}/alpha.yaml:12: severity 'urgent' unknown; use one of informational, low, medium, high, critical",
        f"{s}/alpha.yaml:13: unknown key 'notes'; expected one of {keys}",
        f"{s}/alpha.yaml:18: rule 'alpha-rule': unknown field 'user.nmae' (did you mean user.name?)",
        f"{s}/alpha.yaml:19: rule 'alpha-rule': unknown modifier 'contain'; use one of {modifiers}",
        f"{s}/alpha.yaml:20: rule 'alpha-rule': regular expression '(?=admin)adm' is not valid RE2 "
        "(invalid perl operator: (?=); RE2 has no lookarounds or backreferences",
        f"{s}/beta-copy.yaml:1: id 'beta' does not match the file name; rename the file to beta.yaml",
        f"{s}/beta-copy.yaml:1: duplicate scenario id 'beta' (also in {s}/beta.yaml); ids must be unique",
        f"{s}/beta.yaml:21: correlation refers to 'gamma-missing', which is neither a rule of this scenario "
        "(beta-fail) nor a scenario id",
        f"{s}/delta.yaml:19: no negative sample: add one with `expect: []` (benign traffic that must stay quiet)",
        f"{s}/epsilon.yaml:13: reopen_after: expected a duration such as 20m, 4h or 7d, got 'soon'",
        f"{s}/epsilon.yaml:24: timespan: expected a duration such as 20m, 4h or 7d, got '10 minutes'",
        f"{s}/eta.yaml:4: invalid YAML: duplicate key 'title' (first at line 3); keep one of them",
        f"{s}/gamma.yaml:1: missing required key 'samples'",
        f"{s}/theta.yaml:3: invalid YAML: expected ',' or ']', but got ':'",
        f"{s}/zeta-wrong.yaml:1: id 'zeta' does not match the file name; rename the file to zeta.yaml",
    ]


def test_a_broken_checklist_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    rules = broken_checklist(tmp_path)
    with pytest.raises(RuleError) as caught:
        load_checklist(rules)
    assert sorted(caught.value.problems) == sorted(expected_problems(rules))
    assert caught.value.exit_code == 2
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_fixing_every_problem_loads_the_checklist(tmp_path: Path) -> None:
    rules = broken_checklist(tmp_path)
    scenarios = rules / "scenarios"
    (rules / "checklist.yaml").write_text(CHECKLIST.replace("colour: blue\n", ""))
    alpha = (scenarios / "alpha.yaml").read_text()
    alpha = alpha.replace("severity: urgent", "severity: high").replace("notes: remember to tune\n", "")
    alpha = alpha.replace("user.nmae", "user.name").replace("|contain:", "|contains:").replace("(?=admin)adm", "adm(in)?")
    (scenarios / "alpha.yaml").write_text(alpha)
    (scenarios / "beta.yaml").write_text((scenarios / "beta.yaml").read_text().replace(", gamma-missing", ""))
    (scenarios / "beta-copy.yaml").unlink()
    (scenarios / "zeta-wrong.yaml").rename(scenarios / "zeta.yaml")
    (scenarios / "delta.yaml").write_text((scenarios / "delta.yaml").read_text() + "  - {log: sample_logs/neg.log, expect: []}\n")
    epsilon = (scenarios / "epsilon.yaml").read_text().replace("10 minutes", "10m").replace("soon", "2h")
    (scenarios / "epsilon.yaml").write_text(epsilon)
    (scenarios / "eta.yaml").unlink()
    (scenarios / "theta.yaml").unlink()
    (scenarios / "gamma.yaml").write_text((scenarios / "gamma.yaml").read_text() + SAMPLES)
    checklist = load_checklist(rules)
    assert [s.id for s in checklist.scenarios] == ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]
    epsilon_scenario = checklist.scenario("epsilon")
    assert epsilon_scenario is not None and epsilon_scenario.correlation is not None
    assert epsilon_scenario.reopen_after == timedelta(hours=2)
    assert epsilon_scenario.correlation.timespan == timedelta(minutes=10)
    assert epsilon_scenario.threshold == 5
    assert epsilon_scenario.entity == ("source.ip",)
    assert checklist.scenario("alpha").reopen_after == timedelta(hours=1)  # the checklist default
    assert checklist.version == "2026.11.0"
    assert checklist.review_interval == timedelta(days=90)
    assert checklist.last_review() == date(2026, 11, 20)
    assert checklist.lateness == timedelta(minutes=5)
    assert checklist.evidence_cap == 20


def test_unknown_field_without_a_close_match_points_to_custom_fields(tmp_path: Path) -> None:
    rule = {"detection": {"s": {"app.tenant": "acme"}, "condition": "s"}}
    rules = write_checklist(tmp_path, [scenario_doc("tenant", rules={"t": rule})])
    with pytest.raises(RuleError) as caught:
        load_checklist(rules)
    path = rules / "scenarios" / "tenant.yaml"
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "app.tenant" in t)
    assert caught.value.problems == [
        f"{path}:{line}: rule 't': unknown field 'app.tenant'; declare application keys in custom_fields"
    ]
    write_checklist(tmp_path, [scenario_doc("tenant", rules={"t": rule}, custom_fields=["app.tenant"])])
    assert load_checklist(rules).scenario("tenant").custom_fields == ("app.tenant",)


def test_an_unparseable_condition_is_reported_at_its_line(tmp_path: Path) -> None:
    rule = {"detection": {"s": {"user.name": "root"}, "condition": "s and and"}}
    rules = write_checklist(tmp_path, [scenario_doc("cond", rules={"c": rule})])
    path = rules / "scenarios" / "cond.yaml"
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "condition: s and and" in t)
    with pytest.raises(RuleError) as caught:
        load_checklist(rules)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{path}:{line}: rule 'c': ")
    assert caught.value.problems[0].endswith("see the Sigma condition syntax (and, or, not, 1 of sel*, all of them)")


def test_a_missing_sample_file_is_reported_only_when_the_samples_are_needed(tmp_path: Path) -> None:
    rules = write_checklist(tmp_path, [scenario_doc("miss", rules={"r": auth_failure_rule()})])
    (tmp_path / "sample_logs" / "miss" / "negative.log").unlink()
    path = rules / "scenarios" / "miss.yaml"
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "negative.log" in t)
    assert load_checklist(rules).scenario("miss") is not None  # detection does not need samples
    with pytest.raises(RuleError) as caught:
        load_checklist(rules, require_samples=True)
    assert caught.value.problems == [
        f"{path}:{line}: sample log 'sample_logs/miss/negative.log' not found (a file or directory, relative to "
        f"{tmp_path}); `rules test` needs the samples next to the checklist"
    ]


def test_a_missing_directory_and_a_missing_checklist_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError) as caught:
        load_checklist(tmp_path / "nope")
    assert caught.value.problems == [f"{tmp_path / 'nope'}:0: checklist directory not found; pass --checklist DIR"]
    with pytest.raises(RuleError) as caught:
        load_checklist(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'checklist.yaml'}:0: missing checklist.yaml (schema, version, owner, review_interval, reviews)"
    ]


# -- through the command line ------------------------------------------------------------------


def test_rules_validate_exits_2_and_prints_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("escalation.cli.incidents", reason="detector.cli wires in escalation.cli, not written yet")
    from detector.cli.root import main

    rules = broken_checklist(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["rules", "validate", "--checklist", str(rules)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.splitlines()
    expected = expected_problems(rules)
    assert sorted(err[:-1]) == sorted(expected)
    assert err[-1] == f"logwarden: {len(expected)} problem(s); nothing was applied"


def test_rules_validate_accepts_a_good_checklist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("escalation.cli.incidents", reason="detector.cli wires in escalation.cli, not written yet")
    from click.testing import CliRunner

    from detector.cli.root import build_cli

    rules = write_checklist(tmp_path, [scenario_doc("ok", rules={"r": auth_failure_rule()})])
    result = CliRunner().invoke(build_cli(), ["rules", "validate", "--checklist", str(rules)])
    assert result.exit_code == 0, result.output
    assert "checklist 2026.11.0: 1 scenarios, no problems" in result.output


def test_a_scenario_without_rules_is_reported(tmp_path: Path) -> None:
    rules = write_checklist(tmp_path, [scenario_doc("empty", rules={})])
    path = rules / "scenarios" / "empty.yaml"
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("rules:"))
    with pytest.raises(RuleError) as caught:
        load_checklist(rules)
    assert caught.value.problems == [
        f"{path}:{line}: a scenario needs at least one rule (or a correlation chaining other scenarios)"
    ]


def test_a_duration_without_a_unit_is_refused_at_its_line(tmp_path: Path) -> None:
    """`timespan: 5` used to load as 5 seconds where 5 minutes was meant (the policy file refuses
    bare numbers; the checklist does too)."""
    correlation = {"type": "event_count", "rules": ["r"], "group-by": ["source.ip"], "timespan": 5,
                   "condition": {"gte": 5}}
    rules = write_checklist(tmp_path, [scenario_doc("bare", rules={"r": auth_failure_rule()},
                                                    correlation=correlation, reopen_after=3600)],
                            lateness=300)
    path = rules / "scenarios" / "bare.yaml"
    text = path.read_text().splitlines()
    timespan = next(i for i, t in enumerate(text, 1) if "timespan: 5" in t)
    reopen = next(i for i, t in enumerate(text, 1) if "reopen_after: 3600" in t)
    lateness = next(i for i, t in enumerate((rules / "checklist.yaml").read_text().splitlines(), 1) if "lateness" in t)
    with pytest.raises(RuleError) as caught:
        load_checklist(rules)
    assert sorted(caught.value.problems) == sorted([
        f"{path}:{timespan}: timespan 5 has no unit; write e.g. timespan: 5m (or 5s, 5h; units s, m, h, d, w)",
        f"{path}:{reopen}: reopen_after 3600 has no unit; write e.g. reopen_after: 3600m (or 3600s, 3600h; units s, m, h, d, w)",
        f"{rules / 'checklist.yaml'}:{lateness}: lateness 300 has no unit; write e.g. lateness: 300m "
        "(or 300s, 300h; units s, m, h, d, w)",
    ])
