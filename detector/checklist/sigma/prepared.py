"""A Sigma base rule made ready to run: its feed, its processed detection, its content hash,
and which correlation rules consume it."""

from __future__ import annotations

from dataclasses import dataclass, field

from detector.checklist.model import Rule
from detector.checklist.sigma.documents import Parsed
from detector.checklist.sigma.feeds import Feed


@dataclass
class Prepared:
    parsed: Parsed
    feed: Feed
    rule: Rule
    custom: tuple[str, ...]
    content: str
    used_by: list[str] = field(default_factory=list)  # loaded correlations that consume it
    standalone: bool = True  # False: a building block of a correlation (`generate: false`)
