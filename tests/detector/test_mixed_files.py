"""Files as servers really write them, through the whole scan: several formats in one file,
wrapped payloads, comments; the JSON stats say per format and per service what was read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))

LINES = [
    "# nginx access log, rotated by logrotate",
    '203.0.113.5 - - [07/Jun/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"',
    'Jun  7 10:00:01 web1 nginx[2869]: 203.0.113.6 - - [07/Jun/2026:10:00:01 +0000] "GET /x HTTP/1.1" 404 5 "-" "curl/8.5.0"',
    '2026/06/07 10:00:02 [error] 2869#2869: *1 open() "/srv/www/.env" failed (2: No such file or directory), '
    'client: 203.0.113.7, server: example.com, request: "GET /.env HTTP/1.1", host: "example.com"',
    "Jun  7 10:00:03 web1 sshd[12]: Failed password for root from 203.0.113.8 port 40000 ssh2",
    "\x1b[31mnot a log line at all\x1b[0m",
    '203.0.113.9 - - [07/Jun/2026:10:00:04 +0000] "GET /about HTTP/1.1" 200 512 "-" "curl/8.5.0"',
]


def test_scan_reads_every_line_in_its_own_format_and_reports_it(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    done = subprocess.run(
        [LOGWARDEN, "scan", str(log), "--state", str(tmp_path / "state.db"), "--format", "json", "--no-escalate",
         "--now", "2026-06-07T12:00:00Z"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    stats = json.loads(done.stdout)["stats"]
    assert (stats["lines_read"], stats["lines_parsed"], stats["lines_unparsed"]) == (7, 5, 2)
    assert stats["unparsed_reasons"] == {"comment": 1, "unknown-format": 1}
    by_format = stats["parsed_by"]["format"]
    assert by_format["combined"] == {"parsed": 3, "classified": 3}
    assert by_format["nginx-error"] == {"parsed": 1, "classified": 1}
    assert by_format["syslog"] == {"parsed": 1, "classified": 1}
    assert stats["parsed_by"]["service"]["sshd"] == {"parsed": 1, "classified": 1}
    samples = {sample["reason"]: sample for sample in stats["unparsed_samples"]}
    assert samples["comment"]["line"].startswith("# nginx access log")
    assert "\x1b" not in samples["unknown-format"]["line"], "log text is escaped before it is shown"
    assert samples["unknown-format"]["offset"] > 0
