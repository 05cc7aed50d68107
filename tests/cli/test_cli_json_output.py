"""The JSON document on stdout is exactly what `json.dumps(document, indent=2)` prints, also
when its lists are written item by item (a scan's findings, given as an iterator)."""

from __future__ import annotations

import json

import pytest

from detector.cli.common import emit_json

DOCUMENT = {
    "stats": {"lines_read": 3, "files": ["a.log", "b\nc.log"], "nested": {"empty": [], "none": None}},
    "findings": [
        {"id": "f1", "entity": {"source.ip": "203.0.113.9"}, "evidence": [{"line": "GET /\x1b[31m \"q\" é"}]},
        {"id": "f2", "entity": {}, "evidence": []},
    ],
    "defects": [],
    "escalation": None,
}


@pytest.mark.parametrize("lazy", [False, True])
def test_streamed_document_is_byte_for_byte_json_dumps(capsys: pytest.CaptureFixture[str], lazy: bool) -> None:
    document = dict(DOCUMENT, findings=iter(DOCUMENT["findings"])) if lazy else DOCUMENT
    emit_json(document)
    printed = capsys.readouterr().out
    assert printed == json.dumps(DOCUMENT, indent=2) + "\n"
    assert json.loads(printed) == DOCUMENT


@pytest.mark.parametrize("document", [{}, [], {"findings": iter(())}, {"a": 1}])
def test_edge_documents(capsys: pytest.CaptureFixture[str], document: object) -> None:
    expected = json.dumps({"findings": []} if isinstance(document, dict) and "findings" in document else document, indent=2)
    emit_json(document)
    assert capsys.readouterr().out == expected + "\n"
