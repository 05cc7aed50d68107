"""The rule prefilter changes which rows are looked at, never a result: over batches of real
access, auth and application lines, with the SigmaHQ rules and the bundled ones, every rule
matches exactly the rows it matches when evaluated alone on the whole batch, also after broad
patterns were moved to groups of their own."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from detector.checklist import load_checklist
from detector.detection.compiler import FrameView, compile_condition, evaluate
from detector.detection.matcher import Matcher
from detector.detection.prefilter import necessary
from detector.parsing import parse_lines, sniff_format
from detector.parsing.base import ParseContext
from detector.pipeline import frame_from

ROOT = Path(__file__).resolve().parents[2]
SIGMAHQ = (ROOT.parent / "shared" / "sigma").resolve()
LOGS = [
    ROOT / "sample_logs" / "web" / "nginx" / "access.log",
    ROOT / "sample_logs" / "web" / "apache" / "access_log-20261122",
    ROOT / "sample_logs" / "infra" / "auth.log",
    ROOT / "sample_logs" / "app" / "shop-api.jsonl",
]


def frames(path: Path, size: int = 120):
    lines = path.read_text(encoding="utf-8").splitlines()
    fmt = sniff_format(lines[:50])
    ctx = ParseContext(path=str(path), timezone="UTC", file_mtime=datetime(2026, 11, 30, tzinfo=timezone.utc))
    for start in range(0, len(lines), size):
        batch = pa.array(lines[start:start + size], pa.string())
        result = parse_lines(batch, fmt, ctx)
        offsets = pa.array(np.arange(len(batch), dtype=np.int64))
        yield frame_from(result.table, batch, offsets, result.parsed_index, str(path))


@pytest.mark.parametrize("with_sigma", [False, True])
def test_prefiltered_matching_equals_evaluating_every_rule_on_every_row(with_sigma):
    if with_sigma and not SIGMAHQ.is_dir():
        pytest.skip(f"SigmaHQ subset not found at {SIGMAHQ}")
    checklist = load_checklist(None, [SIGMAHQ] if with_sigma else [])
    matcher = Matcher(checklist)
    groups_before = len(matcher.prefilter.groups)
    matched_rows = 0
    for path in LOGS:
        for frame in frames(path):
            got = matcher.match(frame)
            view = FrameView(frame)
            expected = {}
            for rule in matcher.rules:
                rows = np.flatnonzero(evaluate(rule.expr, view))
                if len(rows):
                    expected[rule.key] = rows
            assert got.keys() == expected.keys()
            for key, rows in expected.items():
                assert np.array_equal(got[key], rows), key
            matched_rows += sum(len(r) for r in got.values())
    assert matched_rows > 100
    if with_sigma:  # broad patterns (e.g. `/images/`) were isolated along the way
        assert len(matcher.prefilter.groups) > groups_before


def test_necessary_condition_of_and_or_not():
    """AND needs its most selective parts, OR all of its parts, NOT nothing; log kinds carry."""
    from sigma.rule import SigmaDetections

    def expr(detection):
        parsed = SigmaDetections.from_dict(detection)
        return compile_condition(parsed.parsed_condition[0].parsed)

    need = necessary(expr({"a": {"url.original|contains|all": ["/", "/WP-login.php"]}, "condition": "a"}))
    assert [[p[1] for p in clause] for clause in need.clauses] == [[re.escape("/wp-login.php")], ["/"]]  # lower-cased
    need = necessary(expr({"a": {"log.kind": "access", "url.path|endswith": [".env", ".git"]}, "condition": "a"}))
    assert need.kinds == frozenset({"access"}) and len(need.clauses[0]) == 2
    assert necessary(expr({"a": {"url.path": "/x"}, "b": {"url.query": "y"}, "condition": "not a and not b"})) is None
    agents = necessary(expr({"a": {"user_agent.original": ["sqlmap", "Nikto", "curl"]}, "condition": "a"}))
    ((probe,),) = agents.clauses  # the list became one set-membership test, run as the probe
    assert probe[0] == "user_agent.original" and probe[3].key[:3] == ("in", "user_agent.original", ("curl", "nikto", "sqlmap"))
