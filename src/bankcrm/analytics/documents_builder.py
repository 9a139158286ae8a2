"""A saved report (report builder) as an export document: every row of its current version,
for the person exporting it, in CSV, XLSX or PDF through :mod:`bankcrm.analytics.exports`.

``parameters`` holds ``report`` (the saved report's key) and the report's own parameters by
name; the export source ``analytics.saved_report`` rebuilds the document from them in a
background job or a schedule, as the person it runs for.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.utils.translation import gettext as _

from . import exports
from .builder import build_queryset, report_rows, resolve_parameters
from .selectors_report_definitions import report_definition_get, report_definition_version


def saved_report_document(actor: Any, parameters: dict[str, Any]) -> exports.Document:
    """The saved report ``parameters["report"]`` with its parameters, for ``actor``; a report
    ``actor`` may not open is PermissionDenied."""
    try:
        report = report_definition_get(actor=actor, pk=int(parameters.get("report", 0)))
    except (ObjectDoesNotExist, TypeError, ValueError):
        raise PermissionDenied(_("You do not have permission to do this.")) from None
    version = report_definition_version(report)
    definition = version.definition
    given = {p["name"]: parameters.get(p["name"]) for p in definition["parameters"]}
    values = resolve_parameters(definition, given)
    columns, rows = report_rows(definition, actor, values)
    queryset, _columns, _aliases = build_queryset(definition, actor, values)
    total = queryset.count()
    table_columns = [
        exports.Column(str(index), column.label, lambda row, i=index: row[i])
        for index, column in enumerate(columns)
    ]
    notes: list[tuple[Any, Any]] = [(_("Version"), version.version)]
    notes += [(p["label"], values[p["name"]]) for p in definition["parameters"]]
    return exports.Document(
        title=report.name,
        tables=[exports.Table(title=report.name, columns=table_columns, rows=rows)],
        name=f"report-{report.pk}",
        notes=notes,
        rows=total,
        filters={
            "report": report.pk,
            "version": version.version,
            **{k: str(v) for k, v in values.items()},
        },
    )
