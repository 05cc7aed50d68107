"""Fixtures for the parser tests: parse real-looking lines and look at rows as plain dicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from detector.parsing import parse_lines
from detector.parsing.base import ParseContext, ParseResult
from detector.schema import ECS_FIELDS


@dataclass
class Parsed:
    """A ParseResult made easy to assert on."""

    result: ParseResult

    @property
    def rows(self) -> list[dict]:
        return self.result.table.to_pylist()

    @property
    def row(self) -> dict:
        rows = self.rows
        assert len(rows) == 1, f"expected one parsed row, got {len(rows)}; unparsed: {self.unparsed}"
        return rows[0]

    @property
    def parsed_index(self) -> list[int]:
        return self.result.parsed_index.to_pylist()

    @property
    def unparsed(self) -> dict[int, str]:
        return dict(zip(self.result.unparsed_index.to_pylist(), self.result.unparsed_reason.to_pylist(), strict=True))

    def column(self, name: str) -> list:
        return self.result.table.column(name).to_pylist()


ParseFn = Callable[..., Parsed]


def check_contract(result: ParseResult, count: int) -> None:
    """What every parser promises: every line lands once, columns have their ECS types."""
    parsed = result.parsed_index.to_pylist()
    unparsed = result.unparsed_index.to_pylist()
    assert sorted(parsed + unparsed) == list(range(count))
    assert parsed == sorted(parsed)
    assert len(result.table) == len(parsed)
    assert len(result.unparsed_reason) == len(unparsed)
    assert result.parsed_index.type == pa.int64() and result.unparsed_index.type == pa.int64()
    for field in result.table.schema:
        assert field.type == ECS_FIELDS.get(field.name, pa.string()), field
    assert len(set(result.table.column_names)) == len(result.table.column_names)
    for name in ("@timestamp", "event.kind", "log.kind", "log.format"):
        assert result.table.column(name).null_count == 0


@pytest.fixture
def parse() -> ParseFn:
    """parse(lines, fmt, timezone="UTC", mtime=datetime, kind=None) -> Parsed, contract checked."""

    def run(
        lines: list[str] | str,
        fmt: str,
        timezone_name: str = "UTC",
        mtime: datetime = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc),
        kind: str | None = None,
    ) -> Parsed:
        lines = [lines] if isinstance(lines, str) else lines
        ctx = ParseContext(path="/var/log/test.log", timezone=timezone_name, file_mtime=mtime, kind=kind)
        result = parse_lines(pa.array(lines, pa.string()), fmt, ctx)
        check_contract(result, len(lines))
        return Parsed(result)

    return run
