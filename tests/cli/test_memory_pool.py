"""The CLI's Arrow buffers come from the C allocator (it returns freed memory: lower peak RSS
on long scans), unless the environment names another pool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
from detector.cli.root import main
try:
    main(["match", sys.argv[1], "--format", "json"])
except SystemExit:
    pass
import pyarrow as pa
print(pa.default_memory_pool().backend_name)
"""


def _pool_after_a_command(tmp_path: Path, env: dict[str, str]) -> str:
    log = tmp_path / "access.log"
    log.write_text('203.0.113.9 - - [01/Dec/2026:10:00:00 +0000] "GET /?q=1 HTTP/1.1" 200 5 "-" "curl/8.0"\n')
    done = subprocess.run([sys.executable, "-c", PROBE, str(log)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120, check=True)  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(("configured", "expected"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_arrow_memory_pool(tmp_path, configured, expected):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    env["PYTHONPATH"] = str(ROOT)
    if configured:
        env["ARROW_DEFAULT_MEMORY_POOL"] = configured
    assert _pool_after_a_command(tmp_path, env) == expected
