"""Celery tasks delivering the outbox. Both are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from bankcrm.core.context import request_context


@shared_task(name="events.dispatch", ignore_result=True)
def events_dispatch(event_id: str) -> None:
    """Deliver one event right after the transaction that recorded it committed."""
    from .services import event_dispatch

    with request_context(channel="job"):
        event_dispatch(event_id=event_id)


@shared_task(name="events.dispatch_pending", ignore_result=True)
def events_dispatch_pending() -> int:
    """The periodic sweep: deliver due retries and any event whose first dispatch was lost."""
    from .services import event_dispatch_pending

    with request_context(channel="job"):
        return event_dispatch_pending()
