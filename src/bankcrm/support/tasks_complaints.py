"""The daily complaints job: escalate each complaint left unanswered after its statutory
deadline, once (running it twice on a day escalates nothing more)."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from bankcrm.core.context import request_context

logger = logging.getLogger(__name__)


@shared_task(name="support.complaints_overdue")
def complaints_overdue(as_of: str | None = None) -> int:
    """Escalate overdue complaints (``as_of``: ISO date, default today in the bank's zone);
    returns how many were escalated."""
    from .services_complaints import complaints_overdue_escalate

    today = dt.date.fromisoformat(as_of) if as_of else None
    with request_context(channel="job"):
        escalated = complaints_overdue_escalate(today=today)
    logger.info("complaints overdue: %s escalated", escalated)
    return escalated
