"""The nightly case housekeeping: resolved cases whose reopen window has passed are closed."""

from __future__ import annotations

import logging

from celery import shared_task

from bankcrm.core.context import request_context

logger = logging.getLogger(__name__)


@shared_task(name="support.close_resolved")
def close_resolved() -> int:
    """Close the resolved cases past their reopen window; returns how many were closed."""
    from .services_cases import cases_close_resolved

    with request_context(channel="job"):
        closed = cases_close_resolved()
    logger.info("resolved cases closed: %s", closed)
    return closed
