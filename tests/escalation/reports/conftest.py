"""Fixtures for the report tests: the fixed state of statekit.py, built once per module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # statekit, goldenfiles

import statekit  # noqa: E402


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> statekit.Kit:
    """The full fixed state (incidents A–E and X, one exercise); tests must not change it."""
    return statekit.build(tmp_path_factory.mktemp("reports"))
