"""Drive the real `logwarden` entry point in-process and capture what an operator sees."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from detector.cli.root import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """`logwarden ARGV...` as typed: exit code, stdout and stderr."""
    capsys.readouterr()
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - main always exits
        code = 0
    out, err = capsys.readouterr()
    return Result(code, out, err)
