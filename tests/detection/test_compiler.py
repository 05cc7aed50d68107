"""Sigma semantics of the vectorized compiler, checked value by value against Sigma's documented
behaviour, plus the combined prefilter (must never change a result) and RE2's linear time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaDetections

from detection.builders import column, frame, scenario_doc, write_checklist
from detector.checklist import load_checklist
from detector.detection.compiler import (
    Alternation,
    FrameView,
    apply_prefilters,
    combined_prefilters,
    compile_condition,
    evaluate,
    leaves,
)
from detector.detection.matcher import Matcher
from detector.errors import RuleError


def compile_rule(detection: dict[str, Any]):
    parsed = SigmaDetections.from_dict(detection)
    exprs = [compile_condition(c.parsed) for c in parsed.parsed_condition]
    return exprs[0] if len(exprs) == 1 else ("or", exprs)


def hits(detection: dict[str, Any], data: pd.DataFrame, prefilter: bool = True) -> list[bool]:
    """Mask of the detection over `data`, with every pattern field behind a prefilter."""
    expr = compile_rule(detection)
    view = FrameView(data)
    if prefilter:
        apply_prefilters(view, combined_prefilters(leaves(expr), minimum=1))
    return evaluate(expr, view).tolist()


def sel(key: str, value: Any, condition: str = "selection") -> dict[str, Any]:
    """A detection with one selection of one `field|modifiers: value` item."""
    return {"selection": {key: value}, "condition": condition}


# -- plain values, wildcards, lists ------------------------------------------------------------


def test_plain_value_is_a_case_insensitive_exact_match() -> None:
    data = column("process.name", ["sshd", "SSHD", "SsHd", "sshd2", "xsshd", "", None])
    assert hits({"s": {"process.name": "sshd"}, "condition": "s"}, data) == [True, True, True, False, False, False, False]


def test_plain_value_matches_the_same_unicode_text_in_any_case() -> None:
    data = column("user.name", ["İstanbul", "ÉLODIE", "élodie", "elodie"])
    assert hits({"s": {"user.name": "İstanbul"}, "condition": "s"}, data) == [True, False, False, False]
    assert hits({"s": {"user.name": "Élodie"}, "condition": "s"}, data) == [False, True, True, False]


def test_star_wildcard_matches_any_run_of_characters_including_none_and_newlines() -> None:
    data = column("url.path", ["/admin/", "/ADMIN/users", "/admin", "/x/admin/y", "/admin/\nx"])
    assert hits({"s": {"url.path": "/admin/*"}, "condition": "s"}, data) == [True, True, False, False, True]
    data = column("message", ["foo\nbar", "foobar", "xfoo\nybarz", "bar foo"])
    assert hits({"s": {"message": "*foo*bar*"}, "condition": "s"}, data) == [True, True, True, False]


def test_question_mark_matches_exactly_one_character() -> None:
    data = column("user.name", ["root", "rOOt", "rot", "roooot", "ro\nt"])
    assert hits({"s": {"user.name": "ro?t"}, "condition": "s"}, data) == [True, True, False, False, True]


def test_escaped_wildcards_are_literal() -> None:
    data = column("message", ["a*b", "A*B", "axb", "ab", "a?b"])
    assert hits({"s": {"message": "a\\*b"}, "condition": "s"}, data) == [True, True, False, False, False]
    assert hits({"s": {"message": "a\\?b"}, "condition": "s"}, data) == [False, False, False, False, True]


def test_regex_metacharacters_in_plain_values_are_literal() -> None:
    data = column("url.query", ["id=1.0(x)|[y]+$", "id=100xy", "ID=1.0(X)|[Y]+$"])
    rule = {"s": {"url.query": "id=1.0(x)|[y]+$"}, "condition": "s"}
    assert hits(rule, data) == [True, False, True]
    rule = {"s": {"url.query|contains": ".0(x)|["}, "condition": "s"}
    assert hits(rule, data) == [True, False, True]


def test_a_list_of_values_is_an_or() -> None:
    data = column("process.name", ["sshd", "dropbear", "telnetd", None])
    assert hits({"s": {"process.name": ["sshd", "dropbear"]}, "condition": "s"}, data) == [True, True, False, False]


def test_all_modifier_makes_a_list_an_and() -> None:
    data = column("message", ["foo bar", "foo", "bar then foo", "FOO BAR", None])
    rule = {"s": {"message|contains|all": ["foo", "bar"]}, "condition": "s"}
    assert hits(rule, data) == [True, False, True, True, False]
    assert hits({"s": {"message|contains": ["foo", "bar"]}, "condition": "s"}, data) == [True, True, True, True, False]


def test_fields_of_one_selection_are_anded() -> None:
    data = frame(
        [
            {"process.name": "sshd", "event.outcome": "failure"},
            {"process.name": "sshd", "event.outcome": "success"},
            {"process.name": "cron", "event.outcome": "failure"},
        ]
    )
    rule = {"s": {"process.name": "sshd", "event.outcome": "failure"}, "condition": "s"}
    assert hits(rule, data) == [True, False, False]


# -- string modifiers --------------------------------------------------------------------------


def test_contains_startswith_endswith_are_case_insensitive() -> None:
    data = column("url.original", ["/wp-login.php?x=1", "/WP-LOGIN.PHP", "/blog/wp-login.php", "/login", None])
    assert hits(sel("url.original|contains", "wp-login"), data) == [True, True, True, False, False]
    assert hits(sel("url.original|startswith", "/wp-"), data) == [True, True, False, False, False]
    assert hits(sel("url.original|endswith", ".php"), data) == [False, True, True, False, False]


def test_startswith_and_endswith_anchor_at_the_ends_of_the_whole_value() -> None:
    data = column("message", ["ab\ncd", "x\nab", "cd\n", "abcd"])
    assert hits(sel("message|startswith", "ab"), data) == [True, False, False, True]
    assert hits(sel("message|endswith", "cd"), data) == [True, False, False, True]


def test_cased_modifier_makes_matching_case_sensitive() -> None:
    data = column("user.name", ["Root", "root", "ROOT", "xRootx"])
    assert hits(sel("user.name|cased", "Root"), data) == [True, False, False, False]
    assert hits(sel("user.name|contains|cased", "Root"), data) == [True, False, False, True]
    assert hits(sel("user.name|contains", "Root"), data) == [True, True, True, True]


# -- regular expressions -----------------------------------------------------------------------


def test_re_is_an_unanchored_case_sensitive_search_by_default() -> None:
    data = column("message", ["Failed password", "failed password", "auth Failure here", "ok"])
    assert hits(sel("message|re", "Fail(ed|ure)"), data) == [True, False, True, False]


def test_re_with_i_flag_ignores_case() -> None:
    data = column("message", ["Failed password", "failed password", "FAILURE", "ok"])
    assert hits(sel("message|re|i", "fail(ed|ure)"), data) == [True, True, True, False]


def test_re_s_flag_lets_dot_match_newlines() -> None:
    data = column("message", ["a\nb", "axb"])
    assert hits(sel("message|re", "^a.b$"), data) == [False, True]
    assert hits(sel("message|re|s", "^a.b$"), data) == [True, True]


def test_re_m_flag_anchors_at_line_boundaries() -> None:
    data = column("message", ["x\nroot\ny", "root", "xroot"])
    assert hits(sel("message|re", "^root$"), data) == [False, True, False]
    assert hits(sel("message|re|m", "^root$"), data) == [True, True, False]


def test_re_uses_re2_syntax() -> None:
    # POSIX classes inside brackets are RE2 (in Python's `re` this would be the set "[:digt").
    data = column("message", ["12345", "abc", ":::", "12a"])
    assert hits(sel("message|re", "^[[:digit:]]+$"), data) == [True, False, False, False]


def test_re_on_an_integer_column_matches_its_decimal_text() -> None:
    data = column("http.response.status_code", [500, 503, 404, None])
    assert hits(sel("http.response.status_code|re", "^5[0-9]{2}$"), data) == [True, True, False, False]


# -- cidr --------------------------------------------------------------------------------------


def test_cidr_ipv4_boundaries() -> None:
    data = column(
        "source.ip",
        ["10.0.0.0", "10.0.0.1", "10.0.0.127", "10.0.0.128", "10.0.0.150", "9.255.255.255", "10.0.1.0", None],
    )
    assert hits(sel("source.ip|cidr", "10.0.0.0/25"), data) == [True, True, True, False, False, False, False, False]


def test_cidr_ipv4_octet_aligned_networks() -> None:
    data = column("source.ip", ["10.0.0.1", "10.255.255.255", "100.0.0.1", "11.0.0.0", "192.168.1.255", "192.168.2.0"])
    assert hits(sel("source.ip|cidr", "10.0.0.0/8"), data) == [True, True, False, False, False, False]
    assert hits(sel("source.ip|cidr", "192.168.0.0/23"), data) == [False, False, False, False, True, False]


def test_cidr_single_address_network_matches_only_that_address() -> None:
    data = column("source.ip", ["1.2.3.4", "1.2.3.40", "1.2.3.45", "11.2.3.4"])
    assert hits(sel("source.ip|cidr", "1.2.3.4/32"), data) == [True, False, False, False]


def test_cidr_list_is_an_or() -> None:
    data = column("source.ip", ["10.1.1.1", "172.16.0.1", "172.32.0.1", "8.8.8.8"])
    rule = sel("source.ip|cidr", ["10.0.0.0/8", "172.16.0.0/12"])
    assert hits(rule, data) == [True, True, False, False]


def test_cidr_ipv6() -> None:
    data = column(
        "source.ip",
        [
            "2001:db8::1",
            "2001:DB8::1",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::1",
            "2001:db80::1",
            "10.0.0.1",
        ],
    )
    assert hits(sel("source.ip|cidr", "2001:db8::/32"), data) == [True, True, True, False, False, False]
    data = column("source.ip", ["2001:db8:1::5", "2001:db8:1:ffff::1", "2001:db8:2::1", "2001:db8:10::1"])
    assert hits(sel("source.ip|cidr", "2001:db8:1::/48"), data) == [True, True, False, False]
    data = column("source.ip", ["::1", "::10", "::1a", "::2"])
    assert hits(sel("source.ip|cidr", "::1/128"), data) == [True, False, False, False]


# -- exists, null, comparisons, numbers, booleans ----------------------------------------------


def test_exists_true_and_false() -> None:
    data = column("user.name", ["root", "", None])
    assert hits(sel("user.name|exists", True), data) == [True, True, False]
    assert hits(sel("user.name|exists", False), data) == [False, False, True]
    missing = column("message", ["x", None])
    assert hits(sel("user.name|exists", True), missing) == [False, False]
    assert hits(sel("user.name|exists", False), missing) == [True, True]


def test_null_value_matches_missing_values_and_missing_columns() -> None:
    data = column("user.name", ["root", "", None])
    assert hits({"s": {"user.name": None}, "condition": "s"}, data) == [False, False, True]
    missing = column("message", ["x", None])
    assert hits({"s": {"user.name": None}, "condition": "s"}, missing) == [True, True]


def test_comparisons_on_an_integer_column() -> None:
    data = column("http.response.status_code", [499, 500, 503, None])
    field = "http.response.status_code"
    assert hits({"s": {f"{field}|gt": 500}, "condition": "s"}, data) == [False, False, True, False]
    assert hits({"s": {f"{field}|gte": 500}, "condition": "s"}, data) == [False, True, True, False]
    assert hits({"s": {f"{field}|lt": 500}, "condition": "s"}, data) == [True, False, False, False]
    assert hits({"s": {f"{field}|lte": 500}, "condition": "s"}, data) == [True, True, False, False]


def test_comparisons_on_numeric_strings_never_match_non_numbers() -> None:
    data = column("message", ["6", "5", "4.5", "-10", "abc", "", "5 apples", None])
    assert hits(sel("message|gt", 5), data) == [True, False, False, False, False, False, False, False]
    assert hits(sel("message|lte", 5), data) == [False, True, True, True, False, False, False, False]


def test_number_value_on_integer_and_string_columns() -> None:
    data = column("http.response.status_code", [404, 4040, 40, None])
    assert hits({"s": {"http.response.status_code": 404}, "condition": "s"}, data) == [True, False, False, False]
    # a quoted number is a string: compared with the column's decimal text
    assert hits({"s": {"http.response.status_code": "404"}, "condition": "s"}, data) == [True, False, False, False]
    text = column("message", ["404", "4040", " 404", None])
    assert hits({"s": {"message": 404}, "condition": "s"}, text) == [True, False, False, False]


def test_boolean_values_on_text_and_boolean_columns() -> None:
    text = column("ok", ["true", "True", "false", "yes", None])
    assert hits({"s": {"ok": True}, "condition": "s"}, text) == [True, True, False, False, False]
    assert hits({"s": {"ok": False}, "condition": "s"}, text) == [False, False, True, False, False]
    booleans = pd.DataFrame({"ok": pd.Series(pa.array([True, False, None]), dtype=pd.ArrowDtype(pa.bool_()))})
    assert hits({"s": {"ok": True}, "condition": "s"}, booleans) == [True, False, False]
    assert hits({"s": {"ok": False}, "condition": "s"}, booleans) == [False, True, False]


# -- keywords ----------------------------------------------------------------------------------


def test_keywords_search_the_raw_line_case_insensitively() -> None:
    data = column(
        "log.original",
        ["sshd[1]: Failed password for root", "FAILED PASSWORD", "Accepted publickey", "Invalid user x", None],
    )
    rule = {"keywords": ["failed password", "Invalid user"], "condition": "keywords"}
    assert hits(rule, data) == [True, True, False, True, False]


def test_keywords_with_wildcards_search_anywhere_in_the_line() -> None:
    data = column("log.original", ["sshd: Failed password for root from x", "Failed for rooty", "Failed password", "x"])
    rule = {"keywords": ["Failed*root"], "condition": "keywords"}
    assert hits(rule, data) == [True, True, False, False]


def test_keywords_numbers_and_backslashes() -> None:
    data = column("log.original", ['"GET / HTTP/1.1" 404 12', "4 0 4", "open \\\\srv\\share", "open \\srv\\share"])
    assert hits({"keywords": [404], "condition": "keywords"}, data) == [True, False, False, False]
    # Sigma: `\\` is one escaped backslash, so this keyword is two backslashes then srv
    assert hits({"keywords": ["\\\\\\\\srv"], "condition": "keywords"}, data) == [False, False, True, False]


def test_keywords_and_field_selections_combine() -> None:
    data = frame(
        [
            {"log.original": "Failed password for root", "host.name": "bastion"},
            {"log.original": "Failed password for root", "host.name": "web"},
            {"log.original": "Accepted", "host.name": "bastion"},
        ]
    )
    rule = {"keywords": ["failed password"], "host": {"host.name": "bastion"}, "condition": "keywords and host"}
    assert hits(rule, data) == [True, False, False]


# -- missing columns and nulls -----------------------------------------------------------------


def test_missing_columns_match_nothing_and_satisfy_not() -> None:
    data = column("message", ["a", "b"])
    for rule in (
        sel("user.name", "root"),
        sel("user.name|contains", "r"),
        sel("user.name|re", "."),
        sel("source.ip|cidr", "0.0.0.0/1"),
        sel("source.port|gt", 1),
        sel("source.port", 22),
    ):
        assert hits(rule, data) == [False, False]
        assert hits({**rule, "condition": "not selection"}, data) == [True, True]


def test_nulls_never_match_a_positive_test_but_satisfy_not() -> None:
    data = column("user.name", [None, "root", "alice"])
    assert hits(sel("user.name", "root"), data) == [False, True, False]
    assert hits(sel("user.name", "root", "not selection"), data) == [True, False, True]
    assert hits(sel("user.name|contains", "o", "not selection"), data) == [True, False, True]


# -- condition grammar -------------------------------------------------------------------------


@pytest.fixture
def grid() -> pd.DataFrame:
    """All combinations of three independent tests a, b, c (row i has bit k set if test k holds)."""
    rows = []
    for i in range(8):
        rows.append(
            {
                "user.name": "alice" if i & 1 else "bob",
                "host.name": "web" if i & 2 else "db",
                "process.name": "sshd" if i & 4 else "cron",
            }
        )
    return frame(rows)


SELS = {
    "sel_a": {"user.name": "alice"},
    "sel_b": {"host.name": "web"},
    "filter_c": {"process.name": "sshd"},
}


def bits(predicate) -> list[bool]:
    return [bool(predicate(i & 1, i & 2, i & 4)) for i in range(8)]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("sel_a and sel_b", lambda a, b, c: a and b),
        ("sel_a or sel_b", lambda a, b, c: a or b),
        ("not sel_a", lambda a, b, c: not a),
        ("sel_a and not filter_c", lambda a, b, c: a and not c),
        ("(sel_a or sel_b) and not filter_c", lambda a, b, c: (a or b) and not c),
        ("sel_a or sel_b and filter_c", lambda a, b, c: a or (b and c)),
        ("not (sel_a or filter_c)", lambda a, b, c: not (a or c)),
        ("1 of sel*", lambda a, b, c: a or b),
        ("all of sel*", lambda a, b, c: a and b),
        ("1 of sel* and not 1 of filter*", lambda a, b, c: (a or b) and not c),
        ("1 of them", lambda a, b, c: a or b or c),
        ("all of them", lambda a, b, c: a and b and c),
    ],
)
def test_condition_grammar(grid: pd.DataFrame, condition: str, expected) -> None:
    assert hits({**SELS, "condition": condition}, grid) == bits(expected)


def test_a_list_of_maps_is_an_or_of_the_maps(grid: pd.DataFrame) -> None:
    rule = {"s": [{"user.name": "alice", "host.name": "web"}, {"process.name": "sshd"}], "condition": "s"}
    assert hits(rule, grid) == bits(lambda a, b, c: (a and b) or c)


def test_a_list_of_conditions_is_an_or(grid: pd.DataFrame) -> None:
    rule = {**SELS, "condition": ["sel_a and sel_b", "filter_c"]}
    assert hits(rule, grid) == bits(lambda a, b, c: (a and b) or c)


# -- the combined prefilter never changes a result ---------------------------------------------

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=".*?+()[]{}|^$\\-/#&~ \t\n\r\x00AaBbİıßé😀:", max_size=30),
    st.sampled_from(["", "\n", "\\", "a*b", "a?b", "A*B", "foo\nbar", "(?i)x", "\\Q", "İ", "ǅ", "\ufeff"]),
)

PREFILTER_RULE = {
    "plain": {"message": ["alpha", "a*b", "x?y"]},
    "ends": {"message|endswith": [".php", "$(", "\\"]},
    "starts": {"message|startswith": ["/wp-", "(?i)", "\n"]},
    "has": {"message|contains": ["foo", "*", "İ", "[", "\t"]},
    "wild": {"message": ["*a?b*", "*foo*bar*", "x*"]},
    "cased": {"message|contains|cased": ["Foo", "ß"]},
    "rx": {"message|re": ["^[[:alpha:]]+$", "(a|aa)+b", "\\d{3}"]},
    "rxi": {"message|re|i": ["^fo+$", "é"]},
    "rxm": {"message|re|m": ["^bar$"]},
    "condition": "1 of them",
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(st.none(), HOSTILE, st.builds(lambda a, b: a + b, HOSTILE, HOSTILE)), min_size=1, max_size=25))
def test_prefilter_gives_exactly_the_masks_of_evaluating_without_it(values: list[str | None]) -> None:
    data = column("message", values)
    for name, body in PREFILTER_RULE.items():
        if name == "condition":
            continue
        rule = {"s": body, "condition": "s"}
        assert hits(rule, data, prefilter=True) == hits(rule, data, prefilter=False), name
    assert hits(PREFILTER_RULE, data, prefilter=True) == hits(PREFILTER_RULE, data, prefilter=False)


REPEATED = st.sampled_from(
    [None, "", "alpha", "ALPHA", "Alpha", "a*b", "A*B", "foo\nbar", "FOO", "x.php", "X.PHP", "/wp-a", "İ", "i̇", "ß", "SS"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(REPEATED, HOSTILE), min_size=1, max_size=40), data=st.data())
def test_tests_on_distinct_values_give_every_row_its_own_result(values: list[str | None], data: Any) -> None:
    """Leaves test each distinct value of a column once and give the result back to its rows
    (the lower-cased values may repeat: `ALPHA` and `alpha`): the same masks as testing every
    row, for the whole batch and for a view of some of its rows, whether or not the batch's
    values were encoded before the view was made."""
    table = column("message", values)
    expr = compile_rule(PREFILTER_RULE)
    rowwise = hits(PREFILTER_RULE, table, prefilter=True)  # the candidate rows' own text, row by row
    whole = evaluate(expr, FrameView(table))
    assert whole.tolist() == rowwise
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, len(values) - 1)))), dtype=np.int64)
    fresh = FrameView(table).subset(rows)  # few rows, nothing encoded: tested row by row
    encoded = FrameView(table)
    evaluate(expr, encoded)
    for view in (fresh, encoded.subset(rows), encoded.subset(np.arange(len(values))).subset(rows)):
        assert evaluate(expr, view).tolist() == whole[rows].tolist()


MIXED_LIST = {
    "s": {"message|contains": ["foo", "*", "İ", "[", "\t", "ß", "a?b"]},
    "e": {"message|endswith": [".php", "$(", "\\"]},
    "w": {"message": ["*a?b*", "*foo*bar*", "x*", "/wp-*"]},
    "c": {"message|contains|cased": ["Foo", "ß", "İ"]},
    "r": {"message|re": ["^[[:alpha:]]+$", "(a|aa)+b", "\\d{3}", "(?i)^fo+$", "^bar$"]},
    "condition": "1 of them",
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(st.none(), HOSTILE, st.builds(lambda a, b: a + b, HOSTILE, HOSTILE)), min_size=1, max_size=25))
def test_a_list_of_patterns_searched_as_one_alternation_matches_exactly_its_values(values: list[str | None]) -> None:
    """A list of `contains`/`endswith`/wildcard/`re` values of one field is one test whose
    alternation screens the values: the same rows as testing each value on its own."""
    data = column("message", values)
    for name, body in MIXED_LIST.items():
        if name == "condition":
            continue
        expr = compile_rule({"s": body, "condition": "s"})
        merged = [leaf for leaf in _tree_leaves(expr) if leaf.parts]
        assert len(merged) == 1, name
        one_by_one = np.logical_or.reduce([part.evaluate(FrameView(data)) for part in merged[0].parts])
        assert evaluate(expr, FrameView(data)).tolist() == one_by_one.tolist(), name


def _tree_leaves(expr: Any) -> list[Any]:
    if not isinstance(expr, tuple):
        return [expr]
    children = [expr[1]] if expr[0] == "not" else expr[1]
    return [leaf for child in children for leaf in _tree_leaves(child)]


def test_an_alternation_compiled_once_matches_like_the_kernel_and_never_a_null() -> None:
    values = pa.array(["a", None, "", "xx", "Foo\nbar", "İ"], pa.string())
    for pattern in ("x*|^$", "(?i:foo)", "(?s)^.*bar$", "(?i:i̇)|ß"):
        compiled = Alternation(pattern)
        for _ in range(2):  # the second search reuses the compiled pattern
            assert compiled.search(values).tolist() == [
                bool(found) for found in pc.match_substring_regex(values, pattern).fill_null(False).to_pylist()
            ], pattern
    assert Alternation("(?:[a-z]{1,1000}){1,1000}|x").search(values) is None  # beyond RE2's budget: told, not raised


def test_prefilter_combines_every_pattern_of_a_field() -> None:
    expr = compile_rule(PREFILTER_RULE)
    prefilters = combined_prefilters(leaves(expr))
    assert list(prefilters) == ["message"]
    # every value but the plain "alpha" (an equality test, cheap without a prefilter) is a pattern
    pattern_leaves = {leaf.key: leaf for leaf in leaves(expr) if leaf.pattern is not None}
    assert len(pattern_leaves) == 24
    assert all(leaf.pattern in prefilters["message"] for leaf in pattern_leaves.values())
    # with one pattern per field there is nothing to combine
    assert combined_prefilters(leaves(compile_rule(sel("message|contains", "x")))) == {}


# -- through the loader and the matcher: RE2's linear time, RE2-only patterns ------------------


def _regex_checklist(root: Path, patterns: list[str]) -> Path:
    rule = {"detection": {"selection": {"message|re": patterns}, "condition": "selection"}}
    return write_checklist(root, [scenario_doc("redos", rules={"redos-rule": rule})])


def test_nested_quantifiers_run_in_linear_time_and_do_not_match(tmp_path: Path) -> None:
    checklist = load_checklist(_regex_checklist(tmp_path, ["(a+)+$", "(a|aa)+b", "^(a|a?)+$"]))
    matcher = Matcher(checklist)
    hostile = "a" * 50_000 + "!"
    data = column("message", [hostile, hostile + "\n" + hostile, "aaab", "zzz"])
    assert {k: v.tolist() for k, v in matcher.match(data).items()} == {"redos/redos-rule": [2]}


@pytest.mark.parametrize(
    ("pattern", "complaint"),
    [("(?=x)foo", "invalid perl operator: (?="), ("(a)\\1", "invalid escape sequence: \\1"), ("(?<!a)b", "invalid perl operator: (?<!")],
)
def test_patterns_re2_cannot_compile_are_rejected_at_load(tmp_path: Path, pattern: str, complaint: str) -> None:
    rules = _regex_checklist(tmp_path, ["^fine$", pattern])
    path = rules / "scenarios" / "redos.yaml"
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "message|re:" in text)
    with pytest.raises(RuleError) as caught:
        load_checklist(rules)
    assert caught.value.problems == [
        f"{path}:{line}: rule 'redos-rule': regular expression {pattern!r} is not valid RE2 ({complaint}); "
        "RE2 has no lookarounds or backreferences"
    ]
