"""The daemon's own supervision, in process: an observer thread that dies is restarted by the
main loop, counted in the metrics, logged, and followed by a full pass (its events were lost);
/health reports the observer alive again and the new observer's hints drive the next read."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from pathlib import Path

from watchkit import T0, BundledLoader, append, auth_failure, findings, lines_ingested, memory_logger, wait_for

from detector.daemon.watch import Daemon, WatchOptions


def test_a_dead_observer_is_restarted_by_the_loop_counted_and_followed_by_a_pass(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    stream = io.StringIO()
    logger = memory_logger("logwarden.test.supervision", stream)
    # re-checks and ticks far apart: after the restart, only supervision can start a pass
    options = WatchOptions(paths=(logs,), recheck=600, tick=600)
    state = tmp_path / "state" / "state.db"
    daemon = Daemon(options, BundledLoader(state), logger)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["code"] = daemon.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="daemon-under-test")
    thread.start()
    try:
        wait_for(lambda: daemon.status.passes >= 1 or "error" in outcome, "the start-up pass")
        assert "error" not in outcome, outcome
        tree = daemon.tree
        assert tree is not None and tree.observer is not None
        passes_before = daemon.status.passes
        dead = tree.observer
        dead.stop()  # the observer thread ends as if it had crashed
        dead.join(timeout=30)
        assert not dead.is_alive()

        wait_for(lambda: (daemon.metrics.value("logwarden_observer_restarts_total") or 0) >= 1,
                 "the restart to be counted")
        # nothing else can start a pass now: no file changed, the re-check is 10 minutes away
        wait_for(lambda: daemon.status.passes > passes_before, "a full pass after the restart")
        assert daemon.metrics.value("logwarden_observer_restarts_total") == 1
        assert "event=observer-restarted" in stream.getvalue()
        ok, health = daemon.health_report()
        assert ok and health["observer"] == "inotify" and health["observer_restarts"] == 1
        assert tree.observer is not dead and tree.observer.is_alive()

        # the new observer's notifications wake the daemon (the next re-check is 10 minutes away)
        append(logs / "auth.log", [auth_failure("203.0.113.195", j, T0 + timedelta(seconds=j)) for j in range(6)])
        wait_for(lambda: lines_ingested(state) == 6,
                 "the appended lines read after a notification")
    finally:
        daemon.request_stop("test")
        thread.join(timeout=60)
    assert not thread.is_alive() and outcome.get("code") == 0, outcome
    assert [f["entity"] for f in findings(state) if f["scenario_id"] == "ssh-bruteforce"] == [
        {"source.ip": "203.0.113.195"}
    ]
