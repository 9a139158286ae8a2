"""Celery task of campaign conversions.

``marketing.conversions_detect`` runs nightly (Celery beat): it marks the customers of every
launched campaign who took the offered product within the campaign's window and completes
the running campaigns whose window has passed and whose queue is empty. Safe to run twice:
a customer once converted is left as they are.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from bankcrm.core.context import request_context


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("give the moment with its offset, e.g. 2026-10-09T02:00:00+08:00")
    return moment


@shared_task(name="marketing.conversions_detect", ignore_result=True)
def conversions_detect(campaign_id: int | None = None, now: str | None = None) -> int:
    """Detect the conversions of one campaign (``campaign_id``) or of every campaign still
    measured (``now``: ISO instant, default this moment); returns the conversions newly
    marked."""
    from .models import Campaign
    from .services_conversions import conversions_detect as detect_one
    from .services_conversions import conversions_detect_all

    with request_context(channel="job"):
        if campaign_id is None:
            return conversions_detect_all(now=_moment(now))
        campaign = Campaign.objects.select_related("offer__product").get(pk=campaign_id)
        return detect_one(campaign=campaign, now=_moment(now))
