"""Byte-range partitions of a file (`sources/partitions.py`): read one by one, they give exactly
the batches of one local read of the whole file — the same lines, offsets, counts, batch
boundaries and checkpoint tails — wherever the cuts fall (inside a line, on a newline, inside an
over-long line, before a partial last line)."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.sources.checkpoints import Planner
from detector.sources.discovery import discover_paths
from detector.sources.partitions import PartitionReader, partitions
from detector.sources.reader import LineReader, open_log

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
MAX_LINE = 200


CHUNK = 97


def read_all(path: Path, compression: str | None = None) -> list[tuple]:
    with open_log(path, compression) as handle:
        reader = LineReader(handle, 0, chunk_size=CHUNK, max_line=MAX_LINE, final=compression is not None)
        return [_batch(b, reader.tail_hash()) for b in reader]


def _batch(b, tail_hash: str) -> tuple:
    """Everything the pipeline takes from a batch."""
    return (b.start_offset, b.end_offset, b.lines_total, b.blank, b.lines.to_pylist(), [int(o) for o in b.offsets],
            dict(b.rejected.counts), tail_hash)


def read_partitioned(path: Path, target: int) -> tuple[list[tuple], int]:
    plan = Planner([], NOW).plan(discover_paths([path]), lambda _r: True)
    parts = partitions(0, plan.reads[0], CHUNK, target)
    batches = []
    for part in parts:
        with PartitionReader(part, chunk_size=CHUNK, max_line=MAX_LINE) as reader:
            batches.extend(_batch(batch, tail_hash) for batch, tail_hash in reader)
    return batches, len(parts)


line_text = st.one_of(
    st.text(alphabet="abc xyz=\"[]", min_size=0, max_size=60),
    st.text(alphabet="q", min_size=MAX_LINE + 1, max_size=MAX_LINE + 90),  # an over-long line
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(line_text, st.sampled_from(["\n", "\r\n"])), min_size=1, max_size=60),
       partial=st.text(alphabet="pq", max_size=20), target=st.integers(min_value=1, max_value=600))
def test_partitions_read_what_one_reader_reads(tmp_path_factory, lines, partial, target) -> None:
    path = tmp_path_factory.mktemp("p") / "app.log"
    path.write_bytes(("".join(text + end for text, end in lines) + partial).encode())
    batches, count = read_partitioned(path, target)
    assert batches == read_all(path)
    if path.stat().st_size > max(target, CHUNK):
        assert count > 1


def test_a_compressed_file_is_one_partition(tmp_path) -> None:
    path = tmp_path / "app.log.1.gz"
    body = "".join(f"line {i} {'x' * (i % 50)}\n" for i in range(5000))
    path.write_bytes(gzip.compress(body.encode()))
    plan = Planner([], NOW).plan(discover_paths([path]), lambda _r: True)
    (part,) = partitions(0, plan.reads[0], 4096, target_bytes=1000)
    assert (part.compression, part.start, part.end) == ("gz", 0, None)
    with PartitionReader(part, chunk_size=4096, max_line=MAX_LINE) as reader:
        lines = [line for batch, _ in reader for line in batch.lines.to_pylist()]
    assert lines == body.splitlines()
    assert reader.end.size_now == len(body.encode())


def test_cuts_are_on_the_read_grid_from_the_checkpoint(tmp_path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"0123456789\n" * 1000)  # 11,000 bytes: 11 chunks of 1,000
    plan = Planner([], NOW).plan(discover_paths([path]), lambda _r: True)
    parts = partitions(3, plan.reads[0], 1000, target_bytes=3000)
    assert [(p.file_index, p.part, p.parts) for p in parts] == [(3, k, 4) for k in range(4)]
    assert [p.start for p in parts] == [0, 2000, 5000, 8000]  # whole chunks, spread evenly
    assert [p.end for p in parts] == [2000, 5000, 8000, None]  # the last one reads to the end
