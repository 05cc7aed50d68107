"""`logwarden scan --metrics-file FILE.prom`: what a cron run did, as a Prometheus text file for
node_exporter's textfile collector (what `/metrics` is to the daemon).

Why 0644: node_exporter runs as its own user and must read the file; it holds counts, scenario
ids, channel names and source paths, never log content or entity values. It is written to a
temporary file in the same directory and renamed over the old one (prometheus-client's
`write_to_textfile`), so the collector never reads half a file. A run that fails leaves the
previous file: alert on `time() - logwarden_scan_last_success_timestamp_seconds`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from detector.daemon.metrics import SnapshotCollector, StateSnapshot, split_rotation_base
from detector.errors import UsageError
from detector.model import SEVERITIES, Finding

MODE = 0o644


def check_metrics_path(path: Path) -> None:
    """Refuse what node_exporter would silently ignore, before the run starts (exit 2)."""
    if path.suffix != ".prom":
        raise UsageError(f"--metrics-file {path}: node_exporter's textfile collector reads only *.prom files")
    if not path.parent.is_dir():
        raise UsageError(f"--metrics-file {path}: directory {path.parent} does not exist")


def _registry(stats: dict[str, Any], findings: Iterable[Finding], snapshot: StateSnapshot,
              finished_at: datetime, seconds: float) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    Gauge("logwarden_scan_last_success_timestamp_seconds", "Unix time at which the last successful scan finished",
          registry=registry).set(finished_at.timestamp())
    Gauge("logwarden_scan_duration_seconds", "Wall time of the last scan", registry=registry).set(seconds)
    Gauge("logwarden_scan_files", "Files read by the last scan", registry=registry).set(stats["files"])
    Gauge("logwarden_scan_gaps", "Log gaps found by the last scan", registry=registry).set(stats["gaps"])
    lines = Gauge("logwarden_scan_lines", "Lines of the last scan, per source and outcome", ["source", "outcome"],
                  registry=registry)
    read = Gauge("logwarden_scan_bytes", "Bytes read by the last scan, per source", ["source"], registry=registry)
    for entry in stats["sources"]:
        stream = split_rotation_base(entry["path"])
        for outcome in ("lines", "parsed", "unparsed", "blank"):
            lines.labels(stream, "read" if outcome == "lines" else outcome).inc(entry[outcome])
        read.labels(stream).inc(entry["bytes"])
    raised = Gauge("logwarden_scan_findings", "Findings raised or extended by the last scan, per severity",
                   ["severity"], registry=registry)
    counts = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        counts[finding.severity] += 1
    for severity, count in counts.items():
        raised.labels(severity).set(count)
    registry.register(SnapshotCollector(lambda: snapshot))
    return registry


def write_metrics_file(path: Path, stats: dict[str, Any], findings: Iterable[Finding], snapshot: StateSnapshot,
                       finished_at: datetime, seconds: float) -> None:
    """Replace `path` atomically with this run's figures, readable by node_exporter (0644)."""
    registry = _registry(stats, findings, snapshot, finished_at, seconds)
    previous = os.umask(0o022)  # the service's UMask=0077 would make it unreadable to node_exporter
    try:
        write_to_textfile(str(path), registry)  # created 0666 & ~0022 = MODE
    finally:
        os.umask(previous)
