"""Recognizers: what sshd, PAM, sudo, su, shadow-utils and the kernel firewall log, as ECS fields.

Lines are written the way OpenSSH 8/9, Linux-PAM, sudo 1.9, util-linux su, shadow-utils and
netfilter (UFW, nftables, firewalld) really write them to /var/log/auth.log, secure and kern.log.
"""

from __future__ import annotations

import pytest

from detector.parsing.catalog import actions as catalog_actions

HEAD = "Nov 23 10:00:00 bastion "

FIELDS = ("event.action", "event.outcome", "user.name", "source.ip", "source.port")


def recognized(parse, message: str, fields=FIELDS) -> tuple:
    row = parse(HEAD + message, "syslog").row
    return tuple(row[name] for name in fields)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "sshd[1201]: Failed password for root from 203.0.113.7 port 52311 ssh2",
            ("ssh-failed-password", "failure", "root", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Failed password for invalid user admin from 203.0.113.7 port 52311 ssh2",
            ("ssh-failed-password", "failure", "admin", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Failed password for invalid user admin test from 203.0.113.7 port 52311 ssh2",
            ("ssh-failed-password", "failure", "admin test", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Failed password for invalid user x from 6.6.6.6 port 1 from 203.0.113.7 port 52311 ssh2",
            ("ssh-failed-password", "failure", "x from 6.6.6.6 port 1", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Failed publickey for git from 2001:db8::42 port 40022 ssh2: RSA SHA256:Bq0ySvLd0Ff9M9S1QYyfQGkz0fWd0aPzqO3d9Lh0i4Q",
            ("ssh-failed-publickey", "failure", "git", "2001:db8::42", 40022),
        ),
        (
            "sshd[1201]: Failed keyboard-interactive/pam for invalid user oracle from 203.0.113.7 port 52311 ssh2",
            ("ssh-failed-password", "failure", "oracle", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Accepted password for bob from 198.51.100.4 port 40022 ssh2",
            ("ssh-accepted-password", "success", "bob", "198.51.100.4", 40022),
        ),
        (
            "sshd[1201]: Accepted publickey for deploy from 198.51.100.4 port 40023 ssh2: ED25519 SHA256:3q2+7w0Yy1hXbV0ZcKkqPzQyS8hA1m0sR9d7Q6kL2vE",
            ("ssh-accepted-publickey", "success", "deploy", "198.51.100.4", 40023),
        ),
        (
            "sshd[1201]: Invalid user ftpuser from 203.0.113.7 port 60122",
            ("ssh-invalid-user", "failure", "ftpuser", "203.0.113.7", 60122),
        ),
        (
            "sshd[1201]: Invalid user  from 203.0.113.7 port 60122",
            ("ssh-invalid-user", "failure", None, "203.0.113.7", 60122),
        ),
        (
            "sshd[1201]: Invalid user admin from 203.0.113.7",
            ("ssh-invalid-user", "failure", "admin", "203.0.113.7", None),
        ),
        (
            "sshd[1201]: error: maximum authentication attempts exceeded for invalid user support from 203.0.113.7 port 52311 ssh2 [preauth]",
            ("ssh-max-auth-attempts", "failure", "support", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: error: maximum authentication attempts exceeded for root from 203.0.113.7 port 52311 ssh2 [preauth]",
            ("ssh-max-auth-attempts", "failure", "root", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Disconnected from authenticating user root 203.0.113.7 port 52311 [preauth]",
            ("ssh-preauth-disconnect", "unknown", "root", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Disconnected from invalid user oracle 203.0.113.7 port 52311 [preauth]",
            ("ssh-preauth-disconnect", "unknown", "oracle", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Connection closed by authenticating user root 2001:db8::7 port 52311 [preauth]",
            ("ssh-preauth-disconnect", "unknown", "root", "2001:db8::7", 52311),
        ),
        (
            "sshd[1201]: Connection closed by invalid user admin test 203.0.113.7 port 52311 [preauth]",
            ("ssh-preauth-disconnect", "unknown", "admin test", "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Connection closed by 203.0.113.7 port 52311 [preauth]",
            ("ssh-preauth-disconnect", "unknown", None, "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Connection reset by 203.0.113.7 port 52311 [preauth]",
            ("ssh-preauth-disconnect", "unknown", None, "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Received disconnect from 203.0.113.7 port 52311:11: Bye Bye [preauth]",
            ("ssh-preauth-client-disconnect", "unknown", None, "203.0.113.7", 52311),
        ),
        (
            "sshd-session[1201]: Received disconnect from 203.0.113.7 port 52311:11: Normal Shutdown, Thank you for playing [preauth]",
            ("ssh-preauth-client-disconnect", "unknown", None, "203.0.113.7", 52311),
        ),
        # After authentication the same words are an ordinary logout, not a pre-auth disconnect.
        (
            "sshd[1201]: Received disconnect from 198.51.100.4 port 40022:11: disconnected by user",
            ("ssh-disconnect", "unknown", None, "198.51.100.4", 40022),
        ),
        (
            "sshd[1201]: Disconnected from user bob 198.51.100.4 port 40022",
            ("ssh-disconnect", "unknown", "bob", "198.51.100.4", 40022),
        ),
        (
            "sshd[1201]: Timeout before authentication for 203.0.113.7 port 52311",
            ("ssh-auth-timeout", "failure", None, "203.0.113.7", 52311),
        ),
        (
            "sshd[1201]: Unable to negotiate with 203.0.113.7 port 52311: no matching key exchange method found.",
            ("ssh-kex-mismatch", "failure", None, "203.0.113.7", 52311),
        ),
        # Text the client chose cannot move the address: it is read where sshd writes it.
        (
            "sshd[1201]: Failed password for user from 127.0.0.1 port 20000 ssh1: ruser from 203.0.113.66",
            ("ssh-failed-password", "failure", "user", "127.0.0.1", 20000),
        ),
        (
            "sshd[1201]: Invalid user x from 6.6.6.6 port 22 from 203.0.113.7 port 60122",
            ("ssh-invalid-user", "failure", "x from 6.6.6.6 port 22", "203.0.113.7", 60122),
        ),
    ],
)
def test_sshd(parse, message, expected):
    assert recognized(parse, message) == expected


def test_unrecognized_lines_are_parsed_without_action(parse):
    lines = [
        "sshd[1201]: Server listening on 0.0.0.0 port 22.",
        "sshd[1201]: Received signal 15; terminating.",
        "sshd[1201]: error: kex_exchange_identification: Connection closed by remote host",
        "sshd[1201]: Failed password for root from 203.0.113.7 port 22 ssh2 and then some",
        "sshd[1201]: Failed password for root from not-an-address port 22 ssh2",
        "sshd[1201]: pam_unix(sshd:session): session opened for user bob(uid=1000) by bob(uid=0)",
        "CRON[77]: Failed password for root from 203.0.113.7 port 52311 ssh2",
        "sudo: pam_unix(sudo:session): session opened for user root(uid=0) by bob(uid=1000)",
    ]
    rows = parse([HEAD + line for line in lines], "syslog").rows
    assert len(rows) == len(lines)
    assert [row["event.action"] for row in rows] == [None] * len(lines)
    assert [row["log.kind"] for row in rows] == ["auth"] * 6 + ["system", "auth"]
    assert rows[6]["source.ip"] is None  # sshd's words written by another program are not sshd's


def test_pam_authentication_failure_in_any_program(parse):
    rows = parse(
        [
            HEAD + "sshd[1201]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            "rhost=203.0.113.7  user=root",
            HEAD + "sshd[1201]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            "rhost=scanner.example.net",
            HEAD + "sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 "
            "ruser=bob rhost=  user=bob",
            HEAD + "login[455]: pam_sss(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 "
            "ruser= rhost= user=alice",
        ],
        "syslog",
    ).rows
    assert [(r["event.action"], r["event.outcome"]) for r in rows] == [("pam-auth-failure", "failure")] * 4
    assert [(r["user.name"], r["source.ip"]) for r in rows] == [
        ("root", "203.0.113.7"),
        (None, None),
        ("bob", None),
        ("alice", None),
    ]
    assert [r["log.kind"] for r in rows] == ["auth"] * 4


SUDO_FIELDS = ("event.action", "event.outcome", "user.name", "user.target.name", "process.command_line")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "sudo:      bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/bash -c 'id; whoami'",
            ("sudo-command", "success", "bob", "root", "/bin/bash -c 'id; whoami'"),
        ),
        (
            "sudo[9912]:   deploy : PWD=/srv/app ; USER=postgres ; COMMAND=/usr/bin/psql",
            ("sudo-command", "success", "deploy", "postgres", "/usr/bin/psql"),
        ),
        (
            "sudo:      bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
            ("sudo-auth-failure", "failure", "bob", "root", "/usr/bin/id"),
        ),
        (
            "sudo:      bob : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
            ("sudo-auth-failure", "failure", "bob", "root", "/usr/bin/id"),
        ),
        (
            "sudo:     eve : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/eve ; USER=root ; COMMAND=/bin/sh",
            ("sudo-not-in-sudoers", "failure", "eve", "root", "/bin/sh"),
        ),
        (
            "sudo:     eve : command not allowed ; TTY=pts/1 ; PWD=/home/eve ; USER=root ; COMMAND=/usr/bin/vim /etc/shadow",
            ("sudo-not-in-sudoers", "failure", "eve", "root", "/usr/bin/vim /etc/shadow"),
        ),
        (
            "sudo:  backup : a password is required ; PWD=/ ; USER=root ; COMMAND=/usr/bin/rsync",
            ("sudo-auth-failure", "failure", "backup", "root", "/usr/bin/rsync"),
        ),
        (
            "sudo:     eve : user NOT authorized on host ; TTY=pts/1 ; PWD=/home/eve ; USER=root ; COMMAND=/bin/ls",
            ("sudo-not-in-sudoers", "failure", "eve", "root", "/bin/ls"),
        ),
    ],
)
def test_sudo(parse, message, expected):
    row = parse(HEAD + message, "syslog").row
    assert tuple(row[name] for name in SUDO_FIELDS) == expected
    assert row["log.kind"] == "auth"


SU_FIELDS = ("event.action", "event.outcome", "user.name", "user.target.name")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("su[4101]: (to root) bob on pts/0", ("su-session", "success", "bob", "root")),
        ("su[4101]: FAILED SU (to root) bob on pts/0", ("su-failure", "failure", "bob", "root")),
        ("su[4101]: Successful su for root by bob", ("su-session", "success", "bob", "root")),
        ("su[4101]: FAILED su for postgres by eve", ("su-failure", "failure", "eve", "postgres")),
        (
            "su[4101]: pam_unix(su:session): session opened for user root(uid=0) by bob(uid=1000)",
            ("su-session", "success", "bob", "root"),
        ),
        (
            "su[4101]: pam_unix(su-l:session): session opened for user postgres(uid=114) by (uid=0)",
            ("su-session", "success", None, "postgres"),
        ),
    ],
)
def test_su(parse, message, expected):
    row = parse(HEAD + message, "syslog").row
    assert tuple(row[name] for name in SU_FIELDS) == expected
    assert row["log.kind"] == "auth"


ACCOUNT_FIELDS = ("event.action", "user.name", "user.target.name", "group.name")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "useradd[3001]: new user: name=eve, UID=1001, GID=1001, home=/home/eve, shell=/bin/bash, from=/dev/pts/0",
            ("user-created", "eve", "eve", None),
        ),
        ("useradd[3001]: new group: name=eve, GID=1001", ("group-created", None, None, "eve")),
        ("groupadd[3002]: group added to /etc/group: name=ops, GID=1002", ("group-created", None, None, "ops")),
        ("usermod[3003]: add 'eve' to group 'sudo'", ("user-added-to-group", None, "eve", "sudo")),
        ("usermod[3003]: add 'eve' to shadow group 'sudo'", ("user-added-to-group", None, "eve", "sudo")),
        ("gpasswd[3004]: user eve added by root to group docker", ("user-added-to-group", "root", "eve", "docker")),
        ("userdel[3005]: delete user 'eve'", ("user-deleted", "eve", "eve", None)),
        ("usermod[3006]: change user 'eve' shell from '/bin/sh' to '/bin/bash'", ("user-modified", None, "eve", None)),
        ("usermod[3006]: lock user 'eve' password", ("user-modified", None, "eve", None)),
        ("passwd[3007]: pam_unix(passwd:chauthtok): password changed for eve", ("user-modified", None, "eve", None)),
        ("groupadd[3002]: group added to /etc/gshadow: name=ops", (None, None, None, None)),
    ],
)
def test_account_management(parse, message, expected):
    row = parse(HEAD + message, "syslog").row
    assert tuple(row[name] for name in ACCOUNT_FIELDS) == expected
    assert row["log.kind"] == "auth"


FIREWALL_FIELDS = (
    "event.action",
    "event.outcome",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "kernel: [12345.678901] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "
            "SRC=203.0.113.50 DST=10.0.0.5 LEN=44 TOS=0x00 PREC=0x00 TTL=240 ID=54321 PROTO=TCP SPT=45000 DPT=22 "
            "WINDOW=1024 RES=0x00 SYN URGP=0",
            ("firewall-drop", "failure", "203.0.113.50", 45000, "10.0.0.5", 22, "tcp"),
        ),
        (
            "kernel: [12345.678901] [UFW ALLOW] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "
            "SRC=198.51.100.7 DST=10.0.0.5 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=1 DF PROTO=TCP SPT=51000 DPT=443 "
            "WINDOW=64240 RES=0x00 SYN URGP=0",
            ("firewall-allow", "success", "198.51.100.7", 51000, "10.0.0.5", 443, "tcp"),
        ),
        (
            "kernel: nft drop in: IN=ens3 OUT= MAC=fa:16:3e:aa:bb:cc:fa:16:3e:dd:ee:ff:86:dd SRC=2001:db8::66 "
            "DST=2001:db8::5 LEN=80 TC=0 HOPLIMIT=57 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=5353 LEN=40",
            ("firewall-drop", "failure", "2001:db8::66", 5353, "2001:db8::5", 5353, "udp"),
        ),
        (
            "kernel: FINAL_REJECT: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.51 "
            "DST=10.0.0.5 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1",
            ("firewall-drop", "failure", "203.0.113.51", None, "10.0.0.5", None, "icmp"),
        ),
        (
            "kernel: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.52 DST=10.0.0.5 LEN=40 "
            "TOS=0x00 PREC=0x00 TTL=240 ID=1 PROTO=TCP SPT=1 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0",
            ("firewall-drop", "failure", "203.0.113.52", 1, "10.0.0.5", 3389, "tcp"),
        ),
    ],
)
def test_kernel_firewall(parse, message, expected):
    row = parse(HEAD + message, "syslog").row
    assert tuple(row[name] for name in FIREWALL_FIELDS) == expected
    assert row["log.kind"] == "firewall"


def test_every_action_the_recognizers_emit_is_in_the_catalog(parse):
    lines = [
        "sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2",
        "sshd[1]: Failed publickey for root from 203.0.113.7 port 1 ssh2",
        "sshd[1]: Accepted password for root from 203.0.113.7 port 1 ssh2",
        "sshd[1]: Accepted publickey for root from 203.0.113.7 port 1 ssh2",
        "sshd[1]: Invalid user x from 203.0.113.7 port 1",
        "sshd[1]: Connection closed by 203.0.113.7 port 1 [preauth]",
        "sshd[1]: error: maximum authentication attempts exceeded for root from 203.0.113.7 port 1 ssh2 [preauth]",
        "sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4",
        "sudo:   bob : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/true",
        "sudo:   bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/true",
        "sudo:   bob : user NOT in sudoers ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/true",
        "su: (to root) bob on pts/0",
        "su: FAILED SU (to root) bob on pts/0",
        "useradd[1]: new user: name=eve, UID=1001, GID=1001, home=/home/eve, shell=/bin/bash, from=/dev/pts/0",
        "userdel[1]: delete user 'eve'",
        "usermod[1]: change user 'eve' shell from '/bin/sh' to '/bin/bash'",
        "usermod[1]: add 'eve' to group 'sudo'",
        "groupadd[1]: new group: name=eve, GID=1001",
        "kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=1 PROTO=TCP SPT=1 DPT=2",
        "kernel: [1.0] [UFW ALLOW] IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=1 PROTO=TCP SPT=1 DPT=2",
    ]
    actions = parse([HEAD + line for line in lines], "syslog").column("event.action")
    assert None not in actions
    assert set(actions) <= set(catalog_actions())
