"""Reading saved report definitions: the ones a person owns or that are shared with one of
their roles, and running one (its current version, or a named one) for them."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from bankcrm.access.permissions import actor_has_perm, actor_role_codes

from .builder import ReportResult, run_report
from .models_report_definitions import ReportDefinition, ReportDefinitionVersion

VIEW = "analytics.view_report"


def report_definition_list(*, actor: Any, include_archived: bool = False) -> QuerySet:
    """The reports ``actor`` may open: their own, and those shared with one of their roles."""
    if not actor_has_perm(actor, VIEW):
        return ReportDefinition.objects.none()
    owned = Q(owner_id=getattr(actor, "pk", None))
    shared = Q(pk__in=[])
    for code in sorted(actor_role_codes(actor)):
        shared |= Q(shared_with_roles__contains=[code])
    reports = ReportDefinition.objects.all()
    if not include_archived:
        reports = reports.filter(is_archived=False)
    if _contains_supported():
        return reports.filter(owned | shared).select_related("owner")
    # SQLite has no JSON containment: filter the (few) definitions in Python.
    codes = set(actor_role_codes(actor))
    keys = [
        pk
        for pk, owner, roles in reports.values_list("pk", "owner_id", "shared_with_roles")
        if owner == getattr(actor, "pk", None) or codes & set(roles or ())
    ]
    return reports.filter(pk__in=keys).select_related("owner")


def _contains_supported() -> bool:
    from django.db import connection

    return bool(connection.features.supports_json_field_contains)


def report_definition_get(*, actor: Any, pk: int) -> ReportDefinition:
    """One report ``actor`` may open; DoesNotExist otherwise (no hint that it exists)."""
    return report_definition_list(actor=actor, include_archived=True).get(pk=pk)


def report_definition_version(
    report: ReportDefinition, version: int | None = None
) -> ReportDefinitionVersion:
    return report.versions.get(version=version or report.current_version)


def report_definition_run(
    *, actor: Any, report: ReportDefinition, parameters: dict[str, Any] | None = None
) -> ReportResult:
    """The report's current version run for ``actor`` (rows scoped to what they may see)."""
    version = report_definition_version(report)
    return run_report(version.definition, actor, parameters or {})
