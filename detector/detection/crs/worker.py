"""The CRS stage in a process of its own, so it runs on a second core while the scan's process
reads, parses, matches and correlates (the GIL keeps a thread of the same process from it).

Each batch's request columns go over a pipe as an Arrow IPC stream (only the columns the CRS
reads); the child evaluates them with the same rules and sends back the scores and hits, which
are turned back into a `CrsResult` naming the parent's rule objects. Batches are answered in the
order they were sent; a sender and a receiver thread keep the pipe moving both ways, so neither
side ever waits on the other's buffer. If the child dies, `CrsProcessGone` is raised and the
caller scores in process instead (stage.py): nothing is lost.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

import pandas as pd
import pyarrow as pa

from detector.checklist.crs import load_crs
from detector.checklist.crs.model import CrsRule
from detector.config import CrsSettings
from detector.detection.crs.evaluate import CrsEvaluator, CrsResult, RuleHit
from detector.detection.crs.sources import COOKIE_COLUMNS, HEADER_COLUMNS, METHOD, TARGET, VERSION

#: Every column the CRS stage reads from a batch (sources.py).
COLUMNS = (TARGET, METHOD, VERSION, "log.kind", "log.format", *HEADER_COLUMNS.values(), *COOKIE_COLUMNS)
_STOP = b""


class CrsProcessGone(RuntimeError):
    """The CRS process died or failed on a batch; the caller scores it in process."""


def encode_batch(seq: int, frame: pd.DataFrame) -> bytes:
    """The CRS's columns of `frame` as one Arrow IPC stream (its sequence number in the metadata)."""
    arrays, names = [], []
    for column in COLUMNS:
        if column in frame.columns:
            values = frame[column].array
            arrays.append(values.__arrow_array__() if hasattr(values, "__arrow_array__") else pa.array(frame[column].astype(object)))
            names.append(column)
    if not names:  # no request column at all: still a batch of len(frame) rows
        arrays, names = [pa.nulls(len(frame), pa.string())], ["_rows"]
    table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata({"seq": str(seq)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_batch(data: bytes) -> tuple[int, pd.DataFrame]:
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    seq = int((table.schema.metadata or {})[b"seq"])
    return seq, table.to_pandas(types_mapper=pd.ArrowDtype)


def serve(conn: Connection, settings: CrsSettings) -> None:
    """The child: load the rules, then score batches until told to stop (or the parent is gone)."""
    evaluator = CrsEvaluator(load_crs(settings.path).select(settings))  # as CrsStage selects them
    conn.send(("ready", None, None, None))
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if data == _STOP:
            return
        seq, frame = decode_batch(data)
        try:
            result = evaluator.evaluate(frame)
        except Exception:  # the parent scores this batch itself and raises the real error
            conn.send((seq, None, None, traceback.format_exc(limit=3)))
            continue
        hits = [(hit.rule.id, hit.rows, hit.names, hit.values) for hit in result.hits]
        conn.send((seq, result.scores, hits, None))


class CrsProcess:
    """The parent's side: `submit(frame)` returns a ticket at once, `result(ticket)` waits for its
    scores. Thread-safe: the pipeline submits from its read-ahead thread and collects from either."""

    def __init__(self, settings: CrsSettings, rules: tuple[CrsRule, ...]) -> None:
        self._rules = {rule.id: rule for rule in rules}
        context = multiprocessing.get_context("spawn")  # never fork a process running Arrow's threads
        self._conn, child = context.Pipe(duplex=True)
        self._process = context.Process(target=serve, args=(child, settings), name="logwarden-crs", daemon=True)
        self._process.start()
        child.close()
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._done: dict[int, tuple[Any, Any, str | None]] = {}
        self._ready = threading.Condition()
        self._gone: str | None = None
        self._tickets = itertools.count()
        self._threads = [
            threading.Thread(target=self._send, name="logwarden-crs-send", daemon=True),
            threading.Thread(target=self._receive, name="logwarden-crs-receive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, frame: pd.DataFrame) -> int:
        ticket = next(self._tickets)
        self._outbox.put(encode_batch(ticket, frame))
        return ticket

    def result(self, ticket: int) -> CrsResult:
        with self._ready:
            while ticket not in self._done and self._gone is None:
                self._ready.wait()
            if ticket not in self._done:
                raise CrsProcessGone(self._gone or "the CRS process is gone")
            scores, hits, error = self._done.pop(ticket)
        if error is not None:
            raise CrsProcessGone(error)
        return CrsResult(scores, [RuleHit(self._rules[rule], rows, names, values) for rule, rows, names, values in hits])

    def close(self) -> None:
        """Stop the child (it finishes the batch in hand) and the threads."""
        self._outbox.put(None)
        self._threads[0].join()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._conn.close()
        self._threads[1].join()

    def _send(self) -> None:
        while True:
            data = self._outbox.get()
            try:
                self._conn.send_bytes(_STOP if data is None else data)
            except (OSError, ValueError):
                return
            if data is None:
                return

    def _receive(self) -> None:
        why = "the CRS process stopped"
        try:
            while True:
                ticket, scores, hits, error = self._conn.recv()
                with self._ready:
                    if ticket != "ready":
                        self._done[ticket] = (scores, hits, error)
                    self._ready.notify_all()
        except (EOFError, OSError) as exc:
            why = f"the CRS process exited ({exc.__class__.__name__}, exit code {self._process.exitcode})"
        finally:
            with self._ready:
                self._gone = why
                self._ready.notify_all()
