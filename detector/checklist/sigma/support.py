"""What a Sigma rule needs that logwarden cannot run, said so a user can act on it.

Checked after the processing pipeline (fields are ECS names by then): every field must be a
column of the event frame, every value a type the compiler turns into a vectorized test, every
regular expression valid RE2 (the hot path never runs Python `re` on log content).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaDetections
from sigma.types import (
    Placeholder,
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
)

from detector.checklist.patterns import re2_problem
from detector.checklist.sigma.feeds import Feed
from detector.schema import ECS_FIELDS

_SIMPLE = (SigmaBool, SigmaCIDRExpression, SigmaCompareExpression, SigmaExists, SigmaNull, SigmaNumber)


@dataclass(frozen=True)
class Unsupported:
    """Why a rule cannot run: `reason` groups the totals, `detail` says what to do."""

    reason: str
    detail: str


def detection_items(detections: SigmaDetections) -> Iterator[SigmaDetectionItem]:
    def walk(node: SigmaDetection | SigmaDetectionItem) -> Iterator[SigmaDetectionItem]:
        if isinstance(node, SigmaDetection):
            for child in node.detection_items:
                yield from walk(child)
        else:
            yield node

    for detection in detections.detections.values():
        yield from walk(detection)


def custom_fields(detections: SigmaDetections) -> set[str]:
    """Fields of the rule that are not ECS columns (an application log's own JSON keys)."""
    return {
        item.field for item in detection_items(detections)
        if item.field is not None and item.field not in ECS_FIELDS
    }


def unsupported(detections: SigmaDetections, feed: Feed) -> Unsupported | None:
    """The first thing in the (processed) detection logwarden cannot run, or None."""
    for item in detection_items(detections):
        problem = _field_problem(item.field, feed) or next(
            (p for value in item.value if (p := _value_problem(item.field, value, feed))), None
        )
        if problem is not None:
            return problem
    return None


def _field_problem(name: str | None, feed: Feed) -> Unsupported | None:
    if name is None or name in ECS_FIELDS or feed.free_fields:
        return None
    if name in feed.absent:
        return Unsupported("field not in these logs", f"field {name!r}: {feed.absent[name]}")
    known = ", ".join(sorted(k for k in feed.fields if k is not None)) or "none (keywords only)"
    return Unsupported(
        "field not in these logs",
        f"field {name!r} is not extracted from {feed.name} logs; the Sigma fields logwarden maps there: {known}",
    )


def _value_problem(field: str | None, value: object, feed: Feed) -> Unsupported | None:
    if isinstance(value, SigmaExpansion):
        return next((p for v in value.values if (p := _value_problem(field, v, feed))), None)
    if isinstance(value, SigmaString):
        holders = [p.name for p in value.s if isinstance(p, Placeholder)]
        if holders:
            return Unsupported(
                "placeholder without values",
                f"placeholder %{holders[0]}% has no values; list them in checklist.yaml under "
                f"`sigma_placeholders: {{{holders[0]}: [...]}}`",
            )
        return None
    if isinstance(value, SigmaRegularExpression):
        return _regex_problem(value)
    if isinstance(value, SigmaFieldReference):
        if value.starts_with or value.ends_with:
            return Unsupported(
                "fieldref with startswith/endswith/contains",
                f"fieldref to {value.field!r} combined with startswith/endswith/contains: logwarden compares "
                "two fields for equality only; use `|fieldref` alone",
            )
        return _field_problem(value.field, feed)
    if isinstance(value, SigmaTimestampPart):
        return Unsupported(
            "time-part modifier",
            f"field {field!r}: the minute/hour/day/week/month/year modifiers are not supported; "
            "use a correlation timespan or a scan schedule instead",
        )
    if isinstance(value, _SIMPLE):
        return None
    return Unsupported("value type not supported", f"field {field!r}: {type(value).__name__} values are not supported")


def _regex_problem(value: SigmaRegularExpression) -> Unsupported | None:
    pattern = value.regexp.to_plain() if hasattr(value.regexp, "to_plain") else str(value.regexp)
    inline = "".join(
        letter for flag, letter in (
            (SigmaRegularExpressionFlag.IGNORECASE, "i"),
            (SigmaRegularExpressionFlag.MULTILINE, "m"),
            (SigmaRegularExpressionFlag.DOTALL, "s"),
        ) if flag in (value.flags or set())
    )
    complaint = re2_problem(f"(?{inline}){pattern}" if inline else pattern)
    if complaint is None:
        return None
    return Unsupported(
        "regex not RE2 (PCRE-only)",
        f"regular expression {pattern!r} is not valid RE2 ({complaint}): rewrite it without "
        "lookarounds, backreferences or possessive quantifiers",
    )
