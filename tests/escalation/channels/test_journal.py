"""The `file` channel: an append-only JSON-lines journal in a real file."""

from __future__ import annotations

import json
import os
import stat

import pytest
from channelkit import channel_spec, make_note

from escalation.channels import build_channel
from escalation.channels.message import payload
from escalation.channels.notification import ChannelError


def journal(tmp_path, state_dir, extra: str = ""):
    return build_channel("journal", channel_spec(f"kind: file\n{extra}"), str(tmp_path / "policy.yaml"), 1, state_dir)


def test_each_send_appends_one_json_line_to_a_private_file(tmp_path, state_dir) -> None:
    channel = journal(tmp_path, state_dir)
    channel.send(make_note())
    channel.send(make_note(id="n2", event="acknowledge", level=0))
    path = state_dir / "journal.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700  # created by the channel
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    assert json.loads(lines[0]) == payload(make_note())
    assert json.loads(lines[1])["event"] == "acknowledge"
    assert b"\x1b" not in path.read_bytes()


def test_existing_journal_is_appended_to_never_rewritten(tmp_path, state_dir) -> None:
    path = tmp_path / "logs" / "alerts.jsonl"
    path.parent.mkdir()
    path.write_text('{"earlier": true}\n')
    journal(tmp_path, state_dir, "path: logs/alerts.jsonl\n").send(make_note())
    first, second = path.read_text().splitlines()
    assert json.loads(first) == {"earlier": True} and json.loads(second)["id"] == "ntf-0001-l1-oncall-email"


def test_unwritable_path_is_not_retried(tmp_path, state_dir) -> None:
    (tmp_path / "a-directory").mkdir()
    with pytest.raises(ChannelError) as info:
        journal(tmp_path, state_dir, f"path: {tmp_path / 'a-directory'}\n").send(make_note())
    assert not info.value.retryable and "cannot append to" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_permission_denied_is_not_retried(tmp_path, state_dir) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ChannelError) as info:
        journal(tmp_path, state_dir, f"path: {locked / 'j.jsonl'}\n").send(make_note())
    assert not info.value.retryable
