"""Operator arguments that expand a capture of an earlier rule of the same chain (`%{TX.2}`),
compared request by request: CRS-syntax fixtures written for these tests, and CRS 942130 /
942131 (SQL tautologies) of the snapshot when it is beside the repository."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crskit import SHARED_CRS, combined, request_frame, write_crs
from detector.checklist.crs import load_crs
from detector.config import CrsSettings
from detector.detection.crs.stage import CrsStage

_SCORE = "setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
_TAGS = "severity:'CRITICAL',tag:'attack-sqli',tag:'paranoia-level/1'"

RULES = rf'''
SecComponentSignature "OWASP_CRS/9.1.0"

# a word compared with itself (1=1, 'a'='a', x like x): the two captures must be equal
SecRule ARGS_NAMES|ARGS "@rx (?i)['\"\s(]*\b(\w+)\b['\"\s)]*(?:=|like)['\"\s(]*\b(\w+)\b" \
    "id:120100,phase:2,block,capture,t:none,t:urlDecodeUni,msg:'tautology',{_TAGS},chain"
    SecRule TX:1 "@streq %{{TX.2}}" "t:none,{_SCORE}"

# the same test, negated, after a multiMatch rule whose last transformation loses the match
SecRule ARGS "@rx ([A-Z]+)<>([A-Z]+)" \
    "id:120200,phase:2,block,capture,multiMatch,t:none,t:lowercase,msg:'differs',{_TAGS},chain"
    SecRule TX:1 "!@streq %{{TX.2}}" "t:none,{_SCORE}"

# a numeric comparison with a capture: a descending range
SecRule ARGS:range "@rx ^(\d+)-(\d+)$" \
    "id:120300,phase:2,block,capture,t:none,msg:'range',{_TAGS},chain"
    SecRule TX:1 "@gt %{{tx.2}}" "t:none,{_SCORE}"

# a collection compared with a capture and literal text: an argument that repeats the agent's product
SecRule REQUEST_HEADERS:User-Agent "@rx ^(\w+)/" \
    "id:120400,phase:1,block,capture,t:none,msg:'echo',{_TAGS},chain"
    SecRule ARGS:echo "@beginsWith ua-%{{TX.1}}" "t:none,t:lowercase,{_SCORE}"

# a middle rule without `capture` leaves TX:1 / TX:2 to the first rule's match
SecRule ARGS:pair "@rx ^(\w+):(\w+)$" \
    "id:120500,phase:2,block,capture,t:none,msg:'pair',{_TAGS},chain"
    SecRule ARGS:pair "@rx ^(\w)(\w)" "t:none,chain"
        SecRule TX:1 "@streq %{{TX.2}}" "t:none,{_SCORE}"

# cannot run: no rule of the chain captures, so %{{TX.2}} would be another rule's capture
SecRule ARGS "@rx (\w+)=(\w+)" \
    "id:120900,phase:2,block,t:none,msg:'no capture',{_TAGS},chain"
    SecRule ARGS:b "@streq %{{TX.2}}" "t:none,{_SCORE}"

# cannot run: a pattern built per request
SecRule ARGS "@rx (\w+)=" \
    "id:120901,phase:2,block,capture,t:none,msg:'rx macro',{_TAGS},chain"
    SecRule ARGS "@rx ^%{{TX.1}}" "t:none,{_SCORE}"
'''


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> CrsStage:
    root = write_crs(tmp_path_factory.mktemp("crs-macro") / "crs", RULES)
    return CrsStage(load_crs(root), CrsSettings(root))


def rules_of(stage: CrsStage, lines: list[str]) -> list[list[str]]:
    frame = stage.enrich(request_frame(lines))
    return [("" if pd.isna(r) else r).split() for r in frame["crs.rules"].astype(object).tolist()]


def test_the_loader_keeps_a_capture_macro_as_a_template_and_lists_what_it_cannot_run(tmp_path: Path):
    loaded = load_crs(write_crs(tmp_path / "crs", RULES))
    by_id = {r.id: r for r in loaded.rules}
    assert {120100, 120200, 120300, 120400, 120500} <= set(by_id)
    second = by_id[120100].conditions[1]
    assert second.operator == "streq" and second.template == (2,) and second.argument == "%{TX.2}"
    assert by_id[120400].conditions[1].template == ("ua-", 1)
    skipped = {s.id: s for s in loaded.skipped}
    assert skipped[120900].reason == "macro" and "no earlier rule of the chain captures" in skipped[120900].detail
    assert skipped[120901].reason == "macro" and "pattern built per request" in skipped[120901].detail


def test_a_tautology_fires_and_a_comparison_of_different_values_does_not(stage):
    rows = rules_of(
        stage,
        [
            combined("/p?id=1%3D1"),
            combined("/p?id=1%27%20or%20%27a%27%3D%27a"),  # 1' or 'a'='a
            combined("/p?id=x%20LIKE%20x"),
            combined("/p?id=1%3D2"),
            combined("/p?id=1%27%20or%20%27a%27%3D%27b"),
            combined("/p?color=red&size=l"),  # an argument name and value are not compared
            combined("/p?q=A%3Da"),  # @streq is case-sensitive
        ],
    )
    assert [("120100" in r) for r in rows] == [True, True, True, False, False, False, False]


def test_the_last_value_that_matched_sets_the_captures(stage):
    """ModSecurity runs the chained rule once, after its first rule went through every value:
    the captures are those of the last value that matched (argument names before values)."""
    rows = rules_of(stage, [combined("/p?a=1%3D1&b=x%3Dy"), combined("/p?b=x%3Dy&a=1%3D1")])
    assert [("120100" in r) for r in rows] == [False, True]


def test_a_multimatch_rule_captures_at_the_last_stage_that_matched(stage):
    rows = rules_of(stage, [combined("/p?v=AB%3C%3ECD"), combined("/p?v=AB%3C%3EAB"), combined("/p?v=ab%3C%3Ecd")])
    assert [("120200" in r) for r in rows] == [True, False, False]


def test_numeric_comparison_with_a_capture(stage):
    rows = rules_of(stage, [combined("/p?range=10-2"), combined("/p?range=2-10"), combined("/p?range=7-7")])
    assert [("120300" in r) for r in rows] == [True, False, False]


def test_a_collection_compared_with_a_capture_and_literal_text_per_request(stage):
    rows = rules_of(
        stage,
        [
            combined("/p?echo=UA-curl-probe", ua="curl/8.14.1"),
            combined("/p?echo=ua-curl-probe", ua="Wget/1.25"),
            combined("/p?echo=ua-wget", ua="Wget/1.25"),  # lower-cased by t:lowercase, the capture is not
            combined("/p?echo=ua-", ua="-"),  # no capture, no match: the chain stops there
        ],
    )
    assert [("120400" in r) for r in rows] == [True, False, False, False]


def test_a_rule_without_capture_does_not_set_the_captures(stage):
    rows = rules_of(stage, [combined("/p?pair=ab:ab"), combined("/p?pair=aa:bc")])
    # the middle rule's groups (a, b / a, a) are not captures: TX:1 / TX:2 stay ab / ab, aa / bc
    assert [("120500" in r) for r in rows] == [True, False]


def test_captures_do_not_pass_from_one_rule_to_another(stage):
    """120100 captures 1 / 1 on this request; 120500 and 120400 run on their own captures only."""
    rows = rules_of(stage, [combined("/p?id=1%3D1&pair=ab:cd&echo=ua-1", ua="-")])
    assert rows[0] == ["120100"]


@pytest.mark.skipif(not SHARED_CRS.is_dir(), reason="no CRS snapshot beside the repository")
def test_crs_sql_tautology_rules_load_and_fire():
    loaded = load_crs(SHARED_CRS)
    ids = {r.id for r in loaded.rules}
    assert {942130, 942131} <= ids
    assert not any(s.id in (942130, 942131) for s in loaded.skipped)
    stage = CrsStage(loaded, CrsSettings(SHARED_CRS, paranoia=2))
    rows = rules_of(
        stage,
        [
            combined("/p?id=1%27%20or%20%271%27%3D%271"),  # 1' or '1'='1
            combined("/p?id=2%20or%202%3E1"),  # 2 or 2>1: an inequality that holds
            combined("/p?id=1%27%20or%20%271%27%3D%272"),
            combined("/p?id=2%20or%202%3E2"),  # 2>2: same words, 942131 does not fire
            combined("/search?q=size%3Dl"),
        ],
    )
    assert "942130" in rows[0] and "942131" not in rows[0]
    assert "942131" in rows[1] and "942130" not in rows[1]
    assert "942130" not in rows[2]
    assert "942131" not in rows[3]
    assert "942130" not in rows[4]


@pytest.mark.skipif(not SHARED_CRS.is_dir(), reason="no CRS snapshot beside the repository")
def test_crs_chains_see_the_captures_of_the_last_value_that_matched():
    """As nginx + ModSecurity 3.0.9 score these requests with the same CRS (bench/crs_modsec.py
    on them, 2026-12-08): the chained rule runs once per request, on the last match's captures."""
    stage = CrsStage(load_crs(SHARED_CRS), CrsSettings(SHARED_CRS, paranoia=2))
    rows = rules_of(
        stage,
        [
            combined("/p?a=1%3D1&b=x%3Dy"),  # 942130: last x=y
            combined("/p?b=x%3Dy&a=1%3D1"),  # last 1=1
            combined("/p?q=a%3C%3Eb&r=c%3C%3Ec"),  # 942131 (multiMatch): last c<>c
            combined("/p?r=c%3C%3Ec&q=a%3C%3Eb"),  # last a<>b
            # 942521: the Referer's quoted `or` is not the last value its first rule matched
            combined("/search?q=women%27s%20reflec", referer="https://www.example.com/search?q=%22or+boots+rain%22"),
            combined("/search?q=%22or%20boots", referer="https://www.example.com/search?q=women%27s"),
        ],
    )
    assert [("942130" in r) for r in rows[:2]] == [False, True]
    assert [("942131" in r) for r in rows[2:4]] == [False, True]
    assert [("942521" in r) for r in rows[4:]] == [False, True]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("streq", [True, False, False, True]),
        ("contains", [True, True, False, True]),
        ("within", [True, False, True, True]),
        ("beginsWith", [True, False, False, True]),
        ("endsWith", [True, True, False, True]),
        ("eq", [True, False, False, True]),
        ("lt", [False, True, True, False]),
    ],
)
def test_operators_compare_each_value_with_its_own_argument(operator, expected):
    """ModSecurity's semantics: an empty argument is in, begins and ends every value; @within
    holds for an empty value; numbers are read as atoi reads them (no number: 0)."""
    import pyarrow as pa

    from detector.checklist.crs.model import Condition
    from detector.detection.crs.operators import compile_row_operator

    match = compile_row_operator(Condition((), (), operator, False, "%{TX.1}", (), template=(1,)))
    values = pa.array(["12", "x12", "1", ""])
    arguments = pa.array(["12", "12", "21", ""])
    assert match(values, arguments).tolist() == expected
