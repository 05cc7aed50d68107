"""The CRS stage scoring in a process of its own (worker.py): the same columns as in process, for
batches handed over early (`begin`) or not, from two threads; a dead process loses nothing."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from crskit import combined, request_frame, write_crs
from detector.checklist.crs import load_crs
from detector.config import CrsSettings
from detector.detection.crs.stage import FIELDS, CrsStage

TARGETS = ["/search?q=union+select+1", "/shell.php?cmd=id", "/p?a=../../etc/passwd", "/static/app.js?v=4",
           "/search?q=o%27neill&x=1", "/api/items?id=7", "/download?f=/etc/shadow", "/?x=admin=admin"]  # fmt: skip
AGENTS = ["sqlmap/1.7", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "-"]
REFERERS = ["-", "https://shop.example/?q=%3Cscript%3Ealert(1)", "https://www.example.com/"]


def _frames(batches: int = 6, size: int = 40) -> list[pd.DataFrame]:
    frames = []
    for b in range(batches):
        lines = [
            combined(TARGETS[(b + i) % len(TARGETS)] + f"&n={b}-{i % 7}", ua=AGENTS[(b * i) % len(AGENTS)],
                     referer=REFERERS[i % len(REFERERS)], method="PUT" if i % 11 == 0 else "GET")
            for i in range(size)
        ]  # fmt: skip
        frames.append(request_frame(lines, "combined"))
    return frames


@pytest.fixture
def stages(tmp_path: Path):
    root = write_crs(tmp_path / "crs")
    settings = CrsSettings(root, paranoia=2)
    ruleset = load_crs(root)
    local, remote = CrsStage(ruleset, settings), CrsStage(ruleset, settings)
    remote.start_process()
    yield local, remote
    remote.close()


def _columns(frame: pd.DataFrame) -> list[list]:
    return [frame[name].tolist() for name in FIELDS]


def test_the_process_scores_every_batch_as_the_stage_does_in_process(stages):
    local, remote = stages
    frames = _frames()
    want = [_columns(local.enrich(frame)) for frame in frames]
    assert any(score and score >= 5 for batch in want for score in batch[0])  # attacks are in there
    for frame in frames[::2]:
        remote.begin(frame)  # handed over early, collected later, out of order with the others
    got = [_columns(remote.enrich(frame)) for frame in frames]
    assert got == want
    assert remote.fallback is None
    assert local.recent.keys() == remote.recent.keys()  # evidence detail kept in the parent


def test_two_threads_collect_their_own_batches(stages):
    local, remote = stages
    frames = _frames(batches=10)
    want = [_columns(local.enrich(frame)) for frame in frames]
    for frame in frames:
        remote.begin(frame)
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda frame: _columns(remote.enrich(frame)), frames[::-1]))
    assert got == want[::-1]


def test_a_killed_process_loses_no_batch(stages):
    local, remote = stages
    frames = _frames()
    want = [_columns(local.enrich(frame)) for frame in frames]
    assert _columns(remote.enrich(frames[0])) == want[0]
    remote.begin(frames[1])
    os.kill(remote._process._process.pid, signal.SIGKILL)  # noqa: SLF001 (the child, on purpose)
    got = [_columns(remote.enrich(frame)) for frame in frames[1:]]
    assert got == want[1:]
    assert "exit code" in (remote.fallback or "") or "exited" in (remote.fallback or "")
