"""Which Sigma log sources logwarden can feed, and the pySigma processing pipeline that maps
their taxonomy onto the event frame's ECS columns (DESIGN §4).

A *feed* is one family of Sigma log sources (`category: webserver`, `product: linux`, ...):
the log kinds (`log.kind`) whose rows its rules read, the fields naming a finding's entity,
and the field mapping. The pipeline is built from the same table, so what `sigma-check`
reports and what the rules run on cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    ValueListPlaceholderTransformation,
)
from sigma.processing.transformations.base import DetectionItemTransformation
from sigma.rule import SigmaDetectionItem, SigmaLogSource
from sigma.types import SigmaString, SpecialChars

#: Sigma web taxonomy (W3C extended log field names) -> ECS columns of an access log.
#: `cs-uri-query` holds, in most SigmaHQ webserver rules, text that sits in the path: it is
#: read both ways (the query alone, or the whole request target), either reading matching.
#: Keywords search the raw line and the percent-decoded query, so `UNION SELECT` also finds
#: `?id=1+UNION+SELECT` and `UNION%20SELECT` (rule authors list encoded variants because
#: servers log the target as it came).
WEB_FIELDS: dict[str | None, str | list[str]] = {
    None: ["log.original", "url.query"],
    "c-ip": "source.ip",
    "cs-method": "http.request.method",
    "cs-uri-query": ["url.query", "url.original"],
    "c-uri-query": ["url.query", "url.original"],
    "cs-uri-stem": "url.path",
    "c-uri-stem": "url.path",
    "cs-uri": "url.original",
    "c-uri": "url.original",
    "sc-status": "http.response.status_code",
    "sc-bytes": "http.response.body.bytes",
    "cs-user-agent": "user_agent.original",
    "c-useragent": "user_agent.original",
    "cs-referer": "http.request.referrer",
    "cs-referrer": "http.request.referrer",
    "cs-host": "url.domain",
    "r-dns": "url.domain",
    "cs-username": "user.name",
    "cs-version": "http.version",
}

#: Web fields Sigma defines that access logs (common/combined, with or without a vhost) never
#: record; a rule needing one is skipped with this explanation.
WEB_ABSENT: dict[str, str] = {
    "cs-cookie": "access logs do not record the Cookie header",
    "cs-bytes": "access logs record response sizes (sc-bytes), not request sizes",
    "cs-content-type": "access logs do not record the request Content-Type",
    "sc-content-type": "access logs do not record the response Content-Type",
    "dst_ip": "access logs do not record the upstream (destination) address",
    "dst_port": "access logs do not record the upstream (destination) port",
    "s-ip": "access logs do not record the server address",
    "time-taken": "access logs (common/combined) do not record the request duration",
}

#: Linux services: keyword rules search the raw line; these named fields are extracted.
LINUX_FIELDS: dict[str | None, str | list[str]] = {
    "USER": "user.target.name",  # sudo's `USER=` (the account a command runs as)
    "pam_user": "user.name",
    "pam_rhost": "source.ip",
    "exe": "process.name",
    "host": "host.name",
}


@dataclass(frozen=True)
class Feed:
    """A family of Sigma log sources logwarden reads, and how its rules map onto the frame."""

    name: str
    logsources: tuple[Mapping[str, str], ...]  # each: a LogsourceCondition (None = any)
    kinds: tuple[str, ...]
    entity: tuple[str, ...]
    fields: Mapping[str | None, str | list[str]] = field(default_factory=dict)
    absent: Mapping[str, str] = field(default_factory=dict)
    free_fields: bool = False  # JSON application logs keep their own keys as columns
    no_category: bool = False  # only rules without a category (linux builtin, not auditd/sysmon)

    def serves(self, logsource: SigmaLogSource) -> bool:
        if self.no_category and logsource.category is not None:
            return False
        return any(logsource in _logsource(spec) for spec in self.logsources)


def _logsource(spec: Mapping[str, str]) -> SigmaLogSource:
    return SigmaLogSource(spec.get("category"), spec.get("product"), spec.get("service"))


FEEDS: tuple[Feed, ...] = (
    Feed("webserver", ({"category": "webserver"},), ("access",), ("source.ip",), WEB_FIELDS, WEB_ABSENT),
    Feed("proxy", ({"category": "proxy"},), ("access",), ("source.ip",), WEB_FIELDS, WEB_ABSENT),
    Feed(
        "web-error",
        ({"service": "apache"}, {"service": "nginx"}, {"product": "apache"}, {"product": "nginx"}),
        ("web-error",),
        ("host.name",),
        no_category=True,
    ),
    Feed("linux", ({"product": "linux"},), ("auth", "system"), ("host.name",), LINUX_FIELDS, no_category=True),
    Feed("application", ({"category": "application"},), ("application",), ("host.name",), free_fields=True),
)

FED_SOURCES = "webserver, proxy, linux (builtin services), application, apache/nginx error logs"


def feed_of(logsource: SigmaLogSource) -> Feed | None:
    """The feed serving a rule's log source, or None when logwarden reads no such log."""
    return next((feed for feed in FEEDS if feed.serves(logsource)), None)


def describe(logsource: SigmaLogSource) -> str:
    parts = [f"{key}: {value}" for key, value in (
        ("category", logsource.category), ("product", logsource.product), ("service", logsource.service)
    ) if value]
    return "{" + ", ".join(parts) + "}" if parts else "{}"


class UriExtensionToPath(DetectionItemTransformation):
    """`c-uri-extension: exe` -> `url.path|endswith: .exe` (the frame has no extension column)."""

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetectionItem | None:
        if detection_item.field != "c-uri-extension":
            return None
        values = []
        for value in detection_item.value:
            if isinstance(value, SigmaString):
                if not value.startswith(SpecialChars.WILDCARD_MULTI):
                    value = SpecialChars.WILDCARD_MULTI + SigmaString(".") + value
            values.append(value)
        detection_item.field = "url.path"
        detection_item.value = values
        detection_item.disable_conversion_to_plain()
        return detection_item


def build_pipeline(feed: Feed, placeholders: Mapping[str, list[Any]] | None = None) -> ProcessingPipeline:
    """The processing pipeline of one feed: `expand` placeholders replaced by the configured
    values (checklist `sigma_placeholders`), field names mapped onto ECS columns, and a
    condition on `log.kind` so the rule reads only the logs its log source names."""
    items: list[ProcessingItem] = []
    names = sorted(placeholders or {})
    if names:
        items.append(ProcessingItem(ValueListPlaceholderTransformation(include=names), identifier="placeholders"))
    if feed.fields is WEB_FIELDS:
        items.append(ProcessingItem(UriExtensionToPath(), identifier="uri-extension"))
    if feed.fields:
        items.append(ProcessingItem(FieldMappingTransformation(dict(feed.fields)), identifier="fields"))
    kinds: list[str] | str = list(feed.kinds) if len(feed.kinds) > 1 else feed.kinds[0]
    items.append(ProcessingItem(AddConditionTransformation({"log.kind": kinds}), identifier="log-kinds"))
    return ProcessingPipeline(items=items, vars=dict(placeholders or {}), name=f"logwarden {feed.name}")
