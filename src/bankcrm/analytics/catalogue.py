"""The report catalogue: reports that register themselves from their own modules.

A report module calls :func:`register_report` when Django starts (``registrations.py``
imports it): the report then appears on the report index to those with its permission, and
its export (CSV, XLSX, PDF, background job above the job threshold) is served by
``/analytics/reports/<key>/export.<fmt>`` from the document builder it names. The page's
URLs live in the report's own ``urls_<name>.py``, included by ``urls.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .exports import SOURCES, ExportSource

EXPORT_PERMISSION = "analytics.export_report"


@dataclass(frozen=True)
class CatalogueReport:
    """A report of the index: its key (also its export key), title, description, the URL
    name of its page and the permission that opens it."""

    key: str
    title: Any
    description: Any
    url_name: str
    permission: str


REPORTS: dict[str, CatalogueReport] = {}
# Export key in the URL → export source key (exports.SOURCES).
EXPORTS: dict[str, str] = {}


def register_report(
    report: CatalogueReport,
    *,
    document_builder: str | None = None,
    exports: dict[str, str] | None = None,
) -> None:
    """Add ``report`` to the index. ``document_builder`` (``"module:function"``, called as
    ``function(actor, parameters)`` and returning an exports.Document) makes the report
    exportable under its key; ``exports`` adds further exports of the same report (its
    record lists), export key → document builder."""
    if report.key in REPORTS:
        raise ValueError(f"report {report.key!r} is registered twice")
    REPORTS[report.key] = report
    builders = dict(exports or {})
    if document_builder:
        builders[report.key] = document_builder
    for key, builder in builders.items():
        source = f"analytics.{key}"
        SOURCES[source] = ExportSource(
            builder, EXPORT_PERMISSION, "analytics.report_export", "analytics.report"
        )
        EXPORTS[key] = source
