"""pytest fixtures shared by every test package (helpers live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Scanner


@pytest.fixture
def scanner(tmp_path: Path) -> Scanner:
    """The real scan pipeline over a fresh state file, recording every parsed line."""
    return Scanner(state=tmp_path / "state" / "state.db")
