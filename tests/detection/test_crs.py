"""The CRS stage over real access-log lines: targets, transformations, chains, paranoia,
anomaly scores, exclusions, and the transformations one by one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from crskit import combined, request_frame, write_crs
from detector.checklist.crs import load_crs
from detector.config import CrsSettings
from detector.detection.crs import transforms as T
from detector.detection.crs.stage import CrsStage


@pytest.fixture
def crs_root(tmp_path: Path) -> Path:
    return write_crs(tmp_path / "crs")


def run(root: Path, lines: list[str], fmt: str = "combined", **settings) -> list[dict]:
    stage = CrsStage(load_crs(root), CrsSettings(root, **settings))
    frame = stage.enrich(request_frame(lines, fmt))
    return [
        {"score": row["crs.anomaly_score"], "rules": (row["crs.rules"] or "").split(), "matched": row["crs.matched"]}
        for row in frame.to_dict("records")
    ]


def test_args_decoded_and_lower_cased(crs_root):
    rows = run(crs_root, [combined("/p?id=1%20UNION%20%20Select%201"), combined("/p?id=union")])
    assert rows[0]["rules"] == ["100100"] and rows[0]["score"] == 5
    assert "ARGS:id" in rows[0]["matched"] and "union  select 1" in rows[0]["matched"]
    assert rows[1]["score"] == 0 and rows[1]["rules"] == []


def test_argument_names_are_targets_too(crs_root):
    rows = run(crs_root, [combined("/p?union%20select=1")])
    assert rows[0]["rules"] == ["100100"]


def test_user_agent_and_referer(crs_root):
    rows = run(
        crs_root,
        [
            combined("/", ua="sqlmap/1.9.8#stable (https://sqlmap.org)"),
            combined("/", referer="https://x.example/?q=%26lt;SCRIPT%26gt;"),
            combined("/", referer="https://x.example/?q=%3Cscript%3E"),
        ],
    )
    assert rows[0]["rules"] == ["100200"]
    assert rows[1]["rules"] == ["100300"]  # entity-encoded, decoded by t:htmlEntityDecode
    assert rows[2]["rules"] == ["100300"]


def test_nginx_escaped_header_is_read_as_sent(crs_root):
    rows = run(crs_root, [combined("/", referer="https://x.example/\\x22<script>")])
    assert rows[0]["rules"] == ["100300"]


def test_chain_needs_every_rule(crs_root):
    rows = run(
        crs_root,
        [combined("/up/shell.php?cmd=whoami"), combined("/index.html?cmd=whoami"), combined("/x.php?cmd=ls")],
    )
    assert rows[0]["rules"] == ["100400"] and rows[0]["score"] == 4
    assert rows[1]["rules"] == [] and rows[2]["rules"] == []


def test_matched_vars_chain_reads_the_value_that_matched(crs_root):
    rows = run(crs_root, [combined("/d?f=../../etc/passwd"), combined("/d?f=../../var/x&g=etc/")])
    assert rows[0]["rules"] == ["100500"] and rows[0]["score"] == 3
    assert rows[1]["rules"] == []  # etc/ is in another argument than the ../


def test_captures_feed_the_next_rule_of_the_chain(crs_root):
    rows = run(crs_root, [combined("/p?q=admin%3Droot"), combined("/p?q=guest%3Droot")])
    assert "101000" in rows[0]["rules"]
    assert "101000" not in rows[1]["rules"]


def test_a_chained_rule_without_capture_leaves_the_captures_to_the_rules_after_it(crs_root):
    """ModSecurity sets TX:0..9 only in a rule with the `capture` action (CRS 932205 tests TX:1
    in two rules in a row; ModSecurity v3 flags `utm_term=1/2 a men's` in a Referer that way)."""
    rows = run(crs_root, [combined("/r?ref=ftp:a%20b"), combined("/r?ref=ftp:ab"), combined("/r?ref=http:a%20b")])
    assert [r["rules"] for r in rows] == [["101100"], [], []]


def test_phrase_file_after_path_normalization(crs_root):
    rows = run(crs_root, [combined("/static/../etc/./shadow"), combined("/static/etc/passwd")])
    assert rows[0]["rules"] == ["100600"]
    assert rows[1]["rules"] == []


def test_paranoia_level_selects_rules_and_scores_add_up(crs_root):
    line = combined("/p?q=O%27Brien%20union%20select")
    assert run(crs_root, [line])[0]["rules"] == ["100100"]
    at_pl2 = run(crs_root, [line], paranoia=2)[0]
    assert at_pl2["rules"] == ["100100", "100700"] and at_pl2["score"] == 5 + 2


def test_exclusions_by_id_tag_and_target(crs_root):
    line = combined("/p?id=union%20select%201")
    assert run(crs_root, [line], exclusions=("100100",))[0]["rules"] == []
    assert run(crs_root, [line], exclusions=("attack-sqli",))[0]["rules"] == []
    # SecRuleUpdateTargetById 100100 "!ARGS:password" in the exception file
    assert run(crs_root, [combined("/login?password=union%20select")])[0]["rules"] == []


def test_missing_user_agent_counts_only_where_the_log_would_show_it(crs_root):
    rows = run(crs_root, [combined("/", ua="-")])
    assert rows[0]["rules"] == ["100800"] and rows[0]["score"] == 2
    common = '198.51.100.7 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 512'
    assert run(crs_root, [common], fmt="common")[0]["rules"] == []  # common logs have no UA field


def test_method_within_setup_default(crs_root):
    rows = run(crs_root, [combined("/", method="PROPFIND"), combined("/", method="POST")])
    assert rows[0]["rules"] == ["100900"]
    assert rows[1]["rules"] == []


def test_non_request_rows_get_no_score(crs_root):
    stage = CrsStage(load_crs(crs_root), CrsSettings(crs_root))
    frame = request_frame([combined("/p?id=union%20select"), "not an access line"])
    out = stage.enrich(frame)
    assert len(out) == len(frame) == 1  # the garbage line is not parsed at all
    assert out["crs.anomaly_score"].tolist() == [5]


def t(name: str, *values: str) -> list[str]:
    return T.TRANSFORMS[name](pa.array(list(values), pa.string())).to_pylist()


def test_transformations_match_modsecurity():
    assert t("urlDecodeUni", "a%20b+c", "%u003cscript", "%uff1cx", "%zz") == ["a b c", "<script", "<x", "%zz"]
    assert t("htmlEntityDecode", "&lt;a&GT; &#60;&#x3c; &quot", "a&b") == ['<a> << "', "a&b"]
    assert t("jsDecode", r"\u003cs\x3e\n\'", "plain") == ["<s>\n'", "plain"]
    assert t("cssDecode", r"\3c script", r"ja\vascript") == ["<script", "javascript"]
    assert t("cmdLine", "C^at  '/etc/pa''sswd' ;  ls ,x", 'W"h"o /') == ["cat/etc/passwd ls x", "who/"]
    assert t("normalizePath", "/a/./b/../../etc//passwd", "/x/y") == ["/etc/passwd", "/x/y"]
    assert t("normalizePathWin", r"C:\a\..\windows\win.ini") == ["C:/windows/win.ini"]
    assert t("replaceComments", "sel/*x*/ect", "un/*open") == ["sel ect", "un "]
    assert t("removeCommentsChar", "a/*b*/--c#") == ["abc"]
    assert t("compressWhitespace", "a \t\n b") == ["a b"]
    assert t("removeWhitespace", "a \t b") == ["ab"]
    assert t("removeNulls", "a\x00b") == ["ab"]
    assert t("utf8toUnicode", "a\u00e9") == ["a%u00e9"]
    assert t("base64Decode", "YWxlcnQoMSk=", "!!") == ["alert(1)", ""]
    assert t("length", "abc", "é") == ["3", "2"]
    assert t("lowercase", "ABC") == ["abc"]
    assert t("escapeSeqDecode", r"a\x41\n") == ["aA\n"]


def test_a_findings_evidence_names_the_crs_rules_also_when_scored_again(crs_root):
    """The detail comes from the stage's record of recent requests over the threshold; a line
    it no longer holds (a finding extended in a later run) is parsed and scored again."""
    from datetime import datetime, timezone

    from detector.detection.crs.evidence import EvidenceDetail
    from detector.model import Evidence, Finding

    stage = CrsStage(load_crs(crs_root), CrsSettings(crs_root))
    line = combined("/p?id=1%20union%20select%202")
    stage.enrich(request_frame([line, combined("/index.html")]))
    when = datetime(2026, 11, 21, 10, tzinfo=timezone.utc)
    evidence = Evidence(path="test.log", offset=0, line=line, timestamp=when, log_kind="access")
    finding = Finding(id="f1", scenario_id="web-crs-inbound", scenario_version="9.1.0", checklist_version="1",
                      title="CRS", severity="high", confidence=0.5, confidence_reasons=(), entity={"source.ip": "x"},
                      first_seen=when, last_seen=when, detected_at=when, count=1, log_kinds=("access",), attack=(),
                      evidence=(evidence,))  # fmt: skip
    want = [{"path": "test.log", "offset": 0, "score": 5, "rules": [
        {"id": 100100, "msg": "SQL union", "severity": "CRITICAL", "category": "sqli", "variable": "ARGS:id",
         "matched": "1 union select 2"}]}]  # fmt: skip
    assert EvidenceDetail(stage).annotate(finding).extra["crs"] == want  # from the stage's record
    stage.recent.clear()
    assert EvidenceDetail(stage).annotate(finding).extra["crs"] == want  # scored again from the line
