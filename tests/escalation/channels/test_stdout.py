"""The `stdout` channel: one escaped human block per notification."""

from __future__ import annotations

from channelkit import channel_spec, make_note

from escalation.channels import build_channel
from escalation.channels.message import plain_text


def test_one_escaped_block_per_notification(capsys, tmp_path) -> None:
    channel = build_channel("console", channel_spec("kind: stdout\n"), "policy.yaml", 1, tmp_path)
    channel.send(make_note())
    channel.send(make_note(exercise=True))
    out = capsys.readouterr().out
    blocks = out.split("-" * 72 + "\n")
    assert blocks[:2] == [plain_text(make_note()), plain_text(make_note(exercise=True))] and blocks[2] == ""
    assert "\x1b" not in out and "\u202e" not in out
    assert blocks[1].startswith("[EXERCISE] ")
