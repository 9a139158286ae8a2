"""Recording domain events in the outbox and delivering them to subscribers.

``event_record`` writes the event in the caller's transaction and schedules its dispatch for
after the commit, so nothing leaves for a rolled-back change. Delivery claims rows under a row
lock (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL), so many workers never deliver the
same event at the same time; each subscriber's success is recorded, so a retry re-runs only
the subscribers that failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
import uuid
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import current_context

from .models import EventDelivery, OutboxEvent
from .registry import Subscriber, subscribers_for

logger = logging.getLogger(__name__)

DISPATCHER = SystemActor("events.dispatcher")

_ERROR_LIMIT = 4000


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def event_record(
    *, type: str, target: models.Model | None = None, payload: dict[str, Any]
) -> OutboxEvent:
    """Write a domain event to the outbox, in the caller's transaction.

    Call it inside the service's ``transaction.atomic()`` block: the event is stored with the
    change and dispatched only after that transaction commits (never for a rollback). Called
    outside any transaction it commits on its own and is dispatched at once. ``payload`` holds
    non-secret values only: events leave the bank through webhooks.
    """
    if not type:
        raise ValueError("An event needs a type.")
    from .tasks import events_dispatch

    with transaction.atomic():
        event = OutboxEvent.objects.create(
            type=type,
            object_type=target._meta.label_lower if target is not None else "",
            object_pk="" if target is None or target.pk is None else str(target.pk),
            payload=payload,
            request_id=current_context().request_id[:64],
        )
        event_id = str(event.pk)
        # robust: the change has committed; a broker hiccup must not turn it into an error
        # page. The sweep (events_dispatch_pending) delivers whatever this call misses.
        transaction.on_commit(lambda: events_dispatch.delay(event_id), robust=True)
    return event


def _claim(queryset: models.QuerySet[OutboxEvent]) -> models.QuerySet[OutboxEvent]:
    if connection.vendor == "postgresql":
        # Rows another worker is delivering are skipped, not waited for.
        return queryset.select_for_update(skip_locked=True)
    # SQLite serialises writers (IMMEDIATE transactions): the transaction is the lock.
    return queryset.select_for_update()


def _backoff(attempts: int) -> dt.timedelta:
    base = _setting("EVENTS_RETRY_BASE_SECONDS", 30)
    cap = _setting("EVENTS_RETRY_MAX_SECONDS", 3600)
    return dt.timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:_ERROR_LIMIT]


def _deliver_one(event: OutboxEvent, item: Subscriber, record: EventDelivery | None) -> str:
    """Run one subscriber in a savepoint; return "" on success or the error text."""
    now = timezone.now()
    error = ""
    try:
        # A savepoint: a subscriber's failed writes are undone without undoing the others'.
        with transaction.atomic():
            item.handler(event)
    except Exception as exc:  # any subscriber bug is recorded and retried, never fatal
        logger.warning("Subscriber %s failed on event %s: %s", item.name, event.pk, exc)
        error = _error_text(exc)
    if record is None:
        record = EventDelivery(event=event, subscriber=item.name)
    record.attempts += 1
    record.status = EventDelivery.Status.FAILED if error else EventDelivery.Status.DELIVERED
    record.last_error = error
    record.delivered_at = None if error else now
    record.save()
    return error


def _deliver(event: OutboxEvent) -> OutboxEvent:
    """Hand a claimed event to every subscriber not yet served; set the outcome."""
    done = {record.subscriber: record for record in EventDelivery.objects.filter(event=event)}
    errors: list[str] = []
    for item in subscribers_for(event.type):
        record = done.get(item.name)
        if record is not None and record.status == EventDelivery.Status.DELIVERED:
            continue
        error = _deliver_one(event, item, record)
        if error:
            errors.append(f"{item.name}: {error}")
    now = timezone.now()
    event.attempts += 1
    event.last_attempt_at = now
    if not errors:
        event.status = OutboxEvent.Status.DELIVERED
        event.delivered_at = now
        event.last_error = ""
    else:
        event.last_error = "\n".join(errors)[:_ERROR_LIMIT]
        if event.attempts >= _setting("EVENTS_MAX_ATTEMPTS", 8):
            event.status = OutboxEvent.Status.DEAD
            audit_record(
                actor=DISPATCHER,
                action="event.dead",
                target=event,
                after={"type": event.type, "attempts": event.attempts},
                reason=event.last_error[:500],
            )
        else:
            event.status = OutboxEvent.Status.FAILED
            event.next_attempt_at = now + _backoff(event.attempts)
    event.save(
        update_fields=[
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_error",
            "delivered_at",
        ]
    )
    return event


def _due(now: dt.datetime, *, include_waiting: bool) -> models.QuerySet[OutboxEvent]:
    queryset = OutboxEvent.objects.filter(
        status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.FAILED]
    )
    if not include_waiting:
        queryset = queryset.filter(next_attempt_at__lte=now)
    return queryset


def event_dispatch(*, event_id: str | uuid.UUID) -> OutboxEvent | None:
    """Deliver one event now, if it is due and no other worker holds it.

    Safe to run twice: a delivered or dead event is left alone, and subscribers that already
    received it are skipped. Returns the event, or None when it does not exist or another
    worker is delivering it at this moment.
    """
    with transaction.atomic():
        event = _claim(_due(timezone.now(), include_waiting=False).filter(pk=event_id)).first()
        if event is None:
            # Not due, already settled, unknown, or being delivered by another worker: its
            # committed state is the answer.
            return OutboxEvent.objects.filter(pk=event_id).first()
        return _deliver(event)


def event_dispatch_pending(
    *, batch_size: int | None = None, include_waiting: bool = False, limit: int | None = None
) -> int:
    """Deliver due events in batches until none is left; return how many were attempted.

    Each batch is claimed and delivered in one transaction, so the rows stay locked (skipped
    by other workers) until their outcome is stored. ``include_waiting`` also retries events
    still waiting out their back-off (an operator draining the outbox by hand).
    """
    size = batch_size or _setting("EVENTS_DISPATCH_BATCH", 100)
    attempted = 0
    started = timezone.now()
    while limit is None or attempted < limit:
        take = size if limit is None else min(size, limit - attempted)
        with transaction.atomic():
            # Each event at most once per sweep: one that fails here waits for the next sweep.
            queryset = _due(started, include_waiting=include_waiting).filter(
                Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=started)
            )
            batch = list(_claim(queryset.order_by("next_attempt_at", "occurred_at"))[:take])
            for event in batch:
                _deliver(event)
        attempted += len(batch)
        if len(batch) < take:
            break
    return attempted


def event_requeue(*, actor: Any, event_id: str | uuid.UUID, reason: str) -> OutboxEvent:
    """Give a dead (or failed) event a fresh set of attempts, after its subscriber was fixed.

    Subscribers that already received it are still skipped.
    """
    if not reason.strip():
        raise ValueError("A reason is required to requeue an event.")
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().get(pk=event_id)
        before = {"status": event.status, "attempts": event.attempts}
        if event.status == OutboxEvent.Status.DELIVERED:
            return event
        event.status = OutboxEvent.Status.PENDING
        event.attempts = 0
        event.next_attempt_at = timezone.now()
        event.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_record(
            actor=actor,
            action="event.requeue",
            target=event,
            before=before,
            after={"status": event.status, "attempts": 0},
            reason=reason,
        )
        from .tasks import events_dispatch

        event_id_text = str(event.pk)
        transaction.on_commit(lambda: events_dispatch.delay(event_id_text), robust=True)
    return event
