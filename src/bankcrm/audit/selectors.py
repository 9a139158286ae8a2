"""Reading the audit trail: for auditors (and the roles granted ``audit.view_auditevent``) only.

The same filters serve the list page, the CSV export and the API. Lists are paged by keyset
(``before=<id>``, newest first), never by offset, because the trail only grows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import AuditEvent
from .permissions import VIEW_PERMISSION, actor_may

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class AuditEventFilters:
    """What an auditor narrows the trail by. Dates are days in the viewer's time zone."""

    actor: str = ""
    action: str = ""  # prefix: "customer." matches every customer action
    object_type: str = ""
    object_pk: str = ""
    request_id: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    q: str = ""  # free text in the object's description

    def as_dict(self) -> dict[str, str]:
        """The filters that are set, as text (for links, the export's audit event)."""
        return {
            name: value.isoformat() if isinstance(value, dt.date) else str(value)
            for name, value in asdict(self).items()
            if value not in ("", None)
        }


@dataclass(frozen=True)
class AuditEventPage:
    """One page of events, newest first, and the cursor of the next (older) page."""

    events: list[AuditEvent]
    next_before: int | None


def _require_view(actor: Any) -> None:
    if not actor_may(actor, VIEW_PERMISSION):
        raise PermissionDenied(_("You may not read the audit trail."))


def _start_of_day(day: dt.date) -> dt.datetime:
    # The viewer's zone is active (UserTimezoneMiddleware); "1 March" means their 1 March.
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone()
    )


def _apply(queryset: QuerySet[AuditEvent], filters: AuditEventFilters) -> QuerySet[AuditEvent]:
    if filters.actor:
        queryset = queryset.filter(actor=filters.actor)
    if filters.action:
        queryset = queryset.filter(action__startswith=filters.action)
    if filters.object_type:
        queryset = queryset.filter(object_type=filters.object_type)
    if filters.object_pk:
        queryset = queryset.filter(object_pk=filters.object_pk)
    if filters.request_id:
        queryset = queryset.filter(request_id=filters.request_id)
    if filters.date_from:
        queryset = queryset.filter(occurred_at__gte=_start_of_day(filters.date_from))
    if filters.date_to:
        next_day = filters.date_to + dt.timedelta(days=1)
        queryset = queryset.filter(occurred_at__lt=_start_of_day(next_day))
    if filters.q:
        queryset = queryset.filter(object_repr__icontains=filters.q)
    return queryset


def audit_event_list(
    *, actor: Any, filters: AuditEventFilters | None = None
) -> QuerySet[AuditEvent]:
    """Events matching ``filters``, newest first. Raises PermissionDenied for other roles."""
    _require_view(actor)
    return _apply(AuditEvent.objects.all(), filters or AuditEventFilters()).order_by("-pk")


def audit_event_page(
    *,
    actor: Any,
    filters: AuditEventFilters | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> AuditEventPage:
    """One page of :func:`audit_event_list`: events with an id below ``before``."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    queryset = audit_event_list(actor=actor, filters=filters)
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    rows = list(queryset[: size + 1])
    events = rows[:size]
    next_before = events[-1].pk if len(rows) > size else None
    return AuditEventPage(events=events, next_before=next_before)


def audit_event_get(*, actor: Any, pk: int) -> AuditEvent:
    """One event. Raises PermissionDenied for other roles, AuditEvent.DoesNotExist if absent."""
    _require_view(actor)
    return AuditEvent.objects.get(pk=pk)


def audit_event_iter(
    *,
    actor: Any,
    filters: AuditEventFilters | None = None,
    until_id: int | None = None,
    chunk_size: int = 1000,
) -> Iterator[AuditEvent]:
    """Every matching event up to ``until_id``, newest first, read in keyset chunks.

    Memory stays flat however long the trail is (used by the CSV export). The permission
    is checked at the call, not when the first row is read.
    """
    queryset = audit_event_list(actor=actor, filters=filters)
    return _iter_chunks(queryset, None if until_id is None else until_id + 1, chunk_size)


def _iter_chunks(
    queryset: QuerySet[AuditEvent], upper: int | None, chunk_size: int
) -> Iterator[AuditEvent]:
    while True:
        chunk_query = queryset if upper is None else queryset.filter(pk__lt=upper)
        chunk = list(chunk_query[:chunk_size])
        if not chunk:
            return
        yield from chunk
        upper = chunk[-1].pk
