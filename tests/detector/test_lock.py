from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import LockError
from detector.state.lock import StateLock


def test_second_writer_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with StateLock(state, "scan"):
        with pytest.raises(LockError) as info:
            StateLock(state, "scan").acquire()
    assert "another logwarden scan or watch is running" in str(info.value)
    assert "pid" in str(info.value)
    with StateLock(state, "scan"):  # released: usable again
        pass
    assert oct(state.with_name("state.db.lock").stat().st_mode & 0o777) == "0o600"
