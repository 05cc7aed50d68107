"""The event catalog: every template's own sample line reads as that template says, through the
whole per-line parser (format guess, header, catalog), and bad catalog files are refused."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from detector.parsing import parse_any
from detector.parsing.base import ParseContext
from detector.parsing.catalog import CatalogError, load_catalog
from detector.parsing.catalog.model import literal_prefix, literal_prefixes, load_service

CTX = ParseContext(path="/var/log/sample.log", timezone="UTC", file_mtime=datetime(2026, 6, 9, tzinfo=timezone.utc))
TEMPLATES = [template for service in load_catalog() for template in service.templates]


@pytest.mark.parametrize("template", TEMPLATES, ids=[f"{t.service}:{t.action}:{t.where.rsplit(':', 1)[1]}" for t in TEMPLATES])
def test_every_template_reads_its_sample(template):
    result = parse_any(pa.array([template.sample]), None, CTX).result
    rows = result.table.to_pylist()
    assert len(rows) == 1, f"{template.where}: sample not parsed ({result.unparsed_reason.to_pylist()})"
    row = rows[0]
    assert (row["event.action"], row["event.outcome"]) == (template.action, template.outcome), template.where
    if template.service != "pam":  # PAM lines belong to the program that loaded the module
        assert row["event.dataset"] == template.service, template.where
    for field, value in template.expect:
        assert row.get(field) == value, f"{template.where}: {field}"


def test_every_template_has_a_sample_and_the_services_cover_the_issue_list():
    names = {service.name for service in load_catalog()}
    assert {
        "sshd", "dropbear", "pam", "su", "sudo", "vsftpd", "proftpd", "pure-ftpd", "dovecot", "postfix", "exim",
        "named", "strongswan", "openvpn", "auditd", "pf", "netfilter", "httpd-error", "nginx-error",
    } <= names
    assert all(template.sample for template in TEMPLATES)


def test_literal_prefix_stops_at_the_first_variable_part():
    assert literal_prefix(r"Failed (?:password|none) for") == "Failed "
    assert literal_prefix(r"ROOT LOGIN REFUSED FROM x") == "ROOT LOGIN REFUSED FROM x"
    assert literal_prefix(r"error: PAM\: x") == "error: PAM: x"
    assert literal_prefix(r"abc?d") == "ab"
    assert literal_prefix(r"\[ID") == "[ID"
    assert literal_prefixes(r"(?:Invalid|Illegal) user") == ("Invalid user", "Illegal user")
    assert literal_prefixes(r"(?:error: )?Received") == ("error: Received", "Received")
    assert literal_prefixes(r"(?:x|(?:y|z)w)") == ("x", "yw", "zw")
    assert literal_prefixes(r" *x") == ()
    assert literal_prefixes(r"(?:a(?:b|c)|d)x") == ("a", "dx")
    # a literal start is extended by the group right after it
    assert literal_prefixes(r"Failed (?:password|none) for") == ("Failed password for", "Failed none for")
    assert literal_prefixes(r"a(?:b|c(?:d|e)f)?g") == ("abg", "ac", "ag")
    assert literal_prefixes(r"a(?:[)|]x|y)z") == ("a",)  # an alternative without a literal start
    assert literal_prefixes(r"a(?:\)|[]|(]x|y)z") == ("a",)  # `|`, `(`, `)` inside a class
    assert literal_prefixes(r"a(?:\)|y)z") == ("a)z", "ayz")
    assert literal_prefixes(r"a(?:b|c)*d") == ("a",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service: x\nprograms: [x]\ntemplates:\n  - {action: a, outcome: failure, sample: s}\n", "needs a text `match`"),
        ("service: x\nprograms: [x]\ntemplates:\n  - {match: 'a(', action: a, outcome: failure, sample: s}\n", "RE2"),
        ("service: x\nprograms: [x]\ntemplates:\n  - {match: 'a %{nope}', action: a, outcome: failure, sample: s}\n", "unknown placeholder"),
        ("service: x\nprograms: [x]\ntemplates:\n  - {match: 'a %{word:no.such}', action: a, outcome: failure, sample: s}\n", "no ECS field"),
        ("service: x\nprograms: [x]\ntemplates:\n  - {match: 'a', action: a, outcome: maybe, sample: s}\n", "outcome must be"),
        ("service: x\ntemplates: []\n", "needs `programs` or `formats`"),
    ],
)
def test_a_bad_catalog_file_names_file_line_and_fix(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        load_service(path)
    assert str(path) in str(caught.value) and message in str(caught.value)
    assert caught.value.exit_code == 2


def test_docs_list_every_format_service_and_action():
    from detector.schema import FORMATS

    text = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    for fmt in FORMATS:
        assert f"| `{fmt}` |" in text, fmt
    for service in load_catalog():
        assert f"### {service.name}\n" in text, service.name
        for template in service.templates:
            assert f"`{template.action}`" in text, template.action


def test_repeated_lines_are_classified_once_with_the_result_of_each(monkeypatch: pytest.MonkeyPatch):
    """A batch of mostly repeated lines (every sample, each many times, shuffled, beside nulls
    and lines no template knows) gets, row by row, what classifying every row gets."""
    import random

    from detector.parsing.catalog import classify_messages
    from detector.parsing.catalog import distinct

    parsed = parse_any(pa.array([t.sample for t in TEMPLATES]), None, CTX).result.table
    samples = list(zip(*(parsed.column(name).to_pylist() for name in ("message", "process.name", "log.format"))))
    samples += [("no template knows this", "sshd", "syslog"), (None, None, None)]
    rows = [samples[i % len(samples)] for i in range(len(samples) * 12)]
    random.Random(7).shuffle(rows)
    message, program, formats = (pa.array(list(column), pa.string()) for column in zip(*rows))
    assert distinct.distinct_rows(message, program, formats) is not None  # the distinct path is taken
    once = classify_messages(message, program, formats)
    monkeypatch.setattr(distinct, "DISTINCT_SHARE", 0.0)  # every row classified on its own
    each = classify_messages(message, program, formats)
    assert once.matched.tolist() == each.matched.tolist() and once.matched.any()
    assert once.kind.equals(each.kind) and once.dataset.equals(each.dataset)
    assert once.columns.keys() == each.columns.keys()
    for name, column in each.columns.items():
        assert once.columns[name].equals(column), name


def test_one_message_from_several_programs_is_classified_per_program(monkeypatch: pytest.MonkeyPatch):
    """Distinct rows are (message, program) pairs: the same text from sshd and from a program
    no service owns, repeated, gets each program's own result."""
    from detector.parsing.catalog import classify_messages
    from detector.parsing.catalog import distinct

    text = "Failed password for root from 203.0.113.7 port 52311 ssh2"
    rows = [(text, "sshd"), (text, "myapp"), ("session closed for user root", "sshd"), (text, None)] * 50
    message, program = (pa.array(list(column), pa.string()) for column in zip(*rows))
    assert distinct.distinct_rows(message, program, None) is not None
    once = classify_messages(message, program)
    assert once.columns["event.action"].to_pylist()[:4] == ["ssh-failed-password", None, None, None]
    monkeypatch.setattr(distinct, "DISTINCT_SHARE", 0.0)
    each = classify_messages(message, program)
    assert once.matched.tolist() == each.matched.tolist()
    assert once.dataset.equals(each.dataset)
    for name, column in each.columns.items():
        assert once.columns[name].equals(column), name


def test_a_capture_that_is_no_address_leaves_its_row_to_the_next_template(tmp_path: Path):
    """Addresses are checked once per service after its templates ran; a failed check runs the
    service again template by template, so the row goes where the row-by-row check sends it."""
    from detector.parsing.catalog.evaluate import classify, prefilter_pattern

    path = tmp_path / "login.yaml"
    path.write_text(
        "service: login\nprograms: [login]\ntemplates:\n"
        "  - {match: 'login from %{ip}$', action: by-address, outcome: success, sample: 'login from 10.0.0.1'}\n"
        "  - {match: 'login from %{word:source.domain}$', action: by-name, outcome: success, sample: 'login from h'}\n"
    )
    services = (load_service(path),)
    messages = ["login from 10.0.0.1", "login from 999.0.0.1", "login from host.example", "login from 2001:db8::1"]
    result = classify(services, (prefilter_pattern(services[0].templates),), pa.array(messages), pa.array(["login"] * 4))
    assert result.columns["event.action"].to_pylist() == ["by-address", "by-name", "by-name", "by-address"]
    assert result.columns["source.ip"].to_pylist() == ["10.0.0.1", None, None, "2001:db8::1"]
    assert result.columns["source.domain"].to_pylist() == [None, "999.0.0.1", "host.example", None]
