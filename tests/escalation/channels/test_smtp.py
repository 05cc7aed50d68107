"""The email channel against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS, implicit TLS,
AUTH, and every way a delivery can fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from channelkit import (
    HOSTILE_LINE,
    Certs,
    MailRecorder,
    SilentListener,
    SmtpServer,
    TricklingListener,
    channel_spec,
    closed_port,
    make_note,
    password_authenticator,
)

from detector.textsafe import terminal_safe
from escalation.channels import build_channel
from escalation.channels.message import subject
from escalation.channels.notification import ChannelError


def email_channel(port: int, extra: str = "", tmp: Path = Path("/tmp")):
    spec = channel_spec(
        f"kind: email\nhost: 127.0.0.1\nport: {port}\nfrom: logwarden@example.com\ntimeout: 0.5\n{extra}"
    )
    return build_channel("oncall-mail", spec, "policy.yaml", 1, tmp)


@pytest.fixture
def plain_smtp() -> Iterator[tuple[SmtpServer, MailRecorder]]:
    handler = MailRecorder()
    server = SmtpServer(handler)
    server.start()
    yield server, handler
    server.stop()


@pytest.fixture
def starttls_smtp(certs: Certs) -> Iterator[tuple[SmtpServer, MailRecorder]]:
    handler = MailRecorder()
    server = SmtpServer(
        handler,
        tls_context=certs.server_context(),
        require_starttls=True,
        authenticator=password_authenticator("alerts", "s3cret-from-env"),
    )
    server.start()
    yield server, handler
    server.stop()


@pytest.fixture
def implicit_tls_smtp(certs: Certs) -> Iterator[tuple[SmtpServer, MailRecorder]]:
    handler = MailRecorder()
    server = SmtpServer(handler, ssl_context=certs.server_context())
    server.start()
    yield server, handler
    server.stop()


def test_plain_delivery_carries_the_whole_incident(plain_smtp) -> None:
    server, handler = plain_smtp
    note = make_note()
    email_channel(server.port, "tls: none\n").send(note)
    (mail,) = handler.mails
    assert mail.mail_from == "logwarden@example.com" and mail.rcpt_tos == ["oncall@example.com"]
    assert not mail.tls and mail.login is None
    message = mail.message
    assert message["Subject"] == subject(note)
    assert message["From"] == "logwarden@example.com" and message["To"] == "oncall@example.com"
    assert message["Message-ID"] == "<ntf-0001-l1-oncall-email@example.com>"
    assert message["References"] == "<incident.lw-4f1c2a9b7d3e5a10@example.com>"
    assert message["Auto-Submitted"] == "auto-generated" and message["X-Logwarden-Exercise"] is None
    body = message.get_body(("plain",)).get_content()
    assert "Entity:     source.ip=203.0.113.7" in body
    assert f"/var/log/auth.log:5678: {terminal_safe(HOSTILE_LINE)}" in body
    assert "\x1b" not in body and "\u202e" not in body
    assert "logwarden incidents ack INC-4f1c2a --by <your name>" in body
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "INC-4f1c2a.json"
    assert json.loads(attachment.get_content())["dedup_key"] == "lw-4f1c2a9b7d3e5a10"


def test_exercise_is_marked_in_subject_header_and_body(plain_smtp) -> None:
    server, handler = plain_smtp
    email_channel(server.port, "tls: none\nto: [secops@example.com, lead@example.com]\n").send(make_note(exercise=True))
    (mail,) = handler.mails
    assert mail.rcpt_tos == ["secops@example.com", "lead@example.com"]  # `to` overrides the contact address
    assert mail.message["Subject"].startswith("[EXERCISE] [HIGH] SSH password brute force")
    assert mail.message["X-Logwarden-Exercise"] == "yes"
    assert "EXERCISE - this is a drill, not a real incident." in mail.message.get_body(("plain",)).get_content()


def test_starttls_with_auth_password_from_the_environment(starttls_smtp, certs: Certs, monkeypatch) -> None:
    server, handler = starttls_smtp
    monkeypatch.setenv("LW_TEST_SMTP_PASSWORD", "s3cret-from-env")
    channel = email_channel(
        server.port, f"tls: starttls\nusername: alerts\npassword_env: LW_TEST_SMTP_PASSWORD\nca_file: {certs.ca}\n"
    )
    channel.send(make_note())
    (mail,) = handler.mails
    assert mail.tls and mail.login == "alerts"


def test_wrong_password_is_not_retried(starttls_smtp, certs: Certs, monkeypatch) -> None:
    server, handler = starttls_smtp
    monkeypatch.setenv("LW_TEST_SMTP_PASSWORD", "guessed")
    channel = email_channel(
        server.port, f"tls: starttls\nusername: alerts\npassword_env: LW_TEST_SMTP_PASSWORD\nca_file: {certs.ca}\n"
    )
    with pytest.raises(ChannelError) as info:
        channel.send(make_note())
    assert not info.value.retryable and "authentication refused" in str(info.value) and "535" in str(info.value)
    assert handler.mails == []


def test_missing_password_variable_is_not_retried_and_named(starttls_smtp, certs: Certs, monkeypatch) -> None:
    server, handler = starttls_smtp
    monkeypatch.delenv("LW_TEST_SMTP_PASSWORD", raising=False)
    channel = email_channel(
        server.port, f"username: alerts\npassword_env: LW_TEST_SMTP_PASSWORD\nca_file: {certs.ca}\n"
    )
    with pytest.raises(ChannelError) as info:
        channel.send(make_note())
    assert not info.value.retryable
    assert "environment variable LW_TEST_SMTP_PASSWORD is not set" in str(info.value)


def test_implicit_tls(implicit_tls_smtp, certs: Certs) -> None:
    server, handler = implicit_tls_smtp
    email_channel(server.port, f"tls: tls\nca_file: {certs.ca}\n").send(make_note())
    (mail,) = handler.mails
    assert mail.tls and mail.rcpt_tos == ["oncall@example.com"]


def test_untrusted_certificate_is_not_retried_unless_verification_is_off(implicit_tls_smtp, certs: Certs) -> None:
    server, handler = implicit_tls_smtp
    with pytest.raises(ChannelError) as info:
        email_channel(server.port, f"tls: tls\nca_file: {certs.other_ca}\n").send(make_note())
    assert not info.value.retryable and "could not be verified" in str(info.value)
    assert handler.mails == []
    email_channel(server.port, "tls: tls\nverify: false\n").send(make_note())
    assert len(handler.mails) == 1


def test_server_without_starttls_is_not_retried(plain_smtp) -> None:
    server, handler = plain_smtp
    with pytest.raises(ChannelError) as info:
        email_channel(server.port, "tls: starttls\n").send(make_note())
    assert not info.value.retryable and "STARTTLS" in str(info.value)
    assert handler.mails == []


def test_permanent_and_temporary_recipient_refusals(plain_smtp) -> None:
    server, handler = plain_smtp
    handler.rcpt_replies["oncall@example.com"] = "550 5.1.1 no such mailbox"
    channel = email_channel(server.port, "tls: none\n")
    with pytest.raises(ChannelError) as info:
        channel.send(make_note())
    assert not info.value.retryable and "550 5.1.1 no such mailbox" in str(info.value)
    handler.rcpt_replies["oncall@example.com"] = "451 4.7.1 greylisted, try again"
    with pytest.raises(ChannelError) as info:
        channel.send(make_note())
    assert info.value.retryable and "451" in str(info.value)
    assert handler.mails == []


def test_no_recipient_is_not_retried(plain_smtp) -> None:
    server, handler = plain_smtp
    with pytest.raises(ChannelError) as info:
        email_channel(server.port, "tls: none\n").send(make_note(address=None))
    assert not info.value.retryable and "no recipient" in str(info.value)


def test_server_down_is_retryable() -> None:
    with pytest.raises(ChannelError) as info:
        email_channel(closed_port(), "tls: none\n").send(make_note())
    assert info.value.retryable and "refused" in str(info.value)


def test_silent_server_times_out_as_retryable() -> None:
    with SilentListener() as silent:
        with pytest.raises(ChannelError) as info:
            email_channel(silent.port, "tls: none\n").send(make_note())
    assert info.value.retryable and "no complete answer within 0.5s" in str(info.value)


def test_server_trickling_its_greeting_is_cut_off_at_the_timeout() -> None:
    # Every byte arrives well within the socket timeout; only the total deadline stops the send.
    with TricklingListener(b"220 mail.example.com ESMTP" + b" " * 400) as trickle:
        with pytest.raises(ChannelError) as info:
            email_channel(trickle.port, "tls: none\n").send(make_note())
        assert not trickle.finished.is_set()  # the server was still talking when the channel gave up
    assert info.value.retryable and "no complete answer within 0.5s" in str(info.value)


def test_address_with_a_line_break_is_refused_not_injected(plain_smtp) -> None:
    server, handler = plain_smtp
    with pytest.raises(ChannelError) as info:
        email_channel(server.port, "tls: none\n").send(make_note(address="a@example.com\r\nBcc: x@evil.example"))
    assert not info.value.retryable
    assert handler.mails == []


def test_partly_refused_recipients_are_reported(plain_smtp) -> None:
    server, handler = plain_smtp
    handler.rcpt_replies["gone@example.com"] = "550 5.1.1 no such mailbox"
    with pytest.raises(ChannelError) as info:
        email_channel(server.port, "tls: none\nto: [lead@example.com, gone@example.com]\n").send(make_note())
    assert not info.value.retryable
    assert "gone@example.com: 550 5.1.1 no such mailbox (the other recipients got the message)" in str(info.value)
    assert [mail.rcpt_tos for mail in handler.mails] == [["lead@example.com"]]
