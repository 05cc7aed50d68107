"""A backlog of real generator traffic with one cross-source attack in it: ten hours of a
shop's access log and its bastion's auth.log, read by the interleave and engine tests."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import generate_logs  # noqa: E402

ATTACKER = "192.0.2.201"


def backlog(root: Path) -> list[Path]:
    """Ten hours of a shop's access log and its bastion's auth.log (real generator traffic),
    with a scanner at 03:00 and, 20 minutes later and again at 08:00, SSH logins from it."""
    start = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
    access = [line for line in generate_logs.generate("access", 9000, seed=3, start=start.isoformat(), rate=0.25, attack_rate=0)]
    auth = [line for line in generate_logs.generate("auth-iso", 6000, seed=4, start=start.isoformat(), rate=0.17, attack_rate=0)]
    scan_at = start + timedelta(hours=3)
    for i, path in enumerate(["/.env", "/wp-login.php", "/admin/", "/.git/config", "/phpmyadmin/", "/backup.sql"]):
        ts = (scan_at + timedelta(seconds=i)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        access.append(f'{ATTACKER} - - [{ts}] "GET {path} HTTP/1.1" 404 153 "-" "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000{i})"\n')
    for at in (scan_at + timedelta(minutes=20), start + timedelta(hours=8)):
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00")
        auth.append(f"{stamp} bastion01 sshd[4242]: Accepted password for deploy from {ATTACKER} port 50022 ssh2\n")
    paths = []
    for name, lines in (("access.log", access), ("auth.log", auth)):
        lines.sort(key=time_of)
        path = root / name
        path.write_text("".join(lines))
        paths.append(path)
    return paths


def time_of(line: str) -> datetime:
    if line[4:5] == "-" and line[10:11] == "T":
        return datetime.fromisoformat(line.split(" ", 1)[0])
    return datetime.strptime(line.split("[", 1)[1].split("]", 1)[0], "%d/%b/%Y:%H:%M:%S %z")
