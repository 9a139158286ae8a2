"""Report-builder reports as export documents: every row, for the person exporting, in CSV,
XLSX or PDF through :mod:`bankcrm.analytics.exports`.

* a saved report (source ``analytics.saved_report``): ``parameters`` holds ``report`` (its
  key) and the report's own parameters by name; its current version runs;
* a standard report (source ``analytics.standard_report``): ``parameters`` holds ``key``
  and the report's parameters.

A background job or a schedule rebuilds the document from them as the person it runs for.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm

from . import exports
from .builder import report_table, resolve_parameters, validate_definition
from .selectors_report_definitions import report_definition_get, report_definition_version
from .standard_reports import standard_report


def _document(
    actor: Any,
    definition: dict[str, Any],
    parameters: dict[str, Any],
    *,
    title: str,
    name: str,
    notes: list[tuple[Any, Any]],
    filters: dict[str, Any],
) -> exports.Document:
    given = {p["name"]: parameters.get(p["name"]) for p in definition["parameters"]}
    values = resolve_parameters(definition, given)
    columns, rows, row_count = report_table(definition, actor, values)
    table_columns = [
        exports.Column(str(index), column.label, lambda row, i=index: row[i])
        for index, column in enumerate(columns)
    ]
    notes = notes + [(_(p["label"]), values[p["name"]]) for p in definition["parameters"]]
    return exports.Document(
        title=title,
        tables=[exports.Table(title=title, columns=table_columns, rows=rows)],
        name=name,
        notes=notes,
        rows=row_count,
        filters={**filters, **{k: str(v) for k, v in values.items()}},
    )


def standard_report_document(actor: Any, parameters: dict[str, Any]) -> exports.Document:
    """The standard report ``parameters["key"]`` with its parameters, for ``actor``."""
    report = standard_report(str(parameters.get("key", "")))
    if report is None or not actor_has_perm(actor, report.permission):
        raise PermissionDenied(_("You do not have permission to do this."))
    return _document(
        actor,
        validate_definition(report.definition),
        parameters,
        title=str(report.title),
        name=report.key,
        notes=[],
        filters={"report": report.key},
    )


def saved_report_document(actor: Any, parameters: dict[str, Any]) -> exports.Document:
    """The saved report ``parameters["report"]`` with its parameters, for ``actor``; a report
    ``actor`` may not open is PermissionDenied."""
    try:
        report = report_definition_get(actor=actor, pk=int(parameters.get("report", 0)))
    except (ObjectDoesNotExist, TypeError, ValueError):
        raise PermissionDenied(_("You do not have permission to do this.")) from None
    version = report_definition_version(report)
    return _document(
        actor,
        version.definition,
        parameters,
        title=report.name,
        name=f"report-{report.pk}",
        notes=[(_("Version"), version.version)],
        filters={"report": report.pk, "version": version.version},
    )
