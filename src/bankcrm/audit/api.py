"""REST API of the audit trail: read-only, for the roles holding ``audit.view_auditevent``."""

from __future__ import annotations

import zoneinfo

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router

from bankcrm.core.middleware import user_timezone_name

from .schemas import AuditEventFilter, AuditEventOut, AuditEventPageOut
from .selectors import audit_event_get, audit_event_page

router = Router(tags=["audit"])


@router.get("/events", response=AuditEventPageOut, summary="List audit events")
def list_events(request: HttpRequest, filters: Query[AuditEventFilter]) -> AuditEventPageOut:
    """Events newest first, 50 a page by default; page on with ``before=<next_before>``.

    ``date_from``/``date_to`` are days in the caller's own time zone (their preference, or
    the default of their language).
    """
    actor = request.auth  # type: ignore[attr-defined]
    try:
        zone = zoneinfo.ZoneInfo(user_timezone_name(actor))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    with timezone.override(zone):
        page = audit_event_page(
            actor=actor, filters=filters.filters(), before=filters.before, size=filters.limit
        )
    return AuditEventPageOut(
        items=[AuditEventOut.from_orm(event) for event in page.events],
        next_before=page.next_before,
    )


@router.get("/events/{event_id}", response=AuditEventOut, summary="One audit event")
def get_event(request: HttpRequest, event_id: int) -> AuditEventOut:
    """One event with its before/after values and its place in the hash chain."""
    event = audit_event_get(actor=request.auth, pk=event_id)  # type: ignore[attr-defined]
    return AuditEventOut.from_orm(event)
