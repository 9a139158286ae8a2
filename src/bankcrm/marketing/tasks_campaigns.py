"""Celery task of campaigns: launching those whose start has come.

``marketing.campaigns_start_due`` (every minute) is safe to run twice: a launched campaign is
never launched again.
"""

from __future__ import annotations

from celery import shared_task

from bankcrm.core.context import request_context


@shared_task(name="marketing.campaigns_start_due", ignore_result=True)
def campaigns_start_due() -> int:
    """Launch every scheduled campaign whose start has passed."""
    from .services_campaigns import campaigns_start_due as start_due

    with request_context(channel="job"):
        return start_due()
