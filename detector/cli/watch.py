"""`logwarden watch`: the daemon's command line, and the one place it meets the escalation
engine (the CLI root wires detector and escalation together)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from detector.cli.common import parse_now, sigma_option, state_options
from detector.cli.root import cli
from detector.config import Config, load_config
from detector.daemon.log import FORMATS, setup_logging
from detector.daemon.metrics import parse_address
from detector.daemon.watch import Clock, Daemon, Escalator, WatchOptions
from detector.detection.engine import DetectionEngine, load_engine
from detector.model import parse_iso
from detector.state.store import Store


class EngineEscalator:
    """The escalation engine behind the daemon's `Escalator` protocol."""

    def __init__(self, store: Store, engine: Any) -> None:
        self.store = store
        self.engine = engine

    def run(self, now: datetime) -> dict[str, Any]:
        ingested = self.engine.ingest(now)
        steps = self.engine.tick(now, deliver=False)
        delivery = self.engine.deliver(now)
        return {
            "ingested": ingested,
            "steps": [f"{s.incident_id}:{s.action}:{s.level}" for s in steps],
            "sent": delivery.sent,
            "retried": delivery.retried,
            "failed": delivery.failed,
            "fallen_back": delivery.fallen_back,
        }

    def next_due(self) -> datetime | None:
        """The earliest incident timer or outbox retry (contract: incidents.next_due_at,
        outbox.next_attempt_at of pending messages)."""
        # ISO text sorts right to the second only (`...:00.5Z` < `...:00Z`): take the
        # candidates of the earliest second and compare them as times.
        rows = self.store.execute(
            "WITH due(t) AS ("
            " SELECT next_due_at FROM incidents WHERE next_due_at IS NOT NULL AND status != 'resolved'"
            " UNION ALL SELECT next_attempt_at FROM outbox WHERE status = 'pending')"
            " SELECT t FROM due WHERE substr(t, 1, 19) = (SELECT MIN(substr(t, 1, 19)) FROM due)"
        ).fetchall()
        times = [parse_iso(r[0]) for r in rows if r[0]]
        return min(t for t in times if t is not None) if times else None

    def snapshot(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        incidents = {
            (r[0], r[1]): int(r[2])
            for r in self.store.execute(
                "SELECT scenario_id, status, COUNT(*) FROM incidents WHERE exercise = 0 GROUP BY 1, 2"
            )
        }
        notifications = {
            (r[0], r[1]): int(r[2])
            for r in self.store.execute("SELECT channel, status, COUNT(*) FROM outbox GROUP BY 1, 2")
        }
        return incidents, notifications


@dataclass(frozen=True)
class CliLoader:
    """Re-reads the files named at start-up (SIGHUP); the state file never changes."""

    initial: Config
    checklist_dir: Path | None
    escalate: bool
    sigma: tuple[Path, ...] = ()

    def load_config(self) -> Config:
        return load_config(self.initial.path, self.initial.state)

    def load_engine(self, config: Config) -> DetectionEngine:
        return load_engine(self.checklist_dir or config.checklist, sigma=self.sigma, crs=config.crs)

    def open_escalator(self, store: Store, config: Config) -> Escalator | None:
        if not self.escalate:
            return None
        from escalation.engine.service import open_engine

        return EngineEscalator(store, open_engine(store, config))


def _seconds(minimum: float) -> click.FloatRange:
    return click.FloatRange(min=minimum)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@state_options
@click.option("--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
              help="checklist directory (default: the config's, else the bundled one)")
@sigma_option
@click.option("--no-escalate", is_flag=True, help="record findings but do not run the escalation engine")
@click.option("--now", "now_text", default=None, metavar="ISO8601",
              help="start the daemon's clock at this instant (it then advances in real time); for tests")
@click.option("--metrics-addr", default=None, metavar="HOST:PORT",
              help="serve Prometheus metrics on /metrics and a health check on /health (port 0: any free port)")
@click.option("--polling", is_flag=True,
              help="poll directories instead of inotify (network file systems: NFS, SMB, FUSE)")
@click.option("--poll-interval", type=_seconds(0.1), default=1.0, show_default=True, metavar="SECONDS",
              help="with --polling: seconds between directory polls")
@click.option("--recheck", type=_seconds(0.05), default=10.0, show_default=True, metavar="SECONDS",
              help="full re-check of every source, whatever the notifications said")
@click.option("--tick", type=_seconds(0.05), default=5.0, show_default=True, metavar="SECONDS",
              help="escalation timers run at least this often (and at each timer's due time)")
@click.option("--log-format", "--format", "log_format", type=click.Choice(FORMATS), default="text",
              show_default=True,
              help="stderr log lines as key=value text or JSON (journald priority prefixes are automatic)")
@click.option("--missing-grace", type=_seconds(0.0), default=2.0, show_default=True, metavar="SECONDS",
              help="how long a source may match no file (a rotation in progress) before it is a defect")
@click.option("--settle", type=_seconds(0.0), default=0.1, show_default=True, metavar="SECONDS",
              help="coalesce change notifications this long before reading (lower: sooner, more CPU)")
@click.option("--chunk-size", type=click.IntRange(min=4096), default=None, hidden=True)
def watch(
    paths: tuple[Path, ...],
    config: Config,
    checklist_dir: Path | None,
    sigma_paths: tuple[Path, ...],
    no_escalate: bool,
    now_text: str | None,
    metrics_addr: str | None,
    polling: bool,
    poll_interval: float,
    recheck: float,
    tick: float,
    log_format: str,
    missing_grace: float,
    settle: float,
    chunk_size: int | None,
) -> int:
    """Run the scan pipeline whenever log files change, and escalation timers, until SIGTERM.

    SIGHUP reloads the config, checklist and policy (an invalid new version is rejected and
    the running one kept). Logs go to stderr, one structured line per event.
    """
    if metrics_addr:
        parse_address(metrics_addr)  # a typo exits 2 before anything starts
    logger = setup_logging(log_format, level=logging.INFO)
    options = WatchOptions(
        paths=tuple(paths),
        recheck=recheck,
        tick=tick,
        settle=settle,
        polling=polling,
        poll_interval=poll_interval,
        missing_grace=missing_grace,
        chunk_size=chunk_size,
        metrics_addr=metrics_addr,
    )
    daemon = Daemon(
        options,
        CliLoader(initial=config, checklist_dir=checklist_dir, escalate=not no_escalate, sigma=tuple(sigma_paths)),
        logger,
        clock=Clock(parse_now(now_text) if now_text else None),
    )
    daemon.install_signal_handlers()
    return daemon.run()

