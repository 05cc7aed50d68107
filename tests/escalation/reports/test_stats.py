"""Duration statistics: n, median, p90 (linear between closest ranks) and mean, split by class of day."""

from __future__ import annotations

from escalation.reports.stats import share, split_summaries, summarize


def test_summary_of_hand_computed_values() -> None:
    # sorted 30, 60, 120, 300, 300: median the middle one; p90 at rank 0.9 * 4 = 3.6 -> 300 + 0.6 * 0
    summary = summarize([300, 60, 120, 30, 300])
    assert (summary.n, summary.median, summary.p90, summary.mean) == (5, 120.0, 300.0, 162.0)


def test_p90_interpolates_between_ranks() -> None:
    # rank 0.9 * 3 = 2.7 between 16500 and 195570: 16500 + 0.7 * 179070 = 141849
    assert summarize([480, 2100, 16500, 195570]).p90 == 141849.0
    assert summarize([480, 2100, 16500, 195570]).median == 9300.0  # mean of the two middle values


def test_one_value_and_no_value() -> None:
    assert summarize([42]).to_dict() == {"n": 1, "median": 42.0, "p90": 42.0, "mean": 42.0}
    assert summarize([]).to_dict() == {"n": 0, "median": None, "p90": None, "mean": None}


def test_split_by_day_class_skips_missing_durations() -> None:
    result = split_summaries([("business", 120), ("after_hours", 300), ("business", None), ("holiday", 60),
                              ("business", 300)])
    assert result["all"]["n"] == 4
    assert result["business"] == {"n": 2, "median": 210.0, "p90": 282.0, "mean": 210.0}  # 120 + 0.9 * 180
    assert result["after_hours"]["median"] == 300.0
    assert result["holiday"]["n"] == 1


def test_share_has_no_value_without_a_whole() -> None:
    assert share(2, 3) == 0.6667
    assert share(0, 0) is None
