"""Correlation state follows open groups, not lines: on a busy jump host's auth log (a quarter
of the lines are logins, every one a step of the login chains), what correlation keeps after
100k and after 200k lines is a few event references per open group, and no more at 200k."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from detector.checklist import load_checklist
from detector.config import Config
from detector.detection.engine import DetectionEngine
from detector.runs.scan import run_scan
from detector.state.correlation import state_size
from detector.state.store import Store

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import generate_logs  # noqa: E402

REFS_PER_GROUP = 8  # a few events per open group: the few a window can still use
BUCKET = timedelta(minutes=15)  # the event time one stored row of a scenario's state covers


def test_busy_auth_state_is_bounded_by_open_groups(tmp_path: Path) -> None:
    lines = list(generate_logs.generate("auth-busy", 200_000, seed=5))
    assert sum("Accepted publickey" in line for line in lines) > 40_000  # success-heavy, as generated
    log = tmp_path / "logs" / "auth.log"
    log.parent.mkdir()
    checklist = load_checklist()
    state = tmp_path / "state.db"
    config = Config(path=None, state=state, checklist=checklist.directory, escalation=None, timezone="UTC")
    sizes = []
    for part in (lines[:100_000], lines[100_000:]):
        with open(log, "a") as handle:  # the log grows; the second run resumes at its offset
            handle.writelines(part)
        with Store(state) as store:
            result = run_scan(store, config, [log.parent], datetime.now(timezone.utc), sink=DetectionEngine(checklist),
                              log=lambda _m: None)
            assert result.stats["lines_read"] == len(part)
            sizes.append(state_size(store))
    # stored rows: a summary per scenario and one per 15 minutes of what its windows still see
    most_rows = sum(
        math.ceil((s.correlation.timespan + checklist.lateness) / BUCKET) + 3 for s in checklist.scenarios if s.correlation
    )
    for size in sizes:
        assert size["state_rows"] <= most_rows, size
        assert size["held_events"] <= REFS_PER_GROUP * max(size["open_groups"], 1), size
    # twice the lines, not twice the state: what is held is what the windows still use
    assert sizes[1]["held_events"] <= 1.5 * sizes[0]["held_events"] + 100, sizes
