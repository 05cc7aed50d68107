"""Builders for detection tests: event frames shaped like the pipeline's, checklist
directories in tmp_path, and a driver running batches through the real engine and store.

Imported as `detection.builders` (tests/ is on sys.path, see pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import yaml

from detector.checklist import Checklist, load_checklist
from detector.config import Config
from detector.detection.batch import BatchContext
from detector.detection.engine import DetectionEngine
from detector.model import Finding
from detector.runs.scan import run_scan
from detector.schema import arrow_dtype
from detector.state.store import Store

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)
REVIEWED = date(2026, 11, 20)
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)
SCAN_NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)  # wall clock of `scan_logs` runs

LOG_COLUMNS = ("@timestamp", "log.offset", "log.original", "log.kind", "log.file.path")


def frame(rows: list[Mapping[str, Any]], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """An event frame with ECS Arrow types; absent keys are nulls (columns = union of keys)."""
    names: list[str] = list(columns) if columns is not None else []
    for row in rows:
        for key in row:
            if key not in names:
                names.append(key)
    data = {}
    for name in names:
        dtype = arrow_dtype(name)
        values = pa.array([row.get(name) for row in rows], type=dtype.pyarrow_dtype)
        data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


def column(name: str, values: list[Any]) -> pd.DataFrame:
    """A one-column frame (what the compiler tests evaluate against)."""
    return frame([{name: v} for v in values], columns=[name])


@dataclass
class LogFile:
    """Builds the rows of one log file: byte offsets advance like the reader's would."""

    path: str
    kind: str
    offset: int = 0

    def rows(self, events: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for event in events:
            original = event.get("log.original") or " ".join(
                f"{k}={v}" for k, v in event.items() if k != "@timestamp"
            )
            row = {
                "@timestamp": event["@timestamp"],
                "log.offset": self.offset,
                "log.original": original,
                "log.kind": self.kind,
                "log.file.path": self.path,
                **{k: v for k, v in event.items() if k not in ("@timestamp", "log.original")},
            }
            self.offset += len(original.encode()) + 1
            out.append(row)
        return out

    def frame(self, events: list[Mapping[str, Any]]) -> pd.DataFrame:
        return frame(self.rows(events), columns=LOG_COLUMNS)

    def context(self, now: datetime = NOW) -> BatchContext:
        return BatchContext(file_uid=f"uid-{self.path}", path=self.path, log_format=None, application=None, now=now)


# -- checklists ------------------------------------------------------------------------------


def scenario_doc(sid: str, **fields: Any) -> dict[str, Any]:
    """A complete, valid scenario document; `fields` override or add keys."""
    doc: dict[str, Any] = {
        "id": sid,
        "version": "1.0.0",
        "title": f"test scenario {sid}",
        "status": "stable",
        "owner": "secops",
        "severity": "high",
        "confidence": 0.6,
        "attack": ["T1110.001"],
        "provenance": [{"kind": "threat-model", "ref": "TM-1"}],
        "requires": ["auth"],
        "last_reviewed": REVIEWED,
        "samples": [
            {"log": f"sample_logs/{sid}/positive.log", "expect": [{"entity": {"source.ip": "203.0.113.7"}}]},
            {"log": f"sample_logs/{sid}/negative.log", "expect": []},
        ],
    }
    doc.update(fields)
    return doc


def meta_doc(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": 1,
        "version": "2026.11.0",
        "owner": "secops",
        "review_interval": "90d",
        "reviews": [{"date": REVIEWED, "by": "secops", "note": "test checklist"}],
        "scenarios": "scenarios",
        "lateness": "5m",
        "reopen_after": "1h",
        "evidence_cap": 20,
    }
    doc.update(fields)
    return doc


def write_checklist(root: Path, scenarios: list[dict[str, Any]], **meta: Any) -> Path:
    """Write `root/rules/` (checklist.yaml + one file per scenario) and every sample file the
    scenarios name; return the checklist directory."""
    rules = root / "rules"
    (rules / "scenarios").mkdir(parents=True, exist_ok=True)
    (rules / "checklist.yaml").write_text(yaml.safe_dump(meta_doc(**meta), sort_keys=False))
    for doc in scenarios:
        (rules / "scenarios" / f"{doc['id']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        for sample in doc.get("samples", []):
            path = root / sample["log"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return rules


def auth_failure_rule() -> dict[str, Any]:
    return {"detection": {"selection": {"event.action": "ssh-failed-password"}, "condition": "selection"}}


# -- running the engine ----------------------------------------------------------------------


@dataclass
class Batch:
    frame: pd.DataFrame
    ctx: BatchContext


def materialize(store: Store, batches: Iterable[Batch]) -> None:
    """Write the batches' lines at their offsets into real files next to the state, and record
    each under its file uid as the pipeline's checkpoints do: correlation state keeps
    references to lines and reads them back after a restart."""
    folder = store.path.parent / (store.path.stem + "-logs")
    folder.mkdir(exist_ok=True)
    with store.transaction():
        for batch in batches:
            uid = batch.ctx.file_uid
            real = folder / uid.replace("/", "_")
            real.touch()
            with open(real, "r+b") as handle:
                for offset, line in zip(batch.frame["log.offset"].tolist(), batch.frame["log.original"].tolist()):
                    handle.seek(int(offset))
                    handle.write(str(line).encode() + b"\n")
            store.execute(
                "INSERT OR IGNORE INTO files(uid, stream, path, dev, inode, fp_len, fp_hash, first_seen, last_seen)"
                " VALUES (?, ?, ?, 0, 0, 0, '', '', '')",
                (uid, str(real), str(real)),
            )


def process(state: Path, checklist_dir: Path, batches: list[Batch]) -> list[Finding]:
    """One run, as the pipeline drives it: each batch in its own transaction, one engine and
    store for all, then the end of the run; returns all findings."""
    engine = DetectionEngine(load_checklist(checklist_dir))
    with Store(state) as store:
        materialize(store, batches)
        for batch in batches:
            with store.transaction():
                engine.process(store, batch.frame, batch.ctx)
        with store.transaction():
            engine.finish(store, NOW)
        return store.findings(include_exercise=True)


def _us(ts: Any) -> int:
    return int(pd.Timestamp(ts).value // 1000)


def read_in_order(batches: list[Batch]) -> list[Batch]:
    """The batches with the watermark the pipeline hands over when it reads them in this
    order: this file's newest event so far, or, if earlier, the first event of any later
    batch of another file (a source still to be read)."""
    out = []
    newest: dict[str, int] = {}
    for index, batch in enumerate(batches):
        path = batch.ctx.path
        newest[path] = max(newest.get(path, -(1 << 62)), max(_us(t) for t in batch.frame["@timestamp"]))
        pending = [min(_us(t) for t in later.frame["@timestamp"]) for later in batches[index + 1 :] if later.ctx.path != path]
        watermark = min([newest[path], *pending])
        out.append(Batch(batch.frame, replace(batch.ctx, watermark=watermark)))
    return out


def findings_of(state: Path, scenario_id: str | None = None) -> list[Finding]:
    with Store(state) as store:
        found = store.findings(include_exercise=True)
    return [f for f in found if scenario_id is None or f.scenario_id == scenario_id]


def at(seconds: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes)


def scan_logs(
    state: Path, *paths: Path, checklist: Checklist | None = None, chunk_size: int | None = None
) -> list[Finding]:
    """One cron run of the real pipeline over `paths` into `state`, with the bundled checklist
    (or `checklist`) and batches of `chunk_size` bytes; the state is kept between calls, so the
    next run resumes."""
    checklist = checklist or load_checklist()
    config = Config(path=None, state=state, checklist=checklist.directory, escalation=None, timezone="UTC")
    with Store(state) as store:
        run_scan(
            store, config, list(paths), SCAN_NOW, sink=DetectionEngine(checklist), log=lambda _m: None, chunk_size=chunk_size
        )
        return store.findings(include_exercise=True)


def with_scenario(findings: list[Finding], scenario_id: str) -> list[Finding]:
    return [f for f in findings if f.scenario_id == scenario_id]
