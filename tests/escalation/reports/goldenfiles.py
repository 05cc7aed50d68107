"""Golden files: rendered reports compared byte for byte after replacing the test's temporary
directory (which differs per run) by `$ROOT`. Regenerate with LOGWARDEN_REGEN_GOLDEN=1 after a
deliberate change, and review the diff; the tests assert the numbers independently as well."""

from __future__ import annotations

import os
import re
from pathlib import Path

from detector.textsafe import markdown_safe

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("LOGWARDEN_REGEN_GOLDEN") == "1"


def normalize(text: str, root: Path) -> str:
    for form in (str(root), markdown_safe(str(root), limit=None)):
        text = text.replace(form, "$ROOT")
    # ids hashed from absolute paths (missing-source defects) differ with the directory too
    return re.sub(r"missing-[0-9a-f]{16}", "missing-<id>", text)


def check(name: str, text: str, root: Path) -> None:
    path = GOLDEN / name
    actual = normalize(text, root)
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing; run with LOGWARDEN_REGEN_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file (LOGWARDEN_REGEN_GOLDEN=1 regenerates it)"
