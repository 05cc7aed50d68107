"""The audit chain head leaves the machine (in every escalation report and digest), so cutting
the newest entries from the table, the mirror and the stored anchor together — invisible to a
local check — is caught by `verify-audit --since-head/--expect-head`; and with a key in
$LOGWARDEN_AUDIT_KEY the head is signed, so someone with the files but not the key cannot cut
the tail even without an exported head. Real CLI, real state file, real mirror."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from escalationkit import FRIDAY_EVENING, MONDAY_BUSINESS, NEXT_MONDAY_OPENING, journal, write_policy

from detector.cli.root import main
from detector.model import iso
from escalation.audit import AUDIT_KEY_ENV, MIRROR_ANCHOR_KEY, SIGNED_HEAD_KEY

M = timedelta(minutes=1)


class Site:
    """A directory with logwarden.yaml, the test policy (a journal per person) and a log."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.capsys = capsys
        write_policy(root)
        (root / "logwarden.yaml").write_text("state: state/state.db\nescalation: policy.yaml\ntimezone: UTC\n")
        (root / "logs").mkdir()

    @property
    def state(self) -> Path:
        return self.root / "state" / "state.db"

    def lw(self, *args: str, now: datetime | None = None) -> tuple[int, str, str]:
        argv = [*args, "-c", str(self.root / "logwarden.yaml")] + (["--now", iso(now)] if now else [])  # type: ignore[list-item]
        self.capsys.readouterr()
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        return code, out, err

    def append(self, lines: list[str], at: datetime, name: str) -> None:
        path = self.root / "logs" / name
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.utime(path, (at.timestamp(), at.timestamp()))

    def brute_force(self, ip: str, at: datetime) -> None:
        self.append([f"{(at - 9 * M + timedelta(seconds=40 * i)):%b %d %H:%M:%S} bastion sshd[811]: "
                     f"Failed password for root from {ip} port {40000 + i} ssh2" for i in range(7)], at, "auth.log")

    def report_head(self, now: datetime) -> dict:
        code, out, _ = self.lw("report", "escalation", "--format", "json", "--since", "2026-11-01",
                               "--until", iso(now), now=now)  # type: ignore[arg-type]
        assert code == 0
        return json.loads(out)["audit"]["head"]

    def verify(self, *extra: str) -> tuple[int, str]:
        code, out, err = self.lw("escalation", "verify-audit", *extra)
        return code, out + err

    def cut_tail(self, keep: int) -> None:
        """What an attacker with file access does: drop the newest entries from the table and the
        mirror, and move the anchor back, so that the three copies agree again."""
        conn = sqlite3.connect(self.state)
        conn.execute("DELETE FROM audit WHERE seq > ?", (keep,))
        seq, head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps({"seq": seq, "hash": head}), MIRROR_ANCHOR_KEY))
        conn.commit()
        conn.close()
        mirror = self.state.with_name("state.audit.jsonl")
        kept = [line for line in mirror.read_text().splitlines() if json.loads(line)["seq"] <= keep]
        mirror.write_text("".join(line + "\n" for line in kept))


@pytest.fixture
def site(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return Site(tmp_path, capsys)


def _activity(site: Site) -> tuple[dict, dict]:
    """An incident escalating over an hour; the report's head after 10 minutes and at the end."""
    t = MONDAY_BUSINESS
    site.brute_force("203.0.113.7", t)
    assert site.lw("scan", str(site.root / "logs"), now=t)[0] == 0
    early = site.report_head(t + 10 * M)
    for minutes in (20, 50, 70):
        assert site.lw("escalation", "tick", now=t + minutes * M)[0] == 0
    return early, site.report_head(t + 80 * M)


def test_every_escalation_report_prints_the_chain_head(site: Site) -> None:
    _, head = _activity(site)
    for fmt in ("md", "html"):
        code, out, _ = site.lw("report", "escalation", "--format", fmt, "--since", "2026-11-01",
                               now=MONDAY_BUSINESS + 80 * M)
        assert code == 0 and head["hash"] in out and f"seq {head['seq']}" in out
    code, text = site.verify("--expect-head", head["hash"])
    assert code == 0 and f"audit chain head: seq {head['seq']} sha256 {head['hash']}" in text


def test_a_cut_tail_is_caught_by_a_head_exported_earlier(site: Site) -> None:
    early, late = _activity(site)
    assert late["seq"] > early["seq"] + 2
    assert site.verify("--since-head", late["hash"])[0] == 0
    site.cut_tail(late["seq"] - 2)
    code, text = site.verify("--since-head", late["hash"])
    assert code == 1 and "no longer in the chain" in text
    code, text = site.verify("--expect-head", late["hash"][:16])  # a prefix is enough
    assert code == 1 and "not the expected" in text
    # an older head is still there: the cut came after it; as the newest, it is not
    assert site.verify("--since-head", early["hash"])[0] == 0
    code, text = site.verify("--expect-head", early["hash"])
    assert code == 1 and "entries were added after it" in text


def test_a_bad_head_argument_is_a_usage_error(site: Site) -> None:
    _activity(site)
    code, text = site.verify("--since-head", "not-a-hash")
    assert code == 2 and "sha256 of a head" in text


def test_a_signed_head_catches_a_cut_tail_without_any_exported_head(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, "correct horse battery staple")
    _, head = _activity(site)
    assert head["hmac"] and len(head["hmac"]) == 64  # the report carries the signature
    assert site.verify()[0] == 0
    site.cut_tail(head["seq"] - 3)
    code, text = site.verify()
    assert code == 1 and f"signed audit head seq {head['seq']} is no longer in the chain" in text
    # the attacker moves the signed head back too, but cannot sign it without the key
    conn = sqlite3.connect(site.state)
    seq, new_head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    conn.execute("UPDATE meta SET value = ? WHERE key = ?",
                 (json.dumps({"seq": seq, "hash": new_head, "hmac": "0" * 64}), SIGNED_HEAD_KEY))
    conn.commit()
    code, text = site.verify()
    assert code == 1 and "does not verify" in text
    conn.execute("DELETE FROM meta WHERE key = ?", (SIGNED_HEAD_KEY,))  # or removes it
    conn.commit()
    conn.close()
    code, text = site.verify()
    assert code == 1 and "is not signed" in text


def test_entries_written_without_the_key_are_named(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, "k3y")
    t = MONDAY_BUSINESS
    site.brute_force("203.0.113.7", t)
    site.lw("scan", str(site.root / "logs"), now=t)
    monkeypatch.delenv(AUDIT_KEY_ENV)  # a cron line or a shell without the key
    site.lw("escalation", "tick", now=t + 20 * M)
    monkeypatch.setenv(AUDIT_KEY_ENV, "k3y")
    code, text = site.verify()
    assert code == 1 and "were written without $LOGWARDEN_AUDIT_KEY" in text


def test_a_digest_carries_the_chain_head(site: Site) -> None:
    site.append([
        f'203.0.113.40 - - [{(FRIDAY_EVENING - 5 * M + timedelta(seconds=20 * i)):%d/%b/%Y:%H:%M:%S} +0000] '
        f'"GET /admin?id={i} HTTP/1.1" 404 120 "-" "sqlmap/1.8#stable (https://sqlmap.org)"' for i in range(3)
    ], FRIDAY_EVENING, "access.log")
    assert site.lw("scan", str(site.root / "logs"), now=FRIDAY_EVENING)[0] == 0
    assert site.lw("escalation", "tick", now=NEXT_MONDAY_OPENING)[0] == 0
    (digest,) = [m for m in journal(site.root, "alice") if m["event"] == "digest"]
    assert "Audit chain head: seq " in digest["summary"]
    exported = digest["summary"].split("sha256 ", 1)[1][:64]
    assert site.verify("--since-head", exported)[0] == 0
