"""The watcher daemon: the scan pipeline run whenever files change, plus escalation timers.

One main loop (the thread that calls `Daemon.run`) owns the state database. It sleeps on a
self-pipe woken by file system hints (watchdog threads), signals (handlers only set flags) and
its own deadlines, then runs, in order: a reload (SIGHUP), observer supervision, a *pass*
(discover, plan, read, detect, commit: the same `Ingest` as `logwarden scan`, one transaction
per batch), and an escalation run (incidents, due timers, deliveries). Passes run after hints
(coalesced for `settle` seconds) and every `recheck` seconds whatever the hints said: the
re-check is the source of truth, hints only make it early. Escalation runs after every pass,
every `tick` seconds, and at the next due timer, so a page goes out at its deadline even when
no log line arrives.
"""

from __future__ import annotations

import logging
import math
import os
import select
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from detector.config import Config
from detector.daemon.log import log_event
from detector.daemon.metrics import Metrics, MetricsServer, StateSnapshot
from detector.daemon.observer import WatchTree, interest_dirs
from detector.detection.engine import DetectionEngine
from detector.errors import LogwardenError, UsageError
from detector.model import Defect, iso
from detector.pipeline import Ingest, RunResult
from detector.sources.health import SourceHealth
from detector.sources.scope import Sources, is_own_file, resolve_sources
from detector.state.lock import StateLock
from detector.state.store import Store

MIN_ESCALATION_SPACING = 0.5  # seconds: a due time in the past never turns into a busy loop
SUPERVISE_EVERY = 1.0


class Clock:
    """Wall time for the pipeline and the escalation engine. With `start` (the `--now` option)
    time begins at that instant and advances with the monotonic clock: reproducible tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start
        self._mono0 = time.monotonic()

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(timezone.utc)
        return self._start + timedelta(seconds=time.monotonic() - self._mono0)

    def monotonic_at(self, when: datetime) -> float:
        """The monotonic instant at which `now()` reaches `when`."""
        return time.monotonic() + (when - self.now()).total_seconds()


class Waker:
    """Self-pipe: safe to poke from signal handlers and other threads, waited on with select."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def wake(self) -> None:
        try:
            os.write(self._write, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the loop is being woken anyway

    def wait(self, timeout: float) -> None:
        try:
            ready, _, _ = select.select([self._read], [], [], max(0.0, timeout))
        except InterruptedError:
            return
        if ready:
            try:
                while os.read(self._read, 4096):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


class Escalator(Protocol):
    """What the daemon needs from the escalation engine (wired in by the CLI root)."""

    def run(self, now: datetime) -> dict[str, Any] | None:
        """Ingest new findings and defects, run due timers, deliver due messages."""

    def next_due(self) -> datetime | None:
        """When the next timer or delivery retry is due (None: nothing scheduled)."""

    def snapshot(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """(incidents by (scenario, status), notifications by (channel, status))."""


class Loader(Protocol):
    """Builds what SIGHUP replaces; every method raises a LogwardenError on a bad file."""

    def load_config(self) -> Config: ...

    def load_engine(self, config: Config) -> DetectionEngine: ...

    def open_escalator(self, store: Store, config: Config) -> Escalator | None: ...


@dataclass(frozen=True)
class Loaded:
    """Configuration, checklist and policy in force; replaced as a whole by a valid reload."""

    config: Config
    engine: DetectionEngine
    escalator: Escalator | None


@dataclass(frozen=True)
class WatchOptions:
    paths: tuple[Path, ...] = ()
    recheck: float = 10.0  # seconds between full re-checks
    tick: float = 5.0  # seconds between escalation runs when nothing else triggers one
    settle: float = 0.1  # seconds to coalesce a burst of hints into one pass
    polling: bool = False  # PollingObserver: network file systems without inotify
    poll_interval: float = 1.0
    missing_grace: float = 2.0  # seconds a source may match no file (rotation) before a defect
    chunk_size: int | None = None
    metrics_addr: str | None = None


@dataclass
class _Status:
    """What /health reports; written by the main loop, read by the HTTP thread."""

    started_at: float = field(default_factory=time.time)
    last_loop: float = field(default_factory=time.monotonic)  # the loop turned, or a batch committed
    last_pass_at: str | None = None
    passes: int = 0
    last_error: str | None = None
    checklist_version: str = ""


class Daemon:
    """`logwarden watch`: see the module docstring."""

    def __init__(
        self,
        options: WatchOptions,
        loader: Loader,
        logger: logging.Logger,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.options = options
        self.loader = loader
        self.logger = logger
        self.metrics = metrics or Metrics()
        self.clock = clock or Clock()
        self.health = SourceHealth(timedelta(seconds=options.missing_grace))
        self.waker = Waker()
        self.status = _Status()
        self._stop_signal: str | None = None
        self._reload = False
        self._hinted = False
        self._announced: set[str] = set()  # defects observed (and logged) by the previous pass
        self.loaded: Loaded | None = None
        self.server: MetricsServer | None = None
        self.tree: WatchTree | None = None

    # -- signals and hints (may run in any thread or in a signal handler: flags only) -------------

    def request_stop(self, why: str = "stop") -> None:
        self._stop_signal = why
        self.waker.wake()

    def request_reload(self) -> None:
        self._reload = True
        self.waker.wake()

    def hint(self, reason: str, path: str = "") -> None:
        """A file system event (or a lost-events warning): run a pass soon."""
        self.metrics.fs_events.inc()
        self._hinted = True
        self.waker.wake()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.request_reload()
        else:
            self.request_stop(signal.Signals(signum).name)

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    @property
    def stopping(self) -> bool:
        return self._stop_signal is not None

    # -- run ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Load, lock, watch until SIGTERM/SIGINT; returns the exit code (0)."""
        config = self.loader.load_config()
        engine = self.loader.load_engine(config)
        self._sources(config)  # nothing to watch, or a path that is no file or directory: exit 2 now
        with StateLock(config.state, "watch"):
            with Store(config.state) as store:
                escalator = self.loader.open_escalator(store, config)
                self.loaded = Loaded(config, engine, escalator)
                self._record_checklist(store)
                self.tree = WatchTree(
                    interests=self._interests,
                    on_hint=self.hint,
                    ignore=lambda path: is_own_file(self._config.state, Path(path)),
                    logger=self.logger,
                    polling=self.options.polling,
                    poll_interval=self.options.poll_interval,
                    on_restart=self.metrics.observer_restarts.inc,
                    on_handler_error=self.metrics.handler_errors.inc,
                )
                try:
                    self.tree.start()
                    if self.options.metrics_addr:
                        self.server = self._metrics_server(self.options.metrics_addr)
                        self.server.start()
                    log_event(
                        self.logger, logging.INFO, "started",
                        pid=os.getpid(), state=str(config.state),
                        sources=[str(p) for p in self.options.paths] or [s.path for s in config.sources()],
                        checklist_version=engine.checklist.version,
                        escalation="on" if escalator is not None else "off",
                        observer=self.tree.kind,
                        metrics=f"http://{self.server.address}/metrics" if self.server else None,
                        recheck=self.options.recheck, tick=self.options.tick,
                    )
                    self._loop(store)
                finally:
                    if self.server is not None:
                        self.server.stop()
                    self.tree.stop()
                    self.waker.close()
        log_event(self.logger, logging.INFO, "stopped", signal=self._stop_signal or "none")
        return 0

    def _metrics_server(self, address: str) -> MetricsServer:
        try:
            return MetricsServer(address, self.metrics, self.health_report)
        except OSError as exc:
            raise UsageError(f"--metrics-addr {address}: cannot listen there ({exc.strerror or exc})") from None

    @property
    def _config(self) -> Config:
        assert self.loaded is not None
        return self.loaded.config

    def _interests(self) -> list[tuple[Path, bool]]:
        return interest_dirs(self._config, list(self.options.paths))

    def _loop(self, store: Store) -> None:
        mono = time.monotonic
        pass_due, trigger = mono(), "start"
        next_recheck = mono() + self.options.recheck
        next_tick = mono() + self.options.tick
        next_supervise = mono() + SUPERVISE_EVERY
        next_due = next_health = math.inf
        while not self.stopping:
            self.status.last_loop = mono()
            if self._reload:
                self._reload = False
                if self._apply_reload(store):
                    pass_due, trigger = mono(), "reload"
            now_m = mono()
            if self._hinted:
                self._hinted = False
                if pass_due == math.inf:
                    pass_due, trigger = now_m + self.options.settle, "event"
            if now_m >= next_supervise:
                next_supervise = now_m + SUPERVISE_EVERY
                if self._supervise():
                    pass_due, trigger = now_m, "restart"
            if now_m >= next_recheck and pass_due == math.inf:
                pass_due, trigger = now_m, "recheck"
            if now_m >= next_health and pass_due == math.inf:
                pass_due, trigger = now_m, "health"  # a source turns silent, or missing for long enough
            escalate = now_m >= next_tick or now_m >= next_due
            if pass_due <= now_m:
                assert self.tree is not None
                self._supervise()  # watches for new directories before reading them
                self._pass(store, trigger)
                pass_due = math.inf
                next_recheck = mono() + self.options.recheck
                next_health = self._health_due()
                escalate = True
            if self.stopping:
                break
            if escalate:
                next_due = self._escalate(store)
                next_tick = mono() + self.options.tick
            deadline = min(pass_due, next_recheck, next_tick, next_due, next_supervise, next_health)
            self.waker.wait(deadline - mono())

    def _health_due(self) -> float:
        due = self.health.next_due
        if due is None:
            return math.inf
        # a little after the instant itself: the check then sees the grace or silence exceeded
        return max(self.clock.monotonic_at(due) + 0.05, time.monotonic() + MIN_ESCALATION_SPACING)

    def _supervise(self) -> bool:
        assert self.tree is not None
        try:
            return self.tree.supervise()
        except Exception as exc:  # noqa: BLE001 - supervision must not end the daemon
            log_event(self.logger, logging.ERROR, "observer-supervision-failed", error=f"{type(exc).__name__}: {exc}")
            return True

    # -- one pass ----------------------------------------------------------------------------

    def _sources(self, config: Config) -> tuple[Sources, list[str]]:
        """Sources of this pass and every source name (for resolving missing-source defects).
        A command-line path that does not exist (yet) is a missing source, not a fatal error."""
        if not self.options.paths:
            return resolve_sources(config, []), [s.path for s in config.sources()]
        names = [str(Path(os.path.abspath(p))) for p in self.options.paths]
        present = [p for p in self.options.paths if p.exists()]
        missing = [n for p, n in zip(self.options.paths, names) if not p.exists()]
        if present:
            sources = resolve_sources(config, present)
            return Sources(files=sources.files, in_scope=sources.in_scope, missing=missing), names
        return Sources(files=[], in_scope=lambda _record: False, missing=missing), names

    def _pass(self, store: Store, trigger: str) -> None:
        assert self.loaded is not None
        loaded = self.loaded
        started = time.monotonic()
        now = self.clock.now()
        self.metrics.passes.labels(trigger).inc()
        try:
            sources, names = self._sources(loaded.config)
            kwargs = {"chunk_size": self.options.chunk_size} if self.options.chunk_size else {}
            ingest = Ingest(
                store, now, sink=loaded.engine, default_timezone=loaded.config.timezone,
                log=self._pipeline_message, should_stop=self._between_batches, bounded=True,
                on_batch=self.metrics.batch_seconds.observe,
                partial_line_grace=loaded.config.partial_line_grace, **kwargs,
            )
            result = ingest.run(sources.files, sources.in_scope)
            unreadable = [d.subject for d in result.defects if d.kind == "source-unreadable"]
            defects = self.health.check(store, loaded.config, sources, names, now, unreadable=unreadable)
            findings = self._report_findings(store, result)
        except LogwardenError as exc:
            self._pass_failed(f"{exc}", traceback=False)
            return
        except Exception as exc:  # noqa: BLE001 - one failed pass must not end the daemon
            self._pass_failed(f"{type(exc).__name__}: {exc}", traceback=True)
            return
        seconds = time.monotonic() - started
        self.metrics.pass_seconds.observe(seconds)
        self.metrics.observe_sources(result.stats["sources"])
        self.metrics.gaps.inc(result.stats["gaps"])
        self.metrics.last_pass.set(time.time())
        self.status.passes += 1
        self.status.last_pass_at = iso(now)
        self.status.last_error = None
        self._announce(result.defects + defects)
        if result.stats["lines_read"] or findings or trigger != "recheck":
            log_event(
                self.logger, logging.INFO, "pass", trigger=trigger, files=result.stats["files"],
                lines=result.stats["lines_read"], parsed=result.stats["lines_parsed"],
                unparsed=result.stats["lines_unparsed"], findings=findings, gaps=result.stats["gaps"],
                seconds=round(seconds, 4), stopped_early=self.stopping or None,
            )

    def _between_batches(self) -> bool:
        """The pipeline's check between batches: a committed batch is progress (a long catch-up
        pass is not a stuck loop for /health), and SIGTERM stops the pass here."""
        self.status.last_loop = time.monotonic()
        return self.stopping

    def _announce(self, defects: list[Defect]) -> None:
        """Log a defect when it appears, not at every pass while it lasts (a source silent for a
        day would otherwise fill the journal every re-check)."""
        current = {d.id for d in defects}
        for defect in defects:
            if defect.id not in self._announced:
                log_event(self.logger, logging.WARNING, "defect", kind=defect.kind, severity=defect.severity,
                          subject=defect.subject, detail=defect.detail)
        self._announced = current

    def _pass_failed(self, error: str, traceback: bool) -> None:
        self.metrics.pass_errors.inc()
        self.status.last_error = error
        log_event(self.logger, logging.ERROR, "pass-failed", error=error, retry_in=self.options.recheck)
        if traceback:
            self.logger.exception("pass-failed-traceback")

    def _pipeline_message(self, message: str) -> None:
        text = message.removeprefix("logwarden: ")
        level = logging.WARNING if text.startswith(("GAP", "warning")) else logging.INFO
        log_event(self.logger, level, "pipeline", message=text)

    def _report_findings(self, store: Store, result: RunResult) -> int:
        """Log and count the findings this pass raised or changed; observe their lag."""
        committed = self.clock.now()
        seen: set[str] = set()
        for _seq, finding_id, change in store.finding_changes_since(result.finding_seq_before, limit=1_000_000):
            finding = store.get_finding(finding_id)
            if finding is None:
                continue
            self.metrics.findings.labels(finding.scenario_id, change).inc()
            if finding_id in seen:
                continue
            seen.add(finding_id)
            self.metrics.detection_lag.observe(max(0.0, (committed - finding.last_seen).total_seconds()))
            log_event(
                self.logger, logging.WARNING, "finding", change=change, id=finding.id,
                scenario=finding.scenario_id, severity=finding.severity,
                confidence=round(finding.confidence, 4), entity=finding.entity, count=finding.count,
                first_seen=iso(finding.first_seen), last_seen=iso(finding.last_seen),
            )
        return len(seen)

    # -- escalation --------------------------------------------------------------------------

    def _escalate(self, store: Store) -> float:
        """Run the escalation engine; return the monotonic time of its next due timer."""
        assert self.loaded is not None
        escalator = self.loaded.escalator
        if escalator is None:
            self._publish(store, None)
            return math.inf
        try:
            summary = escalator.run(self.clock.now())
            self.metrics.escalation_runs.labels("ok").inc()
            if summary and _worth_logging(summary):
                log_event(self.logger, logging.INFO, "escalation", **{k: v for k, v in summary.items() if v})
            due = escalator.next_due()
        except Exception as exc:  # noqa: BLE001 - a broken channel or policy must not end the daemon
            self.metrics.escalation_runs.labels("error").inc()
            log_event(self.logger, logging.ERROR, "escalation-failed", error=f"{type(exc).__name__}: {exc}")
            self.logger.exception("escalation-failed-traceback")
            due = None
        self._publish(store, escalator)
        floor = time.monotonic() + MIN_ESCALATION_SPACING
        return math.inf if due is None else max(self.clock.monotonic_at(due), floor)

    def _publish(self, store: Store, escalator: Escalator | None) -> None:
        incidents: dict[tuple[str, str], int] = {}
        notifications: dict[tuple[str, str], int] = {}
        if escalator is not None:
            try:
                incidents, notifications = escalator.snapshot()
            except Exception as exc:  # noqa: BLE001 - metrics are best effort
                log_event(self.logger, logging.WARNING, "metrics-snapshot-failed", error=str(exc))
        try:
            defects = {
                row[0]: int(row[1])
                for row in store.execute("SELECT kind, COUNT(*) FROM defects WHERE status = 'open' GROUP BY kind")
            }
        except Exception as exc:  # noqa: BLE001 - metrics are best effort
            log_event(self.logger, logging.WARNING, "metrics-snapshot-failed", error=str(exc))
            return
        self.metrics.publish(StateSnapshot(incidents=incidents, notifications=notifications, defects_open=defects))

    # -- reload ------------------------------------------------------------------------------

    def _apply_reload(self, store: Store) -> bool:
        """SIGHUP: load config, checklist and policy anew; all valid or nothing changes."""
        assert self.loaded is not None
        old = self.loaded
        try:
            config = self.loader.load_config()
            if config.state.resolve() != old.config.state.resolve():
                raise LogwardenError(
                    f"the state file changed ({old.config.state} -> {config.state}); "
                    "restart logwarden watch to use another state file"
                )
            engine = self.loader.load_engine(config)
            escalator = self.loader.open_escalator(store, config)
        except Exception as exc:  # noqa: BLE001 - whatever the new files hold, the old keep running
            self.metrics.reloads.labels("rejected").inc()
            problems = getattr(exc, "problems", None) or [f"{exc}" if isinstance(exc, LogwardenError)
                                                           else f"{type(exc).__name__}: {exc}"]
            log_event(
                self.logger, logging.ERROR, "reload-rejected",
                problems=problems,
                keeping=f"checklist {old.engine.checklist.version} "
                        f"({len(old.engine.checklist.scenarios)} scenarios) and the running policy",
            )
            return False
        self.loaded = Loaded(config, engine, escalator)
        self._record_checklist(store)
        self.metrics.reloads.labels("applied").inc()
        log_event(
            self.logger, logging.INFO, "reloaded",
            checklist_version=engine.checklist.version, scenarios=len(engine.checklist.scenarios),
            escalation="on" if escalator is not None else "off",
        )
        return True

    def _record_checklist(self, store: Store) -> None:
        assert self.loaded is not None
        engine = self.loaded.engine
        self.status.checklist_version = engine.checklist.version
        for warning in engine.record_checklist(store, self.clock.now()) or []:
            log_event(self.logger, logging.WARNING, "checklist", message=warning)

    # -- health ------------------------------------------------------------------------------

    def health_report(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the main loop turns and the observer lives (called from the HTTP thread)."""
        status = self.status
        stalled_after = max(3 * max(self.options.recheck, self.options.tick), 60.0)
        loop_age = time.monotonic() - status.last_loop
        tree = self.tree
        observer_alive = bool(tree and tree.observer and tree.observer.is_alive())
        kind = tree.kind if tree else "starting"
        ok = loop_age < stalled_after and observer_alive
        return ok, {
            "status": "ok" if ok else "unhealthy",
            "pid": os.getpid(),
            "uptime_seconds": round(time.time() - status.started_at, 3),
            "main_loop_seconds_ago": round(loop_age, 3),
            "observer": kind if observer_alive else "dead",
            "observer_fallback": tree.fallback_reason if tree else None,
            "observer_restarts": tree.restarts if tree else 0,
            "passes": status.passes,
            "last_pass_at": status.last_pass_at,
            "last_error": status.last_error,
            "checklist_version": status.checklist_version,
        }


def _worth_logging(summary: dict[str, Any]) -> bool:
    return any(bool(v) for v in summary.values())


__all__ = ["Clock", "Daemon", "Escalator", "Loaded", "Loader", "WatchOptions"]
