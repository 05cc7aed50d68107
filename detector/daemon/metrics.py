"""Prometheus metrics of the daemon, in their own registry, and the HTTP endpoint serving them
(`/metrics`) next to a health check (`/health`).

The main loop is the only writer. Counters and histograms are thread-safe in prometheus-client;
values read from the state database (incidents, notifications, open defects) are published as
immutable snapshots that the scrape thread reads, so the HTTP thread never touches SQLite.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from detector.errors import UsageError
from detector.sources.discovery import split_rotation

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0)


@dataclass(frozen=True)
class StateSnapshot:
    """Counts read from the state database after a pass or an escalation run."""

    incidents: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (scenario, status) -> n
    notifications: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (channel, status) -> n
    defects_open: Mapping[str, int] = field(default_factory=dict)  # kind -> n


class _SnapshotCollector(Collector):
    def __init__(self, current: Callable[[], StateSnapshot]) -> None:
        self.current = current

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.current()
        incidents = GaugeMetricFamily(
            "logwarden_incidents", "Incidents in the state database by scenario and status",
            labels=["scenario", "status"],
        )
        for (scenario, status), count in sorted(snap.incidents.items()):
            incidents.add_metric([scenario, status], count)
        yield incidents
        notifications = GaugeMetricFamily(
            "logwarden_notifications",
            "Notifications in the outbox by channel and outcome (pending, sent, failed, fallen_back, suppressed)",
            labels=["channel", "status"],
        )
        for (channel, status), count in sorted(snap.notifications.items()):
            notifications.add_metric([channel, status], count)
        yield notifications
        defects = GaugeMetricFamily(
            "logwarden_defects_open", "Open defects of the detection process by kind", labels=["kind"]
        )
        for kind, count in sorted(snap.defects_open.items()):
            defects.add_metric([kind], count)
        yield defects


SnapshotCollector = _SnapshotCollector  # the cron job's metrics file exports the same series


def read_snapshot(store: Any) -> StateSnapshot:
    """Incidents, outbox messages and open defects as counts (escalation tables may not exist
    yet when escalation never ran: those counts are then empty)."""
    tables = {r[0] for r in store.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    incidents = {
        (r[0], r[1]): int(r[2]) for r in store.execute(
            "SELECT scenario_id, status, COUNT(*) FROM incidents WHERE exercise = 0 GROUP BY 1, 2")
    } if "incidents" in tables else {}
    notifications = {
        (r[0], r[1]): int(r[2]) for r in store.execute("SELECT channel, status, COUNT(*) FROM outbox GROUP BY 1, 2")
    } if "outbox" in tables else {}
    defects = {r[0]: int(r[1]) for r in store.execute(
        "SELECT kind, COUNT(*) FROM defects WHERE status = 'open' GROUP BY kind")}
    return StateSnapshot(incidents=incidents, notifications=notifications, defects_open=defects)


class Metrics:
    """Every series the daemon exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.lines_read = Counter("logwarden_lines_read", "Lines read, per source (log stream)", ["source"], registry=r)
        self.lines_parsed = Counter("logwarden_lines_parsed", "Lines parsed into events, per source", ["source"], registry=r)
        self.lines_unparsed = Counter(
            "logwarden_lines_unparsed", "Lines counted as unparsed (unknown format, binary, too long), per source",
            ["source"], registry=r,
        )
        self.bytes_read = Counter("logwarden_bytes_read", "Bytes read, per source", ["source"], registry=r)
        self.pass_seconds = Histogram(
            "logwarden_pass_duration_seconds",
            "Wall time of one pass: discover, read, parse, detect and commit every new batch",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.batch_seconds = Histogram(
            "logwarden_batch_duration_seconds",
            "Wall time of one batch in the committing thread: rules, correlation and its transaction",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.passes = Counter("logwarden_passes", "Passes run, by what started them", ["trigger"], registry=r)
        self.pass_errors = Counter("logwarden_pass_errors", "Passes that failed (retried at the next re-check)", registry=r)
        self.detection_lag = Histogram(
            "logwarden_detection_lag_seconds",
            "Lag from append to finding: commit time of a finding minus the event time of its newest evidence",
            buckets=LAG_BUCKETS, registry=r,
        )
        self.findings = Counter(
            "logwarden_findings", "Findings raised or changed, by scenario and change (new, extended, confidence)",
            ["scenario", "change"], registry=r,
        )
        self.gaps = Counter("logwarden_gaps", "Log gaps detected (bytes that could not be read)", registry=r)
        self.fs_events = Counter("logwarden_fs_events", "File system change notifications received", registry=r)
        self.observer_restarts = Counter(
            "logwarden_observer_restarts", "Times the file system observer was found dead and restarted", registry=r
        )
        self.handler_errors = Counter(
            "logwarden_observer_handler_errors", "Exceptions raised while handling a file system event", registry=r
        )
        self.escalation_runs = Counter(
            "logwarden_escalation_runs", "Escalation engine runs (ingest, due timers, deliveries)", ["outcome"], registry=r
        )
        self.reloads = Counter("logwarden_reloads", "SIGHUP reloads, by outcome (applied, rejected)", ["outcome"], registry=r)
        self.last_pass = Gauge(
            "logwarden_last_pass_timestamp_seconds", "Unix time at which the last pass finished", registry=r
        )
        self._snapshot = StateSnapshot()
        r.register(_SnapshotCollector(lambda: self._snapshot))

    def publish(self, snapshot: StateSnapshot) -> None:
        self._snapshot = snapshot  # one reference swap: a scrape sees the old or the new one

    def observe_sources(self, sources: Iterable[Mapping[str, Any]]) -> None:
        """Add a pass's per-file statistics (`RunResult.stats["sources"]`), labelled by stream."""
        for entry in sources:
            stream = split_rotation_base(entry["path"])
            if entry["lines"]:
                self.lines_read.labels(stream).inc(entry["lines"])
            if entry["parsed"]:
                self.lines_parsed.labels(stream).inc(entry["parsed"])
            if entry["unparsed"]:
                self.lines_unparsed.labels(stream).inc(entry["unparsed"])
            if entry["bytes"]:
                self.bytes_read.labels(stream).inc(entry["bytes"])

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, dict(labels or {}))


def split_rotation_base(path: str) -> str:
    """`/var/log/nginx/access.log.2.gz` -> `/var/log/nginx/access.log`: one series per stream,
    not one per rotated generation."""
    return split_rotation(Path(path))[0]


# -- HTTP endpoint ---------------------------------------------------------------------------


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` (port 0: any free port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise UsageError(f"--metrics-addr {text!r}: expected HOST:PORT such as 127.0.0.1:9464 or [::1]:9464")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Scrapes are not worth a log line each."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """Serves `/metrics` (Prometheus text format) and `/health` (JSON; 503 when unhealthy)."""

    def __init__(self, address: str, metrics: Metrics, health: Callable[[], tuple[bool, dict[str, Any]]]) -> None:
        host, port = parse_address(address)
        metrics_app = make_wsgi_app(metrics.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "/")
            if path in ("/health", "/healthz"):
                ok, document = health()
                body = json.dumps(document, default=str).encode()
                start_response(
                    "200 OK" if ok else "503 Service Unavailable",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                )
                return [body]
            if path in ("/metrics", "/"):
                return metrics_app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics or /health\n"]

        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        self.server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics-http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
