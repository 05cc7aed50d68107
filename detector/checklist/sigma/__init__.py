"""Sigma rules (SigmaHQ and others) loaded as they are, through pySigma, as checklist scenarios.
May import the checklist model, pySigma, and the top modules (schema, yamlsafe); never detection.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): pySigma's processing pipelines take a tenth of a second to
# import, and a checklist without Sigma rules (every scan's start-up) never needs them.
_HOMES = {
    **dict.fromkeys(("LOADED", "OUT_OF_SCOPE", "SKIPPED", "Outcome", "SigmaLoad", "load_sigma"), "load"),
    **dict.fromkeys(("LEVEL_PRIOR", "STATUS_FACTOR", "Defaults", "confidence_prior"), "scenarios"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "LEVEL_PRIOR", "LOADED", "OUT_OF_SCOPE", "SKIPPED", "STATUS_FACTOR", "Defaults", "Outcome", "SigmaLoad",
    "confidence_prior", "load_sigma",
]
