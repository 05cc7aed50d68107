"""Sigma correlation rules (v2: event_count, value_count, temporal, temporal_ordered) and a
Sigma filter rule, run by `logwarden scan --sigma` over a real access log; and
`logwarden rules sigma-check` exit codes. Sigma fixtures written for these tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))

A, B, C, D, E, F, G = (f"203.0.113.{n}" for n in (1, 2, 3, 4, 5, 6, 250))


def base_rule(n: int, name: str, selection: str, level: str = "low") -> str:
    return (
        f"title: base {name}\nname: {name}\nid: 00000000-0000-4000-8000-0000000001{n:02d}\nstatus: test\n"
        f"level: {level}\nlogsource:\n    category: webserver\ndetection:\n    selection:\n{selection}"
        "    condition: selection\n"
    )


def correlation(n: int, body: str) -> str:
    return (
        f"title: correlation {n}\nid: 00000000-0000-4000-8000-0000000002{n:02d}\nstatus: test\nlevel: high\n"
        f"tags:\n    - attack.credential-access\n    - attack.t1110\ncorrelation:\n{body}"
    )


RULES = "\n---\n".join([
    base_rule(1, "login_failure", "        cs-uri-stem: /login\n        sc-status: 401\n"),
    base_rule(2, "login_success", "        cs-uri-stem: /login\n        sc-status: 200\n"),
    base_rule(3, "admin_probe", "        cs-uri-stem|startswith: /admin\n"),
    base_rule(4, "not_found", "        sc-status: 404\n"),
    correlation(1, "    type: event_count\n    rules: [login_failure]\n    group-by: [c-ip]\n    timespan: 5m\n"
                   "    condition:\n        gte: 3\n"),
    correlation(2, "    type: value_count\n    rules: [not_found]\n    group-by: [c-ip]\n    timespan: 5m\n"
                   "    condition:\n        field: cs-uri-stem\n        gte: 3\n"),
    correlation(3, "    type: temporal\n    rules: [admin_probe, login_success]\n    group-by: [c-ip]\n"
                   "    timespan: 5m\n    generate: true\n"),
    correlation(4, "    type: temporal_ordered\n    rules: [login_failure, login_success]\n    group-by: [c-ip]\n"
                   "    timespan: 5m\n"),
])

FILTER = """\
title: Our own login monitor
id: 00000000-0000-4000-8000-000000000301
logsource:
    category: webserver
filter:
    rules:
        - login_failure
    selection:
        c-ip: 192.0.2.250
    condition: not selection
"""


def line(second: int, client: str, path: str, status: int) -> str:
    return (f'{client} - - [21/Nov/2026:10:{second // 60:02d}:{second % 60:02d} +0000] "GET {path} HTTP/1.1" '
            f'{status} 100 "-" "Mozilla/5.0"')


def traffic() -> list[str]:
    rows = [
        *(line(s, A, "/login", 401) for s in (1, 2, 3)), line(4, A, "/login", 200),  # count + ordered
        *(line(s, B, "/login", 401) for s in (5, 6)),  # two failures: below the count
        *(line(10 + i, C, f"/missing/{i}", 404) for i in range(3)),  # three distinct 404 paths
        *(line(20 + i, D, "/missing/same", 404) for i in range(3)),  # one path three times
        line(30, E, "/login", 200), line(31, E, "/admin/users", 200),  # both, any order
        line(40, F, "/login", 200), line(41, F, "/login", 401),  # success before failure: not ordered
        *(line(50 + i, G.replace("203.0.113", "192.0.2"), "/login", 401) for i in range(4)),  # filtered
    ]
    return sorted(rows, key=lambda r: r.split("[")[1])


def scan(tmp_path: Path, sigma: Path) -> dict:
    log = tmp_path / "access.log"
    log.write_text("\n".join(traffic()) + "\n", encoding="utf-8")
    done = subprocess.run(
        [LOGWARDEN, "scan", str(log), "--sigma", str(sigma), "--state", str(tmp_path / "state.db"),
         "--no-escalate", "--format", "json", "--now", "2026-11-21T11:00:00Z"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_correlation_type_and_the_filter_fire_as_sigma_says(tmp_path):
    sigma = tmp_path / "sigma"
    sigma.mkdir()
    (sigma / "web_logins.yml").write_text(RULES, encoding="utf-8")
    (sigma / "filter_monitor.yml").write_text(FILTER, encoding="utf-8")
    findings = scan(tmp_path, sigma)["findings"]
    fired: dict[str, set[str]] = {}
    for finding in findings:
        if finding["scenario_id"].startswith("00000000-"):
            fired.setdefault(finding["scenario_id"][-3:], set()).add(finding["entity"]["source.ip"])
    assert fired == {
        "201": {A},  # event_count >= 3 failures; B had 2, the filtered monitor G 4
        "202": {C},  # value_count of distinct paths
        "203": {E},  # temporal: admin probe and login success, either order
        "204": {A},  # temporal_ordered: failure then success (F did it the other way round)
        "103": {E},  # admin_probe also fires alone: its correlation says `generate: true`
    }
    count = next(f for f in findings if f["scenario_id"].endswith("201"))
    assert count["count"] == 3 and count["attack"] == ["T1110"]


def sigma_check(*paths: Path, fmt: str = "text") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOGWARDEN, "rules", "sigma-check", *map(str, paths), "--format", fmt],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_sigma_check_exit_codes_and_report(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "web_logins.yml").write_text(RULES, encoding="utf-8")
    done = sigma_check(good)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sigma: 8 of 8 in-scope rules loaded (100.0 %)" in done.stdout

    skipped = tmp_path / "skipped"
    skipped.mkdir()
    (skipped / "cookie.yml").write_text(base_rule(9, "cookie", "        cs-cookie|contains: x\n"), encoding="utf-8")
    (skipped / "win.yml").write_text(
        base_rule(8, "win", "        Image: x\n").replace("category: webserver", "product: windows"), encoding="utf-8"
    )
    done = sigma_check(skipped, fmt="json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert {(r["path"].rsplit("/", 1)[1], r["status"], r["reason"]) for r in report["rules"]} == {
        ("cookie.yml", "skipped", "field not in these logs"),
        ("win.yml", "out-of-scope", "log source not read by logwarden"),
    }
    assert (report["in_scope"], report["loaded"]) == (1, 0)

    (skipped / "broken.yml").write_text("title: x\nlogsource: {category: webserver}\ndetection:\n  sel: {a: b}\n"
                                        "  condition: sel or\n", encoding="utf-8")
    done = sigma_check(skipped)
    assert done.returncode == 2
    assert f"{(skipped / 'broken.yml').resolve()}:3: not valid Sigma" in done.stdout
