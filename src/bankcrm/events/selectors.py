"""Reading the outbox: its health for operators, and the events of one object."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from bankcrm.access.permissions import actor_has_perm

from .models import OutboxEvent

VIEW_PERMISSION = "events.view_outboxevent"


@dataclass(frozen=True)
class OutboxStatus:
    """Counts per status, and how late the oldest undelivered due event is."""

    counts: dict[str, int]
    oldest_due_at: dt.datetime | None

    @property
    def lag(self) -> dt.timedelta | None:
        if self.oldest_due_at is None:
            return None
        return max(timezone.now() - self.oldest_due_at, dt.timedelta(0))


def outbox_status(*, actor: Any) -> OutboxStatus:
    """How many events are in each status; the oldest one due and not delivered."""
    if not actor_has_perm(actor, VIEW_PERMISSION):
        raise PermissionDenied
    counts = {status: 0 for status in OutboxEvent.Status.values}
    for row in OutboxEvent.objects.values("status").annotate(total=Count("pk")).order_by():
        counts[row["status"]] = row["total"]
    oldest = OutboxEvent.objects.filter(
        status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.FAILED],
        next_attempt_at__lte=timezone.now(),
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return OutboxStatus(counts=counts, oldest_due_at=oldest)


def outbox_event_list(*, actor: Any, status: str | None = None) -> QuerySet[OutboxEvent]:
    """Outbox events, newest first, optionally of one status (operators and auditors)."""
    if not actor_has_perm(actor, VIEW_PERMISSION):
        raise PermissionDenied
    queryset = OutboxEvent.objects.order_by("-occurred_at")
    if status:
        queryset = queryset.filter(status=status)
    return queryset
