"""Saving, versioning, sharing, importing and exporting report definitions (audited).

Who may do what:

* ``analytics.add_reportdefinition``: define reports (own them) and import definitions;
* the owner edits (a new version), shares with roles and archives their report; holders of
  ``analytics.change_reportdefinition`` may do so for any report they can see.

Every save is validated by :func:`bankcrm.analytics.builder.validate_definition` first and
stored in its canonical shape; a bad definition changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bankcrm.access.models import Role
from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record

from .builder import validate_definition
from .models_report_definitions import ReportDefinition, ReportDefinitionVersion

EXPORT_FORMAT = "bankcrm-report/1"
ADD = "analytics.add_reportdefinition"
CHANGE = "analytics.change_reportdefinition"


def _require(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _clean_name(name: Any) -> str:
    text = str(name or "").strip()
    if not text or len(text) > 120:
        raise ValidationError({"name": [_("Give the report a name of at most 120 characters.")]})
    return text


def _clean_roles(roles: Any) -> list[str]:
    if roles in (None, ""):
        return []
    if not isinstance(roles, list | tuple):
        raise ValidationError({"shared_with_roles": [_("Give a list of role codes.")]})
    known = set(Role.objects.values_list("code", flat=True))
    unknown = sorted({str(r) for r in roles} - known)
    if unknown:
        raise ValidationError(
            {"shared_with_roles": [_("Unknown roles: %(roles)s.") % {"roles": ", ".join(unknown)}]}
        )
    return sorted({str(r) for r in roles})


def may_change(actor: Any, report: ReportDefinition) -> bool:
    return report.owner_id == getattr(actor, "pk", None) or actor_has_perm(actor, CHANGE)


def _snapshot(report: ReportDefinition, version: ReportDefinitionVersion) -> dict[str, Any]:
    return {
        "name": report.name,
        "version": version.version,
        "entity": version.definition.get("entity"),
        "shared_with_roles": report.shared_with_roles,
    }


@transaction.atomic
def report_definition_create(
    *,
    actor: Any,
    name: str,
    definition: Any,
    description: str = "",
    shared_with_roles: Any = None,
    note: str = "",
) -> ReportDefinition:
    """A new report owned by ``actor``, at version 1."""
    _require(actor, ADD)
    clean = validate_definition(definition)
    name = _clean_name(name)
    if ReportDefinition.objects.filter(owner=actor, name=name).exists():
        raise ValidationError({"name": [_("You already have a report of this name.")]})
    report = ReportDefinition.objects.create(
        name=name,
        description=str(description or ""),
        owner=actor,
        shared_with_roles=_clean_roles(shared_with_roles),
        current_version=1,
    )
    version = ReportDefinitionVersion.objects.create(
        report=report, version=1, definition=clean, note=str(note or "")[:200], created_by=actor
    )
    audit_record(
        actor=actor,
        action="analytics.report_create",
        target=report,
        after=_snapshot(report, version),
    )
    return report


@transaction.atomic
def report_definition_update(
    *,
    actor: Any,
    report: ReportDefinition,
    definition: Any | None = None,
    name: str | None = None,
    description: str | None = None,
    shared_with_roles: Any = None,
    note: str = "",
) -> ReportDefinition:
    """Change a report: a changed definition becomes a new version; name, description and
    sharing change in place. Audited with the version before and after."""
    report = ReportDefinition.objects.select_for_update().get(pk=report.pk)
    if not may_change(actor, report):
        raise PermissionDenied(_("You do not have permission to do this."))
    current = report.versions.get(version=report.current_version)
    before = _snapshot(report, current)
    if name is not None:
        report.name = _clean_name(name)
        clash = ReportDefinition.objects.filter(owner=report.owner, name=report.name)
        if clash.exclude(pk=report.pk).exists():
            raise ValidationError({"name": [_("You already have a report of this name.")]})
    if description is not None:
        report.description = str(description)
    if shared_with_roles is not None:
        report.shared_with_roles = _clean_roles(shared_with_roles)
    if definition is not None:
        clean = validate_definition(definition)
        if clean != current.definition:
            report.current_version += 1
            current = ReportDefinitionVersion.objects.create(
                report=report,
                version=report.current_version,
                definition=clean,
                note=str(note or "")[:200],
                created_by=actor,
            )
    report.save()
    audit_record(
        actor=actor,
        action="analytics.report_update",
        target=report,
        before=before,
        after=_snapshot(report, current),
    )
    return report


@transaction.atomic
def report_definition_archive(*, actor: Any, report: ReportDefinition) -> ReportDefinition:
    """Hide a report from the lists (its versions stay, for the exports that name them)."""
    if not may_change(actor, report):
        raise PermissionDenied(_("You do not have permission to do this."))
    report.is_archived = True
    report.save(update_fields=["is_archived", "updated_at"])
    audit_record(actor=actor, action="analytics.report_archive", target=report)
    return report


def report_definition_export(report: ReportDefinition) -> dict[str, Any]:
    """The report as a JSON document another bankcrm can import (current version)."""
    version = report.versions.get(version=report.current_version)
    return {
        "format": EXPORT_FORMAT,
        "name": report.name,
        "description": report.description,
        "shared_with_roles": report.shared_with_roles,
        "version": version.version,
        "definition": version.definition,
    }


def report_definition_import(*, actor: Any, document: Any) -> ReportDefinition:
    """Create a report from an exported document, or add a version to the actor's report of
    the same name; ValidationError naming what is wrong with the document."""
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise ValidationError(
            {"format": [_("Not a bankcrm report (format %(format)s).") % {"format": EXPORT_FORMAT}]}
        )
    name = _clean_name(document.get("name"))
    existing = ReportDefinition.objects.filter(owner=actor, name=name).first()
    note = _("Imported")
    if existing is not None:
        return report_definition_update(
            actor=actor,
            report=existing,
            definition=document.get("definition"),
            description=document.get("description", existing.description),
            shared_with_roles=document.get("shared_with_roles"),
            note=note,
        )
    return report_definition_create(
        actor=actor,
        name=name,
        definition=document.get("definition"),
        description=document.get("description", ""),
        shared_with_roles=document.get("shared_with_roles"),
        note=note,
    )
