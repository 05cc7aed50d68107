"""Reading many files as one event-time ordered sequence: the order and watermark of
`Interleave`, and, through the real scan with the bundled checklist, that a cross-source
attack buried in a multi-batch backlog is found, with the same findings whatever the batch
size, the order of the paths and the split into cron runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from detector.config import Config
from detector.detection.engine import load_engine
from detector.runs.scan import run_scan
from detector.sources.interleave import UNKNOWN, Interleave, Step
from detector.state.store import Store

from backlogkit import ATTACKER, backlog, time_of

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


# -- the order and the watermark ---------------------------------------------------------------


def interleave(files: dict[str, list[list[int]]], peeks: dict[str, int | None], streams: dict[str, str] | None = None):
    """Files of batches of event times; what `Interleave` yields, as (file, times, watermark)."""
    names = list(files)
    streams = streams or {name: name for name in names}
    steps = Interleave(
        [streams[n] for n in names],
        open_file=lambda i: iter(files[names[i]]),
        peek=lambda i: peeks[names[i]],
        newest=lambda batch: max(batch) if batch else None,
    )
    return [(names[s.index], s.batch, s.watermark) for s in steps if s.batch is not None]


def test_the_stream_furthest_behind_is_read_next_and_the_watermark_is_the_lowest_position() -> None:
    got = interleave(
        {"auth": [[10, 20], [30, 40]], "access": [[5, 25], [26, 27], [50, 60]]},
        {"auth": 10, "access": 5},
    )
    assert got == [
        ("access", [5, 25], 10),  # auth has not started: its first line (10) holds the watermark
        ("auth", [10, 20], 20),
        ("auth", [30, 40], 25),
        ("access", [26, 27], 27),
        ("access", [50, 60], 40),  # auth's end is known only once it is asked for more
    ]


def test_generations_of_a_stream_are_read_in_order_and_unknown_times_go_first() -> None:
    got = interleave(
        {"app.log.1": [[1, 2]], "app.log": [[3, 4]], "odd.log": [[]], "web.log": [[2, 9]]},
        {"app.log.1": 1, "app.log": 3, "odd.log": None, "web.log": 2},
        streams={"app.log.1": "app", "app.log": "app", "odd.log": "odd", "web.log": "web"},
    )
    assert [name for name, _, _ in got] == ["odd.log", "app.log.1", "web.log", "app.log"]
    assert got[0][2] == UNKNOWN  # nothing is known while the file without times is read


def test_every_file_ends_once_after_its_batches() -> None:
    names = ["a", "b"]
    batches = {"a": [[1], [5]], "b": [[3]]}
    steps: list[Step] = list(
        Interleave(["a", "b"], lambda i: iter(batches[names[i]]), lambda i: batches[names[i]][0][0], max)
    )
    assert [(names[s.index], s.batch) for s in steps] == [
        ("a", [1]), ("a", [5]), ("b", [3]), ("b", None), ("a", None)
    ]


# -- through the real scan ------------------------------------------------------------------------

def scan(state: Path, paths: list[Path], chunk_size: int | None = None) -> list[tuple]:
    engine = load_engine(None)
    config = Config(path=None, state=state, checklist=None, escalation=None, timezone="UTC")
    with Store(state) as store:
        run_scan(store, config, paths, NOW, sink=engine, log=lambda _m: None, chunk_size=chunk_size)
        found = store.findings(include_exercise=True)
    return sorted((f.id, f.scenario_id, tuple(sorted(f.entity.items())), f.first_seen, f.last_seen, f.count, f.status) for f in found)


def test_a_cross_source_attack_in_a_multi_batch_backlog_is_found_whatever_the_batching(tmp_path: Path) -> None:
    paths = backlog(tmp_path)
    whole = scan(tmp_path / "whole.db", paths)
    small = scan(tmp_path / "small.db", paths, chunk_size=16 << 10)  # dozens of batches per file
    reversed_paths = scan(tmp_path / "reversed.db", list(reversed(paths)), chunk_size=16 << 10)
    chains = [f for f in whole if f[1] == "recon-then-login"]
    assert [(f[2], f[5]) for f in chains] == [((("source.ip", ATTACKER),), 7)]  # 6 scans, then the login
    assert small == whole
    assert reversed_paths == whole


def test_a_backlog_read_in_cron_runs_finds_what_one_run_finds(tmp_path: Path) -> None:
    """The same files as they grew: cut at three common times, with a scan after each piece
    is appended (as cron would see two logs written at the same time)."""
    (tmp_path / "full").mkdir()
    paths = backlog(tmp_path / "full")
    whole = scan(tmp_path / "whole.db", paths)
    live = tmp_path / "live"
    live.mkdir()
    start = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
    cuts = [start + timedelta(hours=h) for h in (2.5, 5, 7.5)] + [datetime.max.replace(tzinfo=timezone.utc)]
    contents = [p.read_text().splitlines(keepends=True) for p in paths]
    targets = [live / p.name for p in paths]
    done = [0] * len(paths)
    for cut in cuts:
        for n, (lines, target) in enumerate(zip(contents, targets)):
            end = done[n]
            while end < len(lines) and time_of(lines[end]) < cut:
                end += 1
            with target.open("a") as handle:
                handle.write("".join(lines[done[n] : end]))
            done[n] = end
        runs = scan(tmp_path / "runs.db", targets, chunk_size=64 << 10)
    assert runs == whole
