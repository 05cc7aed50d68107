"""The chaos harness (bench/chaos.py) in CI: a short run, real processes SIGKILLed while the
logs grow and rotate, must lose and duplicate nothing; and its checks must see it when a crash
did lose or duplicate something (tampered copies of the run's state and receivers)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import chaos  # noqa: E402

KILLS = 9


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    base = tmp_path_factory.mktemp("chaos")
    work, data = base / "work", base / "data"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--kills", str(KILLS), "--lines", "40000", "--seed", "2",
         "--workdir", str(work), "--data", str(data), "--quiet"],
        capture_output=True, text=True, timeout=900,
    )
    return done, work, data


@pytest.mark.slow
def test_a_short_chaos_run_loses_and_duplicates_nothing(run: tuple[subprocess.CompletedProcess[str], Path, Path]) -> None:
    done, _, _ = run
    assert done.returncode == 0, done.stdout + done.stderr
    figures = re.search(r"^kills (\d+)  lost (\d+)  duplicated (\d+)", done.stdout, re.MULTILINE)
    assert figures is not None, done.stdout
    kills, lost, duplicated = map(int, figures.groups())
    assert kills >= KILLS and (lost, duplicated) == (0, 0)
    killed = re.search(r"^rounds .* killed (\{.*?\})", done.stdout, re.MULTILINE)
    assert killed is not None and all(mode in killed.group(1) for mode in ("scan", "watch", "tick"))
    assert "0 failed runs, 0 tracebacks" in done.stdout


def _tampered(work: Path, into: Path) -> chaos.Run:
    shutil.copytree(work, into)
    return chaos.Run(into, "logwarden", 65536, {})


def _written(data: Path) -> dict[str, int]:
    (corpus,) = [p for p in data.iterdir() if p.is_dir()]
    return {name: sum(1 for _ in open(corpus / name, "rb")) for name, _, _ in chaos.STREAMS}


@pytest.mark.slow
def test_the_checks_see_lost_and_duplicated_work(run: tuple[subprocess.CompletedProcess[str], Path, Path],
                                                  tmp_path: Path) -> None:
    _, work, data = run
    clean = chaos.Tally()
    copy = _tampered(work, tmp_path / "clean")
    chaos.check_bytes(copy, _written(data), clean)
    chaos.check_findings(copy, work / "reference" / "state.db", clean)
    chaos.check_incidents(copy, clean)
    chaos.check_notifications(copy, clean)
    assert (sum(clean.lost.values()), sum(clean.duplicated.values())) == (0, 0), clean.notes

    broken = _tampered(work, tmp_path / "broken")
    conn = sqlite3.connect(broken.state)
    # a finding the reference raised too, under the same id: it covers that one attack (a finding
    # of the run alone may span two of the reference's, the reading being split otherwise)
    conn.execute("ATTACH DATABASE ? AS reference", (str(work / "reference" / "state.db"),))
    (gone,) = conn.execute("SELECT id FROM findings WHERE id IN (SELECT id FROM reference.findings) ORDER BY id LIMIT 1").fetchone()
    conn.execute("DETACH DATABASE reference")
    first_batch = conn.execute("SELECT * FROM ingest_log ORDER BY id LIMIT 1").fetchone()
    conn.execute(f"INSERT INTO ingest_log VALUES (NULL{', ?' * (len(first_batch) - 1)})", first_batch[1:])
    conn.execute("DELETE FROM findings WHERE id = ?", (gone,))
    # a batch redone after a kill that raised its finding again under another id
    twice = conn.execute("SELECT * FROM findings ORDER BY id DESC LIMIT 1").fetchone()
    conn.execute(f"INSERT INTO findings VALUES ({', '.join('?' * len(twice))})", ("f" * 16, *twice[1:]))
    conn.commit()
    conn.close()
    received = broken.work / "webhook.jsonl"
    lines = received.read_text().splitlines()
    dropped = json.loads(lines[0])["id"]
    received.write_text("".join(line + "\n" for line in lines if json.loads(line)["id"] != dropped))
    tally = chaos.Tally()
    chaos.check_bytes(broken, _written(data), tally)
    chaos.check_findings(broken, work / "reference" / "state.db", tally)
    chaos.check_notifications(broken, tally)
    assert tally.duplicated["byte ranges committed twice"] == 1
    assert tally.duplicated["lines committed twice"] > 0
    assert tally.differs["reference findings no finding covers"] == 1
    assert tally.duplicated["findings overlapping another of the same scenario and entity"] == 1
    assert tally.lost["notifications sent but never received"] >= 1
