"""The daemon's metrics: per-stream line counters, state snapshots, and the HTTP endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from detector.daemon.metrics import Metrics, MetricsServer, StateSnapshot, parse_address
from detector.errors import UsageError


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_lines_are_counted_per_stream_not_per_rotated_file() -> None:
    metrics = Metrics()
    metrics.observe_sources([
        {"path": "/var/log/nginx/access.log.1", "lines": 10, "parsed": 9, "unparsed": 1, "bytes": 1000},
        {"path": "/var/log/nginx/access.log", "lines": 5, "parsed": 5, "unparsed": 0, "bytes": 500},
        {"path": "/var/log/auth.log.2.gz", "lines": 3, "parsed": 2, "unparsed": 1, "bytes": 300},
    ])
    nginx = {"source": "/var/log/nginx/access.log"}
    assert metrics.value("logwarden_lines_read_total", nginx) == 15
    assert metrics.value("logwarden_lines_parsed_total", nginx) == 14
    assert metrics.value("logwarden_lines_unparsed_total", nginx) == 1
    assert metrics.value("logwarden_bytes_read_total", nginx) == 1500
    assert metrics.value("logwarden_lines_unparsed_total", {"source": "/var/log/auth.log"}) == 1


def test_a_snapshot_replaces_the_previous_one_whole() -> None:
    metrics = Metrics()
    metrics.publish(StateSnapshot(
        incidents={("ssh-bruteforce", "open"): 2},
        notifications={("email", "sent"): 3, ("email", "failed"): 1},
        defects_open={"source-silent": 1},
    ))
    assert metrics.value("logwarden_incidents", {"scenario": "ssh-bruteforce", "status": "open"}) == 2
    assert metrics.value("logwarden_notifications", {"channel": "email", "status": "failed"}) == 1
    assert metrics.value("logwarden_defects_open", {"kind": "source-silent"}) == 1
    metrics.publish(StateSnapshot(incidents={("ssh-bruteforce", "acknowledged"): 2}))
    assert metrics.value("logwarden_incidents", {"scenario": "ssh-bruteforce", "status": "open"}) is None
    assert metrics.value("logwarden_incidents", {"scenario": "ssh-bruteforce", "status": "acknowledged"}) == 2
    assert metrics.value("logwarden_defects_open", {"kind": "source-silent"}) is None


def test_label_values_from_hostile_paths_are_escaped_in_the_exposition() -> None:
    metrics = Metrics()
    metrics.observe_sources([{"path": '/logs/x"} 1\nfake_metric 9', "lines": 1, "parsed": 1, "unparsed": 0, "bytes": 1}])
    server = MetricsServer("127.0.0.1:0", metrics, lambda: (True, {"status": "ok"}))
    server.start()
    try:
        status, _, text = _get(f"http://{server.address}/metrics")
    finally:
        server.stop()
    assert status == 200
    assert not any(line.startswith("fake_metric") for line in text.splitlines())
    assert 'source="/logs/x\\"} 1\\nfake_metric 9"' in text


def test_the_endpoint_serves_metrics_health_and_404() -> None:
    metrics = Metrics()
    metrics.observer_restarts.inc()
    healthy = {"ok": True}
    server = MetricsServer("127.0.0.1:0", metrics, lambda: (healthy["ok"], {"status": "ok" if healthy["ok"] else "unhealthy"}))
    server.start()
    try:
        base = f"http://{server.address}"
        status, content_type, text = _get(f"{base}/metrics")
        assert status == 200 and content_type.startswith("text/plain")
        assert "logwarden_observer_restarts_total 1.0" in text
        assert "# TYPE logwarden_detection_lag_seconds histogram" in text
        status, content_type, body = _get(f"{base}/health")
        assert (status, content_type, json.loads(body)) == (200, "application/json", {"status": "ok"})
        healthy["ok"] = False
        status, _, body = _get(f"{base}/health")
        assert (status, json.loads(body)["status"]) == (503, "unhealthy")
        status, _, _ = _get(f"{base}/admin")
        assert status == 404
    finally:
        server.stop()


@pytest.mark.parametrize("text", ["9464", "localhost", "host:port", ":9464", "host:70000"])
def test_bad_metrics_addresses_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="expected HOST:PORT"):
        parse_address(text)


def test_addresses_accept_ipv6_brackets() -> None:
    assert parse_address("[::1]:9464") == ("::1", 9464)
    assert parse_address("0.0.0.0:0") == ("0.0.0.0", 0)
