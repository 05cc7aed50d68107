"""Loading CRS rule files: what runs, what cannot and why, paranoia levels, exclusions, version."""

from __future__ import annotations

from pathlib import Path

import pytest

from crskit import SHARED_CRS, write_crs
from detector.checklist.crs import load_crs
from detector.checklist.crs.report import check_report
from detector.config import CrsSettings
from detector.errors import RuleError


@pytest.fixture
def crs(tmp_path: Path):
    return load_crs(write_crs(tmp_path / "crs"))


def test_version_and_rules_that_run(crs):
    assert crs.version == "9.1.0"
    ids = {r.id for r in crs.rules}
    assert {100100, 100200, 100300, 100400, 100500, 100600, 100700, 100800, 100900, 101000, 101100} <= ids


def test_every_rule_that_cannot_run_has_its_reason(crs):
    reasons = {s.id: s.reason for s in crs.skipped}
    assert reasons[109001] == "target"  # request body only
    assert reasons[109002] == "operator"  # libinjection
    assert reasons[109003] == "regex"  # RE2 has no lookahead
    assert reasons[109004] == "transformation"
    assert reasons[100011] == "control"  # paranoia gate, no score
    assert reasons[951100] == "response"
    assert "libinjection" in next(s.detail for s in crs.skipped if s.id == 109002)
    # one entry per rule, never duplicated
    assert len([s.id for s in crs.skipped]) == len({s.id for s in crs.skipped})


def test_rule_details_paranoia_score_chain_and_partial_targets(crs):
    by_id = {r.id: r for r in crs.rules}
    assert by_id[100100].score == 5 and by_id[100100].paranoia == 1
    assert by_id[100400].score == 4 and len(by_id[100400].conditions) == 2
    assert by_id[100500].score == 3 and by_id[100500].conditions[1].variables[0].name == "MATCHED_VARS"
    assert by_id[100700].paranoia == 2 and by_id[100700].score == 2
    assert by_id[100600].conditions[0].phrases == ("/etc/shadow", ".htpasswd")
    assert by_id[100900].conditions[0].argument == "GET HEAD POST OPTIONS"  # setup default expanded
    assert by_id[101100].unfed == ("XML:/*",)
    # SecRuleUpdateTargetById adds an exclusion to the rule it names
    assert [v.text() for v in by_id[100100].conditions[0].exclusions] == ["ARGS:password"]


def test_target_updates_list_several_targets_as_modsecurity_does(tmp_path: Path):
    root = write_crs(tmp_path / "crs")
    with open(root / "rules" / "REQUEST-999-COMMON-EXCEPTIONS-AFTER.conf", "a") as handle:
        handle.write('SecRuleUpdateTargetById 100700 "!ARGS:dl|!ARGS:dr|!ARGS:/^(?:utm|gclid)_x|y$/"\n')
    rule = next(r for r in load_crs(root).rules if r.id == 100700)
    assert [v.text() for v in rule.conditions[0].exclusions] == ["ARGS:dl", "ARGS:dr", "ARGS:/^(?:utm|gclid)_x|y$/"]


def test_selection_by_paranoia_level_and_exclusions(crs):
    root = crs.path
    pl1 = {r.id for r in crs.select(CrsSettings(root, paranoia=1))}
    pl2 = {r.id for r in crs.select(CrsSettings(root, paranoia=2))}
    assert 100700 not in pl1 and 100700 in pl2
    kept = {r.id for r in crs.select(CrsSettings(root, exclusions=("100100", "attack-xss", "100400-100500")))}
    assert not kept & {100100, 100300, 100400, 100500}
    assert 100200 in kept


def test_check_report_totals_per_reason(crs):
    report = check_report(crs, CrsSettings(crs.path))
    assert report["reasons"]["target"]["rules"] == 1
    assert report["reasons"]["operator"]["rules"] == 1
    assert report["loaded"] == len(crs.rules)
    assert 0 < report["loaded_share"] < 1


def test_not_a_crs_install_is_a_clear_error(tmp_path: Path):
    with pytest.raises(RuleError, match="CRS"):
        load_crs(tmp_path / "missing")
    (tmp_path / "empty" / "rules").mkdir(parents=True)
    with pytest.raises(RuleError, match=r"\*\.conf"):
        load_crs(tmp_path / "empty")


def test_a_broken_rule_file_names_the_file(tmp_path: Path):
    root = write_crs(tmp_path / "crs")
    (root / "rules" / "REQUEST-950-BROKEN.conf").write_text('SecRule ARGS "@rx x" "id:1"\nSecRule ARGS ARGS ARGS\n')
    with pytest.raises(RuleError, match="REQUEST-950-BROKEN.conf:2:"):
        load_crs(root)


@pytest.mark.skipif(not SHARED_CRS.is_dir(), reason="the CRS snapshot (../shared/crs) is not beside the repository")
def test_whole_snapshot_loads_with_every_skip_explained():
    crs = load_crs(SHARED_CRS)
    assert crs.version.startswith("4.")
    report = check_report(crs, CrsSettings(SHARED_CRS))
    assert report["loaded_share"] > 0.7
    assert all(s.reason and s.detail for s in crs.skipped)
    assert {r.paranoia for r in crs.rules} == {1, 2, 3, 4}
