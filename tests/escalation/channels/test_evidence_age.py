"""Every notification says how old its evidence is: a page about an attack that ended two weeks
ago must not read like one in progress."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from channelkit import make_note

from escalation.channels.message import markdown, plain_text, to_json


def test_a_fresh_notification_says_minutes() -> None:
    note = make_note()  # newest event 10:09:40, written 10:20:00
    assert "Age:        newest event 10m 20s before this message" in plain_text(note).splitlines()
    assert "*Age:* newest event 10m 20s before this message" in markdown(note)
    assert json.loads(to_json(note))["evidence_age_seconds"] == 620


def test_old_evidence_is_called_old_in_every_medium() -> None:
    note = make_note()
    old = replace(note, created_at=note.last_seen + timedelta(days=14, hours=3, minutes=7))
    line = "newest event 14d 3h before this message - old evidence, not a live attack"
    assert f"Age:        {line}" in plain_text(old).splitlines()
    assert f"*Age:* {line}" in markdown(old)
    assert json.loads(to_json(old))["evidence_age_seconds"] == 14 * 86400 + 3 * 3600 + 7 * 60


def test_a_notification_without_evidence_time_has_no_age() -> None:
    note = replace(make_note(), first_seen=None, last_seen=None)
    assert "Age:" not in plain_text(note)
    assert json.loads(to_json(note))["evidence_age_seconds"] is None
