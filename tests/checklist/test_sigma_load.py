"""Sigma rule files load as they are: metadata kept, log sources chosen, fields mapped; what
cannot run is skipped with a reason a user can act on; what is not Sigma fails with its file
and line. Fixtures are small Sigma rules written for these tests."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from detection.builders import auth_failure_rule, scenario_doc, write_checklist

from detector.checklist import load_checklist
from detector.checklist.sigma import LOADED, OUT_OF_SCOPE, SKIPPED, Defaults, load_sigma
from detector.errors import RuleError

DEFAULTS = Defaults(owner="secops", reopen_after=timedelta(hours=1))

FULL_RULE = """\
title: Webshell command in the query
id: 0b8f5a55-2c62-4c0b-9d2e-3a0c5ec1a001
status: test
description: |
    Detects a command passed to a web shell.
references:
    - https://example.org/webshells
author: Jane Doe, John Roe
date: '2024-03-08'
modified: 2025-11-22
tags:
    - attack.persistence
    - attack.t1505.003
    - cve.2021-44228
    - detection.emerging-threats
logsource:
    category: webserver
detection:
    selection:
        cs-method: GET
        cs-uri-query|contains: 'cmd='
    condition: selection
falsepositives:
    - Admin scripts
level: high
"""


def rule(rule_id: str, detection: str, logsource: str = "category: webserver", extra: str = "") -> str:
    return (
        f"title: rule {rule_id[-4:]}\nid: {rule_id}\nstatus: stable\nlevel: medium\ndate: 2025-01-02\n{extra}"
        f"logsource:\n    {logsource}\ndetection:\n{detection}"
    )


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def outcome(load, rule_id: str):
    return next(o for o in load.outcomes if o.rule_id == rule_id)


def test_metadata_is_kept_and_graded(tmp_path):
    write(tmp_path / "rules", "web_shell.yml", FULL_RULE)
    load = load_sigma([tmp_path / "rules"], DEFAULTS)
    assert load.problems == ()
    (scenario,) = load.scenarios
    assert scenario.id == "0b8f5a55-2c62-4c0b-9d2e-3a0c5ec1a001"
    assert (scenario.title, scenario.status, scenario.severity) == ("Webshell command in the query", "test", "high")
    assert scenario.description == "Detects a command passed to a web shell."
    assert scenario.author == "Jane Doe, John Roe"
    assert (scenario.created, scenario.modified) == (date(2024, 3, 8), date(2025, 11, 22))  # quoted date read
    assert scenario.version == "2025.11.22" and scenario.last_reviewed == date(2025, 11, 22)
    assert scenario.references == ("https://example.org/webshells",)
    assert scenario.falsepositives == ("Admin scripts",)
    assert scenario.attack == ("T1505.003",)
    assert scenario.tags == ("attack.persistence", "attack.t1505.003", "cve.2021-44228", "detection.emerging-threats")
    assert scenario.confidence == pytest.approx(0.54)  # high 0.60 x test 0.90
    assert [(p.kind, p.ref) for p in scenario.provenance] == [("external", f"Sigma {scenario.id}")]
    assert scenario.requires == ("access",) and scenario.entity == ("source.ip",)
    assert scenario.owner == "secops" and scenario.samples == ()


def test_rules_inside_a_sigmahq_checkout_say_so_in_their_provenance(tmp_path):
    checkout = tmp_path / "sigma"
    write(checkout, "LICENSE.Detection.Rules.md", "Detection Rule License 1.1\n")
    write(checkout / "rules" / "web", "web_shell.yml", FULL_RULE)
    (scenario,) = load_sigma([checkout], DEFAULTS).scenarios
    assert scenario.provenance[0].ref == "SigmaHQ 0b8f5a55-2c62-4c0b-9d2e-3a0c5ec1a001"


@pytest.mark.parametrize(
    ("level", "status", "prior"),
    [("critical", "stable", 0.75), ("high", "experimental", 0.45), ("low", "test", 0.225), (None, None, 0.3)],
)
def test_confidence_prior_follows_the_documented_table(tmp_path, level, status, prior):
    text = FULL_RULE.replace("level: high\n", f"level: {level}\n" if level else "")
    text = text.replace("status: test\n", f"status: {status}\n" if status else "")
    write(tmp_path, "r.yml", text)
    (scenario,) = load_sigma([tmp_path], DEFAULTS).scenarios
    assert scenario.confidence == pytest.approx(prior)
    assert scenario.severity == (level or "medium")


def test_log_sources_choose_the_log_kinds_and_entity(tmp_path):
    detection = "    keywords:\n        - 'segfault'\n    condition: keywords\n"
    sources = {
        "00000000-0000-4000-8000-000000000001": ("category: proxy", ("access",), ("source.ip",)),
        "00000000-0000-4000-8000-000000000002": ("product: linux\n    service: sshd", ("auth", "system"), ("host.name",)),
        "00000000-0000-4000-8000-000000000003": ("category: application\n    product: django", ("application",), ("host.name",)),
        "00000000-0000-4000-8000-000000000004": ("service: apache", ("web-error",), ("host.name",)),
    }
    for rule_id, (logsource, _, _) in sources.items():
        write(tmp_path, f"{rule_id[-1]}.yml", rule(rule_id, detection, logsource))
    load = load_sigma([tmp_path], DEFAULTS)
    got = {s.id: (s.requires, s.entity) for s in load.scenarios}
    assert got == {rule_id: (kinds, entity) for rule_id, (_, kinds, entity) in sources.items()}


def test_out_of_scope_log_sources_are_listed_not_loaded(tmp_path):
    detection = "    selection:\n        Image|endswith: '\\\\cmd.exe'\n    condition: selection\n"
    write(tmp_path, "win.yml", rule("00000000-0000-4000-8000-0000000000aa", detection,
                                    "category: process_creation\n    product: windows"))
    write(tmp_path, "audit.yml", rule("00000000-0000-4000-8000-0000000000ab", detection,
                                      "category: process_creation\n    product: linux"))
    load = load_sigma([tmp_path], DEFAULTS)
    assert load.scenarios == () and load.problems == ()
    for rule_id in ("00000000-0000-4000-8000-0000000000aa", "00000000-0000-4000-8000-0000000000ab"):
        found = outcome(load, rule_id)
        assert found.status == OUT_OF_SCOPE
        assert "process_creation" in found.detail and "logwarden reads webserver, proxy" in found.detail
    assert load.in_scope == 0


def test_fields_access_logs_do_not_record_are_skipped_with_the_reason(tmp_path):
    detection = "    selection:\n        cs-cookie|contains: 'SESSIONID='\n    condition: selection\n"
    write(tmp_path, "c.yml", rule("00000000-0000-4000-8000-0000000000c1", detection, "category: proxy"))
    detection = "    selection:\n        x-forwarded-proto: http\n    condition: selection\n"
    write(tmp_path, "d.yml", rule("00000000-0000-4000-8000-0000000000c2", detection))
    load = load_sigma([tmp_path], DEFAULTS)
    cookie, unknown = outcome(load, "00000000-0000-4000-8000-0000000000c1"), outcome(load, "00000000-0000-4000-8000-0000000000c2")
    assert (cookie.status, cookie.reason) == (SKIPPED, "field not in these logs")
    assert "do not record the Cookie header" in cookie.detail
    assert "'x-forwarded-proto' is not extracted from webserver logs" in unknown.detail
    assert "cs-uri-query" in unknown.detail  # the fields that are mapped are listed
    assert load.in_scope == 2 and load.count(LOADED) == 0


def test_application_rules_keep_their_own_json_keys(tmp_path):
    detection = "    selection:\n        logtype: 2000\n    condition: selection\n"
    write(tmp_path, "canary.yml", rule("00000000-0000-4000-8000-0000000000d1", detection,
                                       "category: application\n    product: opencanary"))
    (scenario,) = load_sigma([tmp_path], DEFAULTS).scenarios
    assert scenario.custom_fields == ("logtype",)


def test_unknown_modifier_is_skipped_with_its_line(tmp_path):
    detection = "    selection:\n        cs-uri-query|containz: 'cmd='\n    condition: selection\n"
    write(tmp_path, "m.yml", rule("00000000-0000-4000-8000-0000000000e1", detection))
    load = load_sigma([tmp_path], DEFAULTS)
    found = outcome(load, "00000000-0000-4000-8000-0000000000e1")
    assert (found.status, found.reason) == (SKIPPED, "unknown modifier")
    assert found.detail.startswith("line 10: unknown modifier 'containz'")
    assert load.problems == ()


def test_pcre_only_regex_is_skipped_with_re2s_reason(tmp_path):
    detection = "    selection:\n        cs-uri-query|re: '(?<=cmd=)whoami'\n    condition: selection\n"
    write(tmp_path, "r.yml", rule("00000000-0000-4000-8000-0000000000e2", detection))
    found = outcome(load_sigma([tmp_path], DEFAULTS), "00000000-0000-4000-8000-0000000000e2")
    assert (found.status, found.reason) == (SKIPPED, "regex not RE2 (PCRE-only)")
    assert "(?<=cmd=)whoami" in found.detail and "lookarounds" in found.detail


def test_placeholders_take_their_values_from_the_checklist(tmp_path):
    detection = "    selection:\n        cs-uri-stem|expand: '%admin_paths%'\n    condition: selection\n"
    write(tmp_path, "p.yml", rule("00000000-0000-4000-8000-0000000000e3", detection))
    missing = outcome(load_sigma([tmp_path], DEFAULTS), "00000000-0000-4000-8000-0000000000e3")
    assert (missing.status, missing.reason) == (SKIPPED, "placeholder without values")
    assert "sigma_placeholders: {admin_paths: [...]}" in missing.detail
    loaded = load_sigma([tmp_path], DEFAULTS, {"admin_paths": ["/admin", "/wp-admin"]})
    assert [s.id for s in loaded.scenarios] == ["00000000-0000-4000-8000-0000000000e3"]


def test_deprecated_and_duplicate_rules_are_skipped(tmp_path):
    detection = "    keywords:\n        - 'x'\n    condition: keywords\n"
    write(tmp_path, "a.yml", rule("00000000-0000-4000-8000-0000000000f1", detection))
    write(tmp_path, "b.yml", rule("00000000-0000-4000-8000-0000000000f1", detection))
    write(tmp_path, "c.yml", rule("00000000-0000-4000-8000-0000000000f2", detection).replace("stable", "deprecated"))
    load = load_sigma([tmp_path], DEFAULTS)
    reasons = sorted((o.path.name, o.status, o.reason) for o in load.outcomes)
    assert reasons == [
        ("a.yml", LOADED, ""), ("b.yml", SKIPPED, "duplicate id"), ("c.yml", SKIPPED, "status deprecated"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("title: x\nlogsource: {category: webserver\ndetection: {}\n", 3, "invalid YAML"),
        ("title: just some yaml\nfoo: bar\n", 1, "not a Sigma rule"),
        (rule("00000000-0000-4000-8000-000000000101", "    sel:\n        cs-method: GET\n    condition: sel and\n"),
         8, "not valid Sigma"),
        (rule("00000000-0000-4000-8000-000000000102", "    sel:\n        cs-method: GET\n    condition: sel\n")
         .replace("level: medium", "level: severe"), 4, "not valid Sigma"),
    ],
)
def test_a_file_that_is_not_valid_sigma_is_a_problem_with_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, "bad.yml", text)
    load = load_sigma([tmp_path], DEFAULTS)
    assert len(load.problems) == 1 and load.scenarios == ()
    assert load.problems[0].startswith(f"{path.resolve()}:{line}: {message}")


def test_checklist_names_sigma_paths_and_the_command_line_adds_more(tmp_path):
    write(tmp_path / "sigma", "a.yml", FULL_RULE)
    write(tmp_path / "more", "b.yml", rule("00000000-0000-4000-8000-000000000201",
                                           "    keywords:\n        - x\n    condition: keywords\n"))
    native = scenario_doc("ssh-failures", rules={"failure": auth_failure_rule()}, last_reviewed="2026-12-07")
    checklist = write_checklist(
        tmp_path, [native], sigma=["../sigma"], sigma_placeholders={"admins": ["root"]},
        reviews=[{"date": "2026-12-07", "by": "secops", "note": "quoted dates, as yaml.safe_dump writes them"}],
    )
    assert "'2026-12-07'" in (checklist / "checklist.yaml").read_text()
    loaded = load_checklist(checklist, [tmp_path / "more"])
    assert [s.id for s in loaded.scenarios] == [
        "ssh-failures", "0b8f5a55-2c62-4c0b-9d2e-3a0c5ec1a001", "00000000-0000-4000-8000-000000000201",
    ]
    assert loaded.scenario("ssh-failures").last_reviewed == date(2026, 12, 7)
    assert loaded.scenario("ssh-failures").tags == ("attack.t1110.001",)
    assert loaded.extra["sigma"].count(LOADED) == 2
    assert load_checklist(checklist).content_hash != loaded.content_hash


def test_bad_sigma_settings_in_checklist_yaml_name_the_line(tmp_path):
    native = scenario_doc("ssh-failures", rules={"failure": auth_failure_rule()})
    checklist = write_checklist(tmp_path, [native], sigma={"path": "x"}, sigma_placeholders={"admins": "root"})
    with pytest.raises(RuleError) as caught:
        load_checklist(checklist)
    meta = checklist / "checklist.yaml"
    assert [p.split(": ", 1)[0] for p in caught.value.problems] == [f"{meta}:13", f"{meta}:15"]
    assert "sigma must be a list of paths" in caught.value.problems[0]
    assert "sigma_placeholders must map each placeholder name" in caught.value.problems[1]


def test_an_invalid_sigma_file_fails_the_checklist_load_with_file_and_line(tmp_path):
    bad = write(tmp_path / "sigma", "bad.yml", "title: x\ndetection: [\n")
    with pytest.raises(RuleError) as caught:
        load_checklist(None, [tmp_path / "sigma"])
    assert caught.value.problems == [f"{bad.resolve()}:3: invalid YAML: expected the node content, but found '<stream end>'"]
