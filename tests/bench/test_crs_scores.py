"""bench/crs_scores.py, the check behind CRS speed changes: two dumps of the same engine are
identical, and a change of verdict on any line is found and named."""

from __future__ import annotations

import sys
from pathlib import Path

from crskit import combined, write_crs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import crs_scores  # noqa: E402


def test_same_engine_same_verdicts_and_a_changed_verdict_is_reported(tmp_path: Path, capsys):
    crs = write_crs(tmp_path / "crs")
    log = tmp_path / "access.log"
    log.write_text("\n".join([combined("/index.html"), combined("/p?id=1%20union%20select%20pass"),
                              "not an access line", combined("/search?q=o%27neill")]) + "\n")  # fmt: skip
    one, two, strict = tmp_path / "one.arrow", tmp_path / "two.arrow", tmp_path / "pl2.arrow"
    assert crs_scores.main(["dump", str(log), "--crs", str(crs), "--out", str(one)]) == 0
    assert crs_scores.main(["dump", str(log), "--crs", str(crs), "--out", str(two)]) == 0
    assert crs_scores.main(["compare", str(one), str(two)]) == 0
    assert "3 lines compared: identical" in capsys.readouterr().out  # the unparsed line is not a request
    # PL2 adds rule 100700 (a quote in an argument): the o'neill search, line 3, scores differently
    assert crs_scores.main(["dump", str(log), "--crs", str(crs), "--paranoia", "2", "--out", str(strict)]) == 0
    assert crs_scores.main(["compare", str(one), str(strict)]) == 1
    out = capsys.readouterr().out
    assert "line 3:" in out and "100700" in out and "1 differ" in out
