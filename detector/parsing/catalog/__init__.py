"""The event catalog: what services' messages mean, kept as data (one YAML file per service family).
Part of parsing: may import the parsing helpers and the top modules (schema, errors, yamlsafe).

Each `*.yaml` here lists a service's programs (or log formats) and its message templates in RE2
with placeholders bound to ECS fields; `classify_messages` runs them over a batch. See
docs/formats.md for how to add a template.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.catalog.evaluate import Classified, classify, prefilter_pattern
from detector.parsing.catalog.model import CatalogError, Service, Template, load_service

CATALOG_DIR = Path(__file__).parent


def load_catalog(directory: Path = CATALOG_DIR) -> tuple[Service, ...]:
    """Every service of the catalog files in `directory`, services for any program first.

    A program or format claimed by two services is an error: which one reads it would depend
    on file order."""
    services = [load_service(path) for path in sorted(directory.glob("*.yaml"))]
    owners: dict[str, str] = {}
    for service in services:
        for key in [p for p in service.programs if p != "*"]:
            if key in owners:
                raise CatalogError(f"{directory}: {key!r} belongs to both {owners[key]!r} and {service.name!r}")
            owners[key] = service.name
    return tuple(sorted(services, key=lambda s: not s.any_program))


@lru_cache(maxsize=4)
def _compiled(directory: Path) -> tuple[tuple[Service, ...], tuple[str, ...]]:
    services = load_catalog(directory)
    return services, tuple(prefilter_pattern(s.templates) for s in services)


def classify_messages(
    message: pa.Array, process: pa.Array | None = None, log_format: pa.Array | None = None
) -> Classified:
    """What the bundled catalog says about each message of a batch."""
    services, prefilters = _compiled(CATALOG_DIR)
    return classify(services, prefilters, message, process, log_format)


def merge_into(columns: dict[str, pa.Array], classified: Classified) -> pa.Array:
    """Add the catalog's fields to a parser's full-length `columns` (a template's value wins,
    a parser's value stays where no template set one); returns the per-line log.kind (null
    where no service said)."""
    for name, values in classified.columns.items():
        present = columns.get(name)
        columns[name] = values if present is None else pc.coalesce(values, present.cast(values.type))
    columns["event.dataset"] = classified.dataset
    return classified.kind


def actions() -> list[str]:
    """Every `event.action` the bundled catalog can set."""
    services, _ = _compiled(CATALOG_DIR)
    return sorted({t.action for s in services for t in s.templates})


__all__ = [
    "CatalogError", "Classified", "Service", "Template", "actions", "classify_messages", "load_catalog", "merge_into",
]
