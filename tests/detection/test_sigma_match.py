"""Sigma rules run on real log lines: every modifier, the condition forms, keywords, null and
empty values, and the field mapping of each log source, through the same parse + match path
as `logwarden match` (Sigma fixtures written for these tests)."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
from detection.builders import auth_failure_rule, scenario_doc, write_checklist

from detector.checklist import load_checklist
from detector.cli.matchview import MatchSummary, match_files

RULE_ID = "00000000-0000-4000-8000-000000000001"


def access(target: str, status: int = 200, agent: str = "Mozilla/5.0", referrer: str = "-",
           client: str = "203.0.113.7", method: str = "GET") -> str:
    return (f'{client} - - [21/Nov/2026:10:00:00 +0000] "{method} {target} HTTP/1.1" {status} 512 '
            f'"{referrer}" "{agent}"')


def sigma_rule(detection: str, logsource: str = "category: webserver", rule_id: str = RULE_ID) -> str:
    return (
        f"title: test rule\nid: {rule_id}\nstatus: stable\nlevel: high\ndate: 2026-01-01\n"
        f"logsource:\n{textwrap.indent(logsource, '    ')}\ndetection:\n{textwrap.indent(detection, '    ')}"
    )


def matched(tmp_path: Path, rules: dict[str, str], logs: dict[str, list[str]], **meta) -> dict[str, list[int]]:
    """rule id -> numbers (1-based) of the lines it matched, over every log file."""
    for name, text in rules.items():
        (tmp_path / "sigma").mkdir(parents=True, exist_ok=True)
        (tmp_path / "sigma" / name).write_text(text, encoding="utf-8")
    checklist_dir = write_checklist(
        tmp_path, [scenario_doc("ssh-failures", rules={"failure": auth_failure_rule()})], sigma=["../sigma"], **meta
    )
    checklist = load_checklist(checklist_dir)
    assert checklist.extra["sigma"].count("skipped") == 0, checklist.extra["sigma"].outcomes
    paths = []
    for name, lines in logs.items():
        path = tmp_path / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    hits: dict[str, list[int]] = {}
    for row in match_files(paths, checklist, MatchSummary(), "UTC"):
        for key in row.rules:
            hits.setdefault(key.split("/")[0], []).append(row.line_no)
    return hits


def lines_matched(tmp_path: Path, detection: str, lines: list[str], logsource: str = "category: webserver",
                  **meta) -> list[int]:
    return matched(tmp_path, {"r.yml": sigma_rule(detection, logsource)}, {"access.log": lines}, **meta).get(RULE_ID, [])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Each case: a detection, then lines; the lines marked True must match, the others must not.
MODIFIER_CASES = {
    "contains (case-insensitive)": (
        "sel:\n    cs-uri-query|contains: 'cmd='\ncondition: sel",
        [(access("/shell.php?cmd=id"), True), (access("/shell.php?CMD=id"), True), (access("/index.php?q=1"), False)],
    ),
    "startswith": (
        "sel:\n    cs-uri-stem|startswith: '/admin'\ncondition: sel",
        [(access("/admin/login"), True), (access("/x/admin"), False)],
    ),
    "endswith": (
        "sel:\n    cs-uri-stem|endswith: '.env'\ncondition: sel",
        [(access("/.env"), True), (access("/.env.bak"), False)],
    ),
    "all": (
        "sel:\n    cs-uri-query|contains|all: ['union', 'select']\ncondition: sel",
        [(access("/p?id=1+UNION+SELECT+2"), True), (access("/p?id=union"), False)],
    ),
    "re (case-sensitive)": (
        "sel:\n    cs-uri-query|re: 'id=[0-9]+ OR 1=1'\ncondition: sel",
        [(access("/p?id=7+OR+1=1"), True), (access("/p?id=7+or+1=1"), False)],
    ),
    "re|i": (
        "sel:\n    cs-uri-query|re|i: 'id=[0-9]+ or 1=1'\ncondition: sel",
        [(access("/p?id=7+OR+1=1"), True), (access("/p?id=x+or+1=1"), False)],
    ),
    "cidr": (
        "sel:\n    c-ip|cidr: 203.0.113.0/24\ncondition: sel",
        [(access("/"), True), (access("/", client="198.51.100.1"), False)],
    ),
    "cased": (
        "sel:\n    cs-user-agent|contains|cased: 'Nikto'\ncondition: sel",
        [(access("/", agent="Mozilla/5.00 (Nikto/2.5.0)"), True), (access("/", agent="nikto"), False)],
    ),
    "exists": (
        "sel:\n    cs-referer|exists: true\ncondition: sel",
        [(access("/", referrer="https://a.example/"), True), (access("/"), False)],
    ),
    "gte and lt": (
        "sel:\n    sc-status|gte: 400\n    sc-status|lt: 500\ncondition: sel",
        [(access("/", status=404), True), (access("/", status=500), False), (access("/", status=200), False)],
    ),
    "gt and lte": (
        "sel:\n    sc-status|gt: 200\n    sc-status|lte: 302\ncondition: sel",
        [(access("/", status=302), True), (access("/", status=200), False)],
    ),
    "neq": (
        "sel:\n    cs-method|neq: GET\n    cs-uri-stem: /login\ncondition: sel",
        [(access("/login", method="POST"), True), (access("/login"), False)],
    ),
    "base64": (
        "sel:\n    cs-uri-query|base64|contains: 'whoami'\ncondition: sel",
        [(access(f"/x?c={b64(b'whoami')}"), True), (access("/x?c=whoami"), False)],
    ),
    "base64offset": (
        "sel:\n    cs-uri-query|base64offset|contains: '/bin/sh'\ncondition: sel",
        [(access(f"/x?c={b64(prefix + b'/bin/sh -i')}"), True) for prefix in (b"", b"a", b"ab")]
        + [(access(f"/x?c={b64(b'/bin/bash')}"), False)],
    ),
    "utf16le|base64offset (PowerShell -enc)": (
        "sel:\n    cs-uri-query|utf16le|base64offset|contains: 'whoami'\ncondition: sel",
        [(access(f"/x?e={b64('whoami /all'.encode('utf-16le'))}"), True), (access(f"/x?e={b64(b'whoami')}"), False)],
    ),
    "wide|base64offset": (
        "sel:\n    cs-uri-query|wide|base64offset|contains: 'whoami'\ncondition: sel",
        [(access(f"/x?e={b64('cmd whoami'.encode('utf-16le'))}"), True)],
    ),
    "utf16be|base64": (
        "sel:\n    cs-uri-query|utf16be|base64|contains: 'id'\ncondition: sel",
        [(access(f"/x?e={b64('id'.encode('utf-16be'))}"), True), (access(f"/x?e={b64('id'.encode('utf-16le'))}"), False)],
    ),
    "utf16|base64 (with BOM)": (
        "sel:\n    cs-uri-query|utf16|base64|contains: 'id'\ncondition: sel",
        [(access(f"/x?e={b64('id'.encode('utf-16'))}"), True), (access(f"/x?e={b64(b'id')}"), False)],
    ),
    "windash": (
        "sel:\n    cs-uri-query|windash|contains: 'powershell -enc '\ncondition: sel",
        [(access("/x?c=powershell+-enc+AA"), True), (access("/x?c=powershell+/enc+AA"), True),
         (access("/x?c=powershell+enc+AA"), False)],
    ),
    "fieldref": (
        "sel:\n    cs-referer|fieldref: c-uri\ncondition: sel",
        [(access("http://a.example/x", referrer="http://a.example/x"), True),
         (access("http://a.example/x", referrer="http://b.example/"), False)],
    ),
    "null": (
        "sel:\n    cs-referer: null\n    cs-uri-stem: /null\ncondition: sel",
        [(access("/null"), True), (access("/null", referrer="https://a.example/"), False)],
    ),
    "empty is not null": (
        "sel:\n    cs-uri-query: ''\ncondition: sel",
        [(access("/x?"), True), (access("/x"), False), (access("/x?a"), False)],
    ),
}


@pytest.mark.parametrize("case", sorted(MODIFIER_CASES))
def test_modifier(tmp_path, case):
    detection, lines = MODIFIER_CASES[case]
    logsource = "category: proxy" if case == "fieldref" else "category: webserver"
    expected = [number for number, (_, hit) in enumerate(lines, start=1) if hit]
    assert lines_matched(tmp_path, detection, [line for line, _ in lines], logsource) == expected


def test_expand_takes_placeholder_values_from_the_checklist(tmp_path):
    detection = "sel:\n    cs-uri-stem|expand|startswith: '%admin_paths%'\ncondition: sel"
    lines = [access("/wp-admin/x"), access("/phpmyadmin/"), access("/shop/")]
    got = lines_matched(tmp_path, detection, lines, sigma_placeholders={"admin_paths": ["/wp-admin", "/phpmyadmin"]})
    assert got == [1, 2]


CONDITION_CASES = {
    "1 of selection*": ("selection_a:\n    cs-uri-stem: /a\nselection_b:\n    cs-uri-stem: /b\n"
                        "condition: 1 of selection*", [1, 2, 4]),
    "all of them": ("sel_path:\n    cs-uri-stem: /a\nsel_status:\n    sc-status: 404\ncondition: all of them", [4]),
    "not 1 of filter*": ("sel:\n    cs-uri-stem|startswith: /\nfilter_b:\n    cs-uri-stem: /b\n"
                         "filter_status:\n    sc-status: 404\ncondition: sel and not 1 of filter*", [1, 3]),
    "parentheses": ("a:\n    cs-uri-stem: /a\nb:\n    cs-uri-stem: /b\nnotfound:\n    sc-status: 404\n"
                    "condition: (a or b) and not notfound", [1, 2]),
    "list of maps is OR": ("sel:\n    - cs-uri-stem: /a\n      sc-status: 200\n    - cs-uri-stem: /c\ncondition: sel", [1, 3]),
}


@pytest.mark.parametrize("case", sorted(CONDITION_CASES))
def test_condition_forms(tmp_path, case):
    detection, expected = CONDITION_CASES[case]
    lines = [access("/a"), access("/b"), access("/c"), access("/a", status=404)]
    assert lines_matched(tmp_path, detection, lines) == expected


def test_keywords_search_the_raw_line_and_all_needs_every_one(tmp_path):
    lines = [access("/", agent="sqlmap/1.8"), access("/p?q=union+select"), access("/p?q=union")]
    assert lines_matched(tmp_path, "keywords:\n    - 'SQLMAP'\ncondition: keywords", lines) == [1]
    both = "keywords:\n    '|all':\n        - 'union'\n        - 'select'\ncondition: keywords"
    assert lines_matched(tmp_path / "all", both, lines) == [2]


def test_cs_uri_query_matches_either_the_query_or_the_whole_target(tmp_path):
    """SigmaHQ webserver rules put path text in cs-uri-query: both readings match, and the
    decoded query too (`%2e%2e` and `+` read as they are meant)."""
    detection = "sel:\n    cs-uri-query|contains:\n        - '/etc/passwd'\n        - 'union select'\ncondition: sel"
    lines = [access("/../../etc/passwd"), access("/view?file=/etc/passwd"), access("/p?q=1+union+select+2"),
             access("/etc/hosts?x=passwd")]
    assert lines_matched(tmp_path, detection, lines) == [1, 2, 3]


def test_proxy_fields_read_absolute_targets(tmp_path):
    detection = (
        "host:\n    cs-host: api.telegram.org\n    c-uri|contains: chat_id=\n"
        "ext:\n    c-uri-extension: exe\n    c-useragent|contains: curl\n    sc-status: 200\n"
        "condition: host or ext"
    )
    lines = [
        access("http://API.telegram.org/bot1/sendMessage?chat_id=42"),
        access("http://dl.example/payload.exe", agent="curl/8.5"),
        access("http://dl.example/payload.exe?x=1", agent="curl/8.5"),
        access("http://dl.example/payload.exe.txt", agent="curl/8.5"),
        access("http://api.telegram.org.evil.example/?chat_id=1"),
        access("http://dl.example/payload.exe", agent="curl/8.5", status=404),
    ]
    assert lines_matched(tmp_path, detection, lines, "category: proxy") == [1, 2, 3]


def test_log_sources_read_only_their_own_log_kinds(tmp_path):
    """A linux keyword rule fires on syslog lines only, an application rule on the JSON
    application log only, a web-error rule on the error log only; none on an access line that
    happens to carry the same text."""
    rules = {
        "lnx.yml": sigma_rule("keywords:\n    - 'Corrupted MAC on input'\ncondition: keywords",
                              "product: linux\nservice: sshd", "00000000-0000-4000-8000-00000000000a"),
        "sudo.yml": sigma_rule("sel:\n    USER|startswith: '#-'\ncondition: sel",
                               "product: linux\nservice: sudo", "00000000-0000-4000-8000-00000000000b"),
        "app.yml": sigma_rule("sel:\n    logtype: 2000\ncondition: sel",
                              "category: application\nproduct: opencanary", "00000000-0000-4000-8000-00000000000c"),
        "appkw.yml": sigma_rule("keywords:\n    - 'Corrupted MAC on input'\ncondition: keywords",
                                "category: application\nproduct: python", "00000000-0000-4000-8000-00000000000d"),
        "err.yml": sigma_rule("keywords:\n    - 'exit signal Segmentation Fault'\ncondition: keywords",
                              "service: apache", "00000000-0000-4000-8000-00000000000e"),
    }
    logs = {
        "auth.log": [
            "Nov 21 10:00:00 bastion sshd[812]: Corrupted MAC on input. [preauth]",
            "Nov 21 10:00:01 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=#-1 ; COMMAND=/bin/id",
            "Nov 21 10:00:02 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/id",
        ],
        "canary.jsonl": [
            '{"ts": "2026-11-21T10:00:00Z", "logtype": 2000, "src_host": "198.51.100.9", "msg": "login"}',
            '{"ts": "2026-11-21T10:00:01Z", "logtype": 3000, "src_host": "198.51.100.9", "msg": "Corrupted MAC on input"}',
        ],
        "error_log": [
            "[Sat Nov 21 10:00:00.000000 2026] [core:notice] [pid 101] AH00052: child pid 4242 exit signal Segmentation Fault (11)",
        ],
        "access.log": [access("/?q=Corrupted+MAC+on+input+exit+signal+Segmentation+Fault")],
    }
    hits = matched(tmp_path, rules, logs)
    by_file = {rid[-1]: lines for rid, lines in hits.items()}
    assert by_file == {"a": [1], "b": [2], "c": [1], "d": [2], "e": [1]}
