from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector.errors import LockError
from detector.state.lock import StateLock

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))


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


# -- overlap is "try later", not a failure: exit 75 (EX_TEMPFAIL), or --wait for it ---------------

HOLDER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from detector.state.lock import StateLock\n"
    "lock = StateLock(Path(sys.argv[1]), 'scan')\n"
    "lock.acquire()\n"
    "print('held', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def _hold(state: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(state), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_run_refused_by_the_lock_exits_75_and_says_so(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    state = tmp_path / "state.db"
    subprocess.run([LOGWARDEN, "scan", str(logs), "--no-escalate", "--state", str(state)], check=True, capture_output=True)
    holder = _hold(state, 60)
    try:
        for argv in (["scan", str(logs), "--no-escalate"], ["escalation", "tick"]):
            done = subprocess.run([LOGWARDEN, *argv, "--state", str(state)], capture_output=True, text=True, timeout=120)
            assert done.returncode == 75, done.stderr
            assert "state is in use by logwarden scan pid" in done.stderr and "--wait" in done.stderr
            assert "Traceback" not in done.stderr
    finally:
        holder.kill()
        holder.wait()


def test_wait_gives_up_after_its_time_then_succeeds_once_the_holder_is_gone(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    holder = _hold(state, 60)
    started = time.monotonic()
    with pytest.raises(LockError) as info:
        StateLock(state, "scan", wait=0.5).acquire()
    assert time.monotonic() - started >= 0.5 and "after waiting 0.5s" in str(info.value)
    assert info.value.exit_code == 75
    holder.kill()
    holder.wait()
    logs = tmp_path / "logs"
    logs.mkdir()
    holder = _hold(state, 1.0)  # finishes while the scan waits
    done = subprocess.run([LOGWARDEN, "scan", str(logs), "--state", str(state), "--no-escalate", "--wait", "60"],
                          capture_output=True, text=True, timeout=120)
    holder.wait()
    assert done.returncode == 0, done.stderr
