"""Failure semantics shared by the HTTP channels (webhook, Slack, PagerDuty, Alertmanager),
against a real HTTP server on 127.0.0.1 that fails on purpose."""

from __future__ import annotations

import pytest
from channelkit import HttpRecorder, channel_spec, closed_port, make_note

from escalation.channels import build_channel
from escalation.channels.notification import ChannelError


def slack(url_line: str, tmp_path):
    spec = channel_spec(f"kind: slack\n{url_line}\ntimeout: 0.5\n")
    return build_channel("chat", spec, str(tmp_path / "policy.yaml"), 1, tmp_path)


def failure(server: HttpRecorder, tmp_path) -> ChannelError:
    with pytest.raises(ChannelError) as info:
        slack(f"url: {server.url}", tmp_path).send(make_note())
    return info.value


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_server_trouble_is_retryable(http_server: HttpRecorder, tmp_path, status: int) -> None:
    http_server.status, http_server.reply = status, b"busy"
    error = failure(http_server, tmp_path)
    assert error.retryable and f"answered HTTP {status}: busy" in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_rejected_request_is_not_retried(http_server: HttpRecorder, tmp_path, status: int) -> None:
    http_server.status, http_server.reply = status, b"invalid_payload"
    error = failure(http_server, tmp_path)
    assert not error.retryable and f"answered HTTP {status}: invalid_payload" in str(error)


def test_retry_after_is_reported(http_server: HttpRecorder, tmp_path) -> None:
    http_server.status, http_server.reply_headers = 429, {"Retry-After": "30"}
    error = failure(http_server, tmp_path)
    assert error.retryable and "HTTP 429 (Retry-After: 30)" in str(error)


def test_redirect_is_not_followed(http_server: HttpRecorder, tmp_path) -> None:
    http_server.status, http_server.reply_headers = 302, {"Location": "https://elsewhere.example/"}
    error = failure(http_server, tmp_path)
    assert not error.retryable and "redirect to https://elsewhere.example/" in str(error)
    assert len(http_server.requests) == 1  # not re-sent as a GET


def test_hostile_error_body_is_escaped(http_server: HttpRecorder, tmp_path) -> None:
    http_server.status, http_server.reply = 400, b"bad\x1b[2J\nforged"
    assert "bad\\x1b[2J\\nforged" in str(failure(http_server, tmp_path))


def test_server_down_is_retryable(tmp_path) -> None:
    with pytest.raises(ChannelError) as info:
        slack(f"url: http://127.0.0.1:{closed_port()}/hook", tmp_path).send(make_note())
    assert info.value.retryable and "refused" in str(info.value)


def test_server_that_never_answers_is_retryable(http_server: HttpRecorder, tmp_path) -> None:
    http_server.behaviour = "hold"
    error = failure(http_server, tmp_path)
    assert not http_server.finished.is_set()  # the server was still holding the answer
    assert error.retryable and "no complete answer within 0.5s" in str(error)


def test_server_trickling_its_answer_is_cut_off_at_the_timeout(http_server: HttpRecorder, tmp_path) -> None:
    # Every byte arrives well within the socket timeout; only the total deadline stops the send.
    http_server.behaviour = "drip"
    error = failure(http_server, tmp_path)
    assert not http_server.finished.is_set()  # the server was still dripping
    assert error.retryable and "no complete answer within 0.5s" in str(error)


def test_url_from_the_environment_and_never_echoed(http_server: HttpRecorder, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LW_TEST_SLACK_URL", http_server.url + "/T000/B000/token-secret")
    slack("url_env: LW_TEST_SLACK_URL", tmp_path).send(make_note())
    assert http_server.requests[0].path == "/hook/T000/B000/token-secret"
    http_server.status = 404
    with pytest.raises(ChannelError) as info:
        slack("url_env: LW_TEST_SLACK_URL", tmp_path).send(make_note())
    assert "token-secret" not in str(info.value) and "http://127.0.0.1:" in str(info.value)
    monkeypatch.setenv("LW_TEST_SLACK_URL", "file:///etc/passwd")
    with pytest.raises(ChannelError) as info:
        slack("url_env: LW_TEST_SLACK_URL", tmp_path).send(make_note())
    assert not info.value.retryable and "must be an http:// or https:// URL" in str(info.value)
    monkeypatch.delenv("LW_TEST_SLACK_URL")
    with pytest.raises(ChannelError) as info:
        slack("url_env: LW_TEST_SLACK_URL", tmp_path).send(make_note())
    assert not info.value.retryable and "LW_TEST_SLACK_URL is not set" in str(info.value)
