"""build_channel: every kind from its policy mapping, and every problem of a bad one at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from channelkit import Certs, channel_spec

from detector.errors import PolicyError
from escalation.channels import CHANNEL_KINDS, build_channel

SOURCE = "/etc/logwarden/policy.yaml"


def build(text: str, state_dir: Path = Path("/var/lib/logwarden"), source: str = SOURCE):
    channels = channel_spec(text)["channels"]
    (name,) = channels
    return build_channel(name, channels[name], source, channels.line_of(name), state_dir)


def problems(text: str, source: str = SOURCE) -> list[str]:
    with pytest.raises(PolicyError) as info:
        build(text, source=source)
    assert info.value.exit_code == 2
    return info.value.problems


def test_every_kind_builds_with_documented_defaults(tmp_path: Path) -> None:
    specs = {
        "stdout": "kind: stdout",
        "file": "kind: file",
        "email": "kind: email\n    host: smtp.example.com\n    from: logwarden@example.com",
        "webhook": "kind: webhook\n    url: https://soar.example.com/in\n    secret_env: WEBHOOK_SECRET",
        "slack": "kind: slack\n    url_env: SLACK_WEBHOOK_URL",
        "pagerduty": "kind: pagerduty\n    routing_key_env: PD_ROUTING_KEY",
        "alertmanager": "kind: alertmanager\n    url: http://127.0.0.1:9095/alerts",
        "syslog": "kind: syslog\n    host: 127.0.0.1",
    }
    assert tuple(specs) == CHANNEL_KINDS
    built = {kind: build(f"channels:\n  c-{kind}:\n    {text}\n", tmp_path) for kind, text in specs.items()}
    assert {kind: channel.kind for kind, channel in built.items()} == {kind: kind for kind in CHANNEL_KINDS}
    assert all(channel.name == f"c-{kind}" for kind, channel in built.items())
    assert built["file"].path == tmp_path / "journal.jsonl"
    email = built["email"]
    assert (email.tls, email.port, email.timeout, email.to, email.trust.verify) == ("starttls", 587, 10.0, (), True)
    assert built["pagerduty"].endpoint.url == "https://events.pagerduty.com/v2/enqueue"
    assert built["slack"].endpoint.url is None and built["slack"].endpoint.url_env == "SLACK_WEBHOOK_URL"
    assert built["alertmanager"].receiver == "c-alertmanager"
    syslog = built["syslog"]
    assert (syslog.transport, syslog.port, syslog.facility, syslog.app_name) == ("udp", 514, 4, "logwarden")


def test_options_are_read(tmp_path: Path, certs: Certs) -> None:
    email = build(
        "channels:\n  mail:\n    kind: email\n    host: mail.example.com\n    tls: tls\n    from: lw@example.com\n"
        f"    to: [a@example.com, b@example.com]\n    username: lw\n    password_env: SMTP_PASSWORD\n"
        f"    timeout: 30s\n    ca_file: {certs.ca}\n"
    )
    assert (email.port, email.to, email.username, email.password_env, email.timeout) == (
        465, ("a@example.com", "b@example.com"), "lw", "SMTP_PASSWORD", 30.0,
    )
    assert email.trust.ca_file == certs.ca
    journal = build("channels:\n  j:\n    kind: file\n    path: journal/alerts.jsonl\n", source=str(tmp_path / "policy.yaml"))
    assert journal.path == tmp_path / "journal" / "alerts.jsonl"  # relative to the policy file
    syslog = build("channels:\n  s:\n    kind: syslog\n    host: logs.example.com\n    transport: tcp\n    port: 6514\n"
                   "    facility: local3\n    app_name: lw-prod\n    hostname: bastion-01\n    timeout: 0.5\n")
    assert (syslog.transport, syslog.port, syslog.facility, syslog.app_name, syslog.hostname, syslog.timeout) == (
        "tcp", 6514, 19, "lw-prod", "bastion-01", 0.5,
    )


def test_broken_email_channel_reports_every_problem_with_its_line() -> None:
    found = problems(
        "channels:\n"                     # 1
        "  mail:\n"                       # 2
        "    kind: email\n"               # 3
        "    hots: smtp.example.com\n"    # 4
        "    port: 99999\n"               # 5
        "    tls: ssl\n"                  # 6
        "    from: not-an-address\n"      # 7
        "    to: [secops@example.com, 42]\n"  # 8
        "    username: alerts\n"          # 9
        "    password: hunter2\n"         # 10
        "    timeout: soon\n"             # 11
        "    verify: 'no'\n"              # 12
    )
    assert found == [
        f"{SOURCE}:2: channel 'mail': host is missing; add host: smtp.example.com",
        f"{SOURCE}:4: channel 'mail': unknown key 'hots' for kind email (did you mean 'host'?); expected one of: "
        "ca_file, from, host, kind, password_env, port, timeout, tls, to, username, verify",
        f"{SOURCE}:5: channel 'mail': port 99999 is not a TCP/UDP port; use a number from 1 to 65535",
        f"{SOURCE}:6: channel 'mail': unknown tls mode 'ssl'; use one of none (plain text, local relays only), "
        "starttls (upgrade, usually port 587), tls (implicit TLS, usually port 465)",
        f"{SOURCE}:7: channel 'mail': from 'not-an-address' is not an email address; write e.g. logwarden@example.com",
        f"{SOURCE}:8: channel 'mail': to 42 is not an email address; write e.g. secops@example.com",
        f"{SOURCE}:9: channel 'mail': username is set but password_env is not; "
        "add password_env: SMTP_PASSWORD (the variable holding the password)",
        f"{SOURCE}:10: channel 'mail': password must not be written in the policy file; "
        "put it in an environment variable and write password_env: SMTP_PASSWORD",
        f"{SOURCE}:11: channel 'mail': timeout must be a positive number of seconds such as 10 "
        "(or a duration such as 30s), got 'soon'",
        f"{SOURCE}:12: channel 'mail': verify must be true or false, got 'no'",
    ]


def test_password_over_plain_smtp_is_refused() -> None:
    assert problems(
        "channels:\n  mail:\n    kind: email\n    host: smtp.example.com\n    from: lw@example.com\n"
        "    tls: none\n    username: lw\n    password_env: SMTP_PASSWORD\n"
    ) == [
        f"{SOURCE}:6: channel 'mail': tls: none with username/password_env would send the password in clear text; "
        "use tls: starttls or tls: tls"
    ]


def test_broken_http_channels_report_every_problem() -> None:
    assert problems(
        "channels:\n  hook:\n    kind: webhook\n    url: ftp://example.com/x\n    secret_env: my secret value\n"
        "    timeout: 3600\n    headers: {X-Token: abc}\n"
    ) == [
        f"{SOURCE}:4: channel 'hook': url 'ftp://example.com/x' must be an http:// or https:// URL with a host; "
        "write e.g. https://hooks.example.com/logwarden",
        f"{SOURCE}:5: channel 'hook': secret_env must name an environment variable such as WEBHOOK_SECRET "
        "(the secret itself goes in that variable, never in this file), got a text of 15 characters that is "
        "not a variable name",
        f"{SOURCE}:6: channel 'hook': timeout 3600 is too long: a slow channel would hold up escalation; "
        "use at most 300 seconds",
        f"{SOURCE}:7: channel 'hook': unknown key 'headers' for kind webhook; expected one of: "
        "ca_file, kind, secret_env, timeout, url, url_env, verify",
    ]
    assert problems("channels:\n  hook:\n    kind: webhook\n    url: https://user:pw@example.com/\n") == [
        f"{SOURCE}:2: channel 'hook': secret_env is missing; add secret_env: WEBHOOK_SECRET and export "
        "WEBHOOK_SECRET for the service",
        f"{SOURCE}:4: channel 'hook': url 'https://user:pw@example.com/' must not carry user:password@ "
        "(credentials do not belong in the policy file); write e.g. https://hooks.example.com/logwarden",
    ]
    assert problems("channels:\n  pd:\n    kind: pagerduty\n    routing_key: abc123\n") == [
        f"{SOURCE}:2: channel 'pd': routing_key_env is missing; add routing_key_env: PD_ROUTING_KEY and export "
        "PD_ROUTING_KEY for the service",
        f"{SOURCE}:4: channel 'pd': routing_key must not be written in the policy file; put it in an environment "
        "variable and write routing_key_env: PD_ROUTING_KEY",
    ]
    assert problems(
        "channels:\n  sl:\n    kind: slack\n    url: https://hooks.slack.com/x\n    url_env: SLACK_URL\n"
    ) == [f"{SOURCE}:5: channel 'sl': url and url_env are both set; keep one of them"]
    assert problems("channels:\n  am:\n    kind: alertmanager\n    ca_file: nope.pem\n    verify: true\n") == [
        f"{SOURCE}:2: channel 'am': url is missing; add url: https://alerts.example.com/hooks/alertmanager "
        "(or url_env: NAME of a variable holding it)",
        f"{SOURCE}:4: channel 'am': ca_file '/etc/logwarden/nope.pem' does not exist; give the path of a PEM "
        "file with the CA certificate(s)",
    ]


def test_tls_trust_options_must_agree(certs: Certs) -> None:
    assert problems(
        f"channels:\n  am:\n    kind: alertmanager\n    url: https://am.example.com/\n    ca_file: {certs.ca}\n"
        "    verify: false\n"
    ) == [
        f"{SOURCE}:6: channel 'am': ca_file and verify: false contradict each other; keep ca_file to trust a "
        "private CA, or remove it to skip verification (tests only)"
    ]


def test_broken_syslog_file_and_stdout_channels() -> None:
    assert problems(
        "channels:\n  sys:\n    kind: syslog\n    host: 'udp://x'\n    transport: tls\n    facility: security\n"
        "    app_name: log warden\n"
    ) == [
        f"{SOURCE}:4: channel 'sys': host 'udp://x' must be a bare host name or IP address such as syslog.example.com",
        f"{SOURCE}:5: channel 'sys': unknown transport 'tls'; use one of udp (RFC 5426), tcp (RFC 6587 octet counting)",
        f"{SOURCE}:6: channel 'sys': unknown facility 'security'; use one of kern, user, mail, daemon, auth, syslog, "
        "lpr, news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0, local1, local2, local3, local4, "
        "local5, local6, local7",
        f"{SOURCE}:7: channel 'sys': app_name 'log warden' must be 1 to 48 printable ASCII characters without "
        "spaces, e.g. logwarden",
    ]
    assert problems("channels:\n  f:\n    kind: file\n    path: 12\n") == [
        f"{SOURCE}:4: channel 'f': path must be a non-empty text such as /var/lib/logwarden/notifications.jsonl, got 12"
    ]
    assert problems("channels:\n  s:\n    kind: stdout\n    colour: true\n") == [
        f"{SOURCE}:4: channel 's': unknown key 'colour' for kind stdout; expected one of: kind"
    ]


def test_kind_problems() -> None:
    kinds = ", ".join(CHANNEL_KINDS)
    assert problems("channels:\n  x: {kind: sms}\n") == [f"{SOURCE}:2: channel 'x': unknown kind 'sms'; use one of {kinds}"]
    assert problems("channels:\n  y: {to: a}\n") == [f"{SOURCE}:2: channel 'y' has no kind; add kind: one of {kinds}"]
    assert problems("channels:\n  z: [1]\n") == [
        f"{SOURCE}:2: channel 'z' must be a mapping with a kind, e.g. {{kind: stdout}}; kinds: {kinds}"
    ]
