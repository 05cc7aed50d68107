"""`scan --engine dask`: the same scan with reading, parsing and rule matching on a Dask cluster.

What runs where (docs/distributed.md):
- the client (this process) plans the run exactly as the local engine does (checkpoints,
  rotations, gaps), cuts the new bytes into partitions (`sources/partitions.py`) and submits
  one task per partition, in the order their events are likely to be needed;
- each worker reads its partition with fsspec, parses it and evaluates the rules with the
  library (`runs/partition_scan.py`), and returns the matched rows as Arrow tables with the
  counts and samples of the rest;
- the client hands those batches to `pipeline.Ingest` as a `BatchSource`: the same event-time
  interleaving, watermark, checkpoint bookkeeping and detection sink as a local scan, so the
  findings are the same. The whole run is one SQLite transaction: a client that dies leaves the
  state as it was; a worker that dies has its partitions run again by Dask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from detector.config import Config, EngineSpec
from detector.detection.batch import BatchSink
from detector.errors import EngineError, SourceReadError
from detector.parsing import sniff_format
from detector.parsing.base import ParseContext
from detector.pipeline import SNIFF_LINES, FileEnd, ParsedBatch, RunResult
from detector.runs.partition_scan import PartitionResult, scan_partition
from detector.runs.scan import run_scan
from detector.sources.checkpoints import Assignment
from detector.sources.partitions import Partition, PartitionReader, partitions
from detector.sources.peek import peek_event_time
from detector.sources.reader import DEFAULT_CHUNK, DEFAULT_MAX_LINE, READ_ERRORS
from detector.state.store import Store
from detector.textsafe import terminal_safe

Log = Callable[[str], None]
WAIT_FOR_WORKERS = 30.0  # seconds a scheduler without workers is given before the run gives up


@contextlib.contextmanager
def connect(spec: EngineSpec, log: Log) -> Iterator[Any]:
    """A Dask client: of the scheduler at `spec.scheduler`, or of a LocalCluster of
    `spec.workers` processes (one per core by default) on 127.0.0.1 for this run."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise EngineError("--engine dask needs Dask: pip install 'logwarden[dask]'") from None
    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise EngineError(f"cannot reach the Dask scheduler at {spec.scheduler}: {exc}") from None
        with client:
            try:
                client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
            except TimeoutError:
                raise EngineError(f"the Dask scheduler at {spec.scheduler} has no workers (waited "
                                  f"{WAIT_FOR_WORKERS:.0f} s); start them with `dask worker {spec.scheduler}`") from None
            _announce(client, log)
            yield client
        return
    workers = spec.workers or os.cpu_count() or 1
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
    ) as cluster, Client(cluster, set_as_default=False) as client:
        _announce(client, log)
        yield client


def _announce(client: Any, log: Log) -> None:
    workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
    log(f"dask: scheduler {client.scheduler.address}, {workers} worker(s), dashboard {client.dashboard_link}")


@dataclass
class Progress:
    """Partitions done, on stderr: at most one line every `interval` seconds, and the last."""

    log: Log
    total: int = 0
    done: int = 0
    interval: float = 2.0
    started: float = field(default_factory=time.monotonic)
    _printed: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def finished(self, _future: Any = None) -> None:
        with self._lock:
            self.done += 1
            now = time.monotonic()
            if self.done < self.total and now - self._printed < self.interval:
                return
            self._printed = now
            self.log(f"dask: {self.done}/{self.total} partitions done, {now - self.started:.0f} s")


class DaskBatches:
    """`pipeline.BatchSource` over partition tasks on a Dask cluster (see the module docstring).

    Tasks are submitted in the order their events are likely to be needed, at most `ahead`
    more than the run has consumed, so finished results waiting on the workers (matched rows
    only, but a busy auth log matches half its lines) stay bounded like the local engine's
    read-ahead; a partition the interleaving asks for early is submitted at once."""

    def __init__(
        self,
        client: Any,
        log: Log,
        partition_bytes: int,
        chunk_size: int = DEFAULT_CHUNK,
        max_line: int = DEFAULT_MAX_LINE,
        on_result: Callable[[PartitionResult], None] | None = None,
        ahead: int | None = None,
        batch_chunks: int = 1,
    ) -> None:
        self.client = client
        self.partition_bytes = partition_bytes
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.progress = Progress(log)
        self.on_result = on_result  # told each partition's result as the run consumes it (tests, bench)
        self.ahead = ahead
        self.batch_chunks = batch_chunks  # read chunks per batch handed to the sink (1: as locally)
        self.reads: list[Assignment] = []
        self.contexts: list[ParseContext] = []
        self.planned: list[list[Partition]] = []
        self.queue: list[Partition] = []  # not yet submitted, most likely needed first
        self.futures: dict[tuple[int, int], Any] = {}  # submitted, not yet consumed
        self.results: list[dict[str, Any]] = []  # per consumed partition: where and how long

    def start(self, reads: list[Assignment], contexts: list[ParseContext], sink: BatchSink | None) -> None:
        self.reads, self.contexts = reads, contexts
        make = getattr(sink, "evaluator", None)
        evaluator = make() if make is not None else None
        shared = self.client.scatter(evaluator, broadcast=True, hash=False) if evaluator is not None else None
        token = uuid.uuid4().hex[:8]
        self.planned = [partitions(i, a, self.chunk_size, self.partition_bytes) for i, a in enumerate(reads)]
        formats = [a.record.format or self._sniff(parts[0]) for a, parts in zip(reads, self.planned)]
        ranked = _by_likely_event_time(reads, self.planned)
        self.queue = [part for part, _ in ranked]
        self.progress.total = len(self.queue)
        if self.ahead is None:
            workers = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
            self.ahead = max(8, 4 * workers)

        self._task_args = (formats, shared, sink is not None, token)
        self._top_up()

    def _submit(self, part: Partition) -> None:
        formats, shared, ship_frames, token = self._task_args
        i = part.file_index
        future = self.client.submit(
            scan_partition, part, formats[i], self.contexts[i], shared, ship_frames, self.chunk_size, self.max_line,
            self.batch_chunks, key=f"logwarden-partition-{token}-{i}-{part.part}", pure=False,
            priority=0 if part is self.queue[0] else 1,  # one the run waits for goes first
        )
        future.add_done_callback(self.progress.finished)
        self.futures[(i, part.part)] = future
        self.queue.remove(part)

    def _top_up(self) -> None:
        while self.queue and len(self.futures) < (self.ahead or 1):
            self._submit(self.queue[0])

    def _sniff(self, first: Partition) -> str | None:
        """A new file's format as the local engine finds it, from the first lines at the read
        offset: every partition of the file parses with it."""
        try:
            with PartitionReader(first, self.chunk_size, self.max_line) as reader:
                for batch, _ in reader:
                    if len(batch.lines):
                        return sniff_format(batch.lines.slice(0, SNIFF_LINES).to_pylist())
        except READ_ERRORS:
            return None
        return None

    def peek(self, index: int) -> int | None:
        return peek_event_time(self.reads[index], self.contexts[index])

    def batches(self, index: int) -> Iterator[ParsedBatch | FileEnd]:
        last: PartitionResult | None = None
        for part in self.planned[index]:
            key = (index, part.part)
            if key not in self.futures:
                self._submit(part)  # needed before its turn
            result = self._result(self.futures[key])
            del self.futures[key]  # its memory on the worker can go
            self._top_up()
            self._account(result)
            last = result
            for shipped in result.batches:
                yield shipped.unpacked()
            if result.warning:  # the local engine stops reading the file there too
                self._drop(index)
                break
        end = last.end if last is not None else None
        yield FileEnd(
            last.warning if last is not None else None, True,
            end.size_now if end else None, end.stat_size if end else None, end.stat_mtime if end else None,
        )

    def _result(self, future: Any) -> PartitionResult:
        from distributed import KilledWorker

        try:
            return future.result()
        except SourceReadError:
            raise
        except KilledWorker as exc:
            raise EngineError(f"a partition lost every worker that ran it, more than Dask allows ({exc})") from None
        except (OSError, TimeoutError, CancelledError, asyncio.CancelledError) as exc:
            raise EngineError(f"lost the Dask scheduler or the run's tasks: {type(exc).__name__}: {exc}") from None

    def _account(self, result: PartitionResult) -> None:
        p = result.partition
        self.results.append({
            "path": terminal_safe(p.url), "part": p.part, "parts": p.parts, "worker": result.worker,
            "seconds": round(result.seconds, 3), "lines": result.lines, "bytes": result.bytes,
        })
        if self.on_result is not None:
            self.on_result(result)

    def _drop(self, index: int) -> None:
        """Forget the rest of file `index` (reading it stopped at an error)."""
        self.queue = [p for p in self.queue if p.file_index != index]
        dropped = [self.futures.pop(k) for k in list(self.futures) if k[0] == index]
        if dropped:
            self.client.cancel(dropped)

    def close(self) -> None:
        if self.futures:
            self.client.cancel(list(self.futures.values()))
        self.futures.clear()
        self.queue.clear()

    def summary(self) -> dict[str, Any]:
        """For the run's stats: the cluster, and per partition where it ran and how long it took."""
        return {
            "kind": "dask",
            "scheduler": self.client.scheduler.address,
            "dashboard": self.client.dashboard_link,
            "workers": _worker_usage(self.client),
            "client_peak_rss_mb": round(_peak_rss_mb(), 1),
            "client_cpu_seconds": round(_cpu_seconds(), 2),
            "partitions": self.results,
        }


def _by_likely_event_time(
    reads: list[Assignment], planned: list[list[Partition]]
) -> list[tuple[Partition, float]]:
    """Partitions ordered by where they sit in their stream (0: its oldest bytes, 1: its
    newest): streams cover much the same time span, so this is roughly the order in which the
    event-time interleaving will ask for them, and the cluster computes them in that order."""
    per_stream: dict[str, list[int]] = {}
    for i, assignment in enumerate(reads):
        per_stream.setdefault(assignment.file.stream, []).append(i)
    ranked: list[tuple[Partition, float]] = []
    for files in per_stream.values():
        for position, i in enumerate(files):
            for part in planned[i]:
                ranked.append((part, (position + part.part / part.parts) / len(files)))
    return sorted(ranked, key=lambda item: (item[1], item[0].file_index))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _usage() -> tuple[float, float]:
    return _peak_rss_mb(), _cpu_seconds()


def _worker_usage(client: Any) -> list[dict[str, Any]]:
    """Peak RSS and CPU time of each worker process (over its lifetime: a LocalCluster's
    workers live for the run, a standing cluster's since they started)."""
    try:
        usage = client.run(_usage)
    except (OSError, TimeoutError):
        return []
    return [
        {"address": address, "peak_rss_mb": round(rss, 1), "cpu_seconds": round(cpu, 2)}
        for address, (rss, cpu) in sorted(usage.items())
    ]


def run_dask_scan(
    store: Store,
    config: Config,
    paths: list[Path],
    now: datetime,
    sink: BatchSink | None = None,
    log: Log | None = None,
    chunk_size: int | None = None,
    since: datetime | None = None,
    spec: EngineSpec | None = None,
    client: Any = None,
    on_result: Callable[[PartitionResult], None] | None = None,
    partition_bytes: int | None = None,
    batch_chunks: int = 1,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> RunResult:
    """`run_scan` on a Dask cluster (`spec`, or `client` when the caller has one), committed
    as one transaction once every partition's result is in. The caller holds the lock.
    `on_progress`: the CLI's one-line progress meter, told of the bytes the run has consumed;
    when there is one, the per-partition progress lines (for logs, not terminals) are not
    written under it."""
    spec = spec or config.engine
    say = log or (lambda message: print(message, file=sys.stderr))
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(connect(spec, say))
        source = DaskBatches(
            client, say if on_progress is None else (lambda _m: None), partition_bytes or spec.partition_mb << 20, chunk_size=chunk_size or DEFAULT_CHUNK, on_result=on_result,
            batch_chunks=batch_chunks,
        )
        with store.transaction():
            result = run_scan(store, config, paths, now, sink=sink, log=log, chunk_size=chunk_size, since=since,
                              source=source, on_progress=on_progress)
        result.stats["engine"] = source.summary()
    return result
