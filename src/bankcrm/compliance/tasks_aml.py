"""Celery task of AML monitoring: the nightly batch run of the active scenarios.

Safe to run twice: a second run over the same transactions raises no new alert (alerts are
deduplicated per customer and scenario), it only counts the detections again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.timefmt import bank_today

logger = logging.getLogger(__name__)

# How far back the nightly run reads: the longest scenario window plus the own-history
# baselines ("sudden change from own profile", "dormant account reactivation").
DEFAULT_LOOKBACK_DAYS = 400


def nightly(*, as_of: dt.date | None = None) -> dict[str, Any]:
    """Run the scenarios over the transactions booked up to ``as_of`` (default today) within
    the look-back window (``settings.AML_NIGHTLY_LOOKBACK_DAYS``, default 400 days)."""
    from .services_alerts import aml_run

    as_of = as_of or bank_today()
    days = int(getattr(settings, "AML_NIGHTLY_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS))
    with request_context(channel="job"):
        run = aml_run(
            actor=SystemActor("compliance.aml_nightly"),
            date_from=as_of - dt.timedelta(days=days),
            date_to=as_of,
        )
    logger.info(
        "AML nightly run %s: %s transactions, %s alerts raised, %s updated",
        run.pk,
        run.transactions,
        run.alerts_raised,
        run.alerts_updated,
    )
    return {
        "run": run.pk,
        "as_of": as_of.isoformat(),
        "transactions": run.transactions,
        "alerts_raised": run.alerts_raised,
        "alerts_updated": run.alerts_updated,
        "seconds": run.seconds,
    }


@shared_task(name="compliance.aml_nightly")
def aml_nightly(as_of: str | None = None) -> dict[str, Any]:
    """The nightly AML batch (``as_of``: ISO date, default today)."""
    return nightly(as_of=dt.date.fromisoformat(as_of) if as_of else None)
