"""The nightly KYC job: re-rate every customer, escalate overdue reviews, remind of identity
documents about to lapse and open the periodic reviews falling due. Safe to run twice on a
day: ratings that did not change are not written, an escalated review is not escalated again,
a document's reminder is given once and a customer never has two reviews in progress."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from celery import shared_task

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.timefmt import bank_today

logger = logging.getLogger(__name__)

NIGHTLY_ACTOR = SystemActor("compliance.nightly_kyc")


def nightly(*, today: dt.date | None = None, batch_size: int = 2000) -> dict[str, Any]:
    """Run the night's KYC work and return its figures."""
    from .services_kyc import (
        active_policy,
        documents_expiry_tasks,
        kyc_reviews_escalate_overdue,
        parties_rate_all,
        periodic_reviews_open,
    )

    today = today or bank_today()
    started = time.monotonic()
    figures: dict[str, Any] = {"as_of": today.isoformat()}
    with request_context(channel="job"):
        figures["rated"] = parties_rate_all(
            actor=NIGHTLY_ACTOR, trigger="nightly", batch_size=batch_size
        )
        figures["escalated"] = kyc_reviews_escalate_overdue(actor=NIGHTLY_ACTOR, today=today)
        days = int(active_policy().spec.get("document_expiry_days") or 30)
        figures["document_tasks"] = documents_expiry_tasks(
            actor=NIGHTLY_ACTOR, today=today, days_ahead=days
        )
        figures["reviews_opened"] = periodic_reviews_open(actor=NIGHTLY_ACTOR, today=today)
    figures["seconds"] = round(time.monotonic() - started, 3)
    logger.info("kyc nightly: %s", figures)
    return figures


@shared_task(name="compliance.nightly_kyc")
def nightly_kyc(as_of: str | None = None) -> dict[str, Any]:
    """The nightly KYC job (``as_of``: ISO date, default today in the bank's zone)."""
    return nightly(today=dt.date.fromisoformat(as_of) if as_of else None)


@shared_task(name="compliance.party_rate")
def party_rate_task(party_pk: str, trigger: str = "manual") -> str:
    """Rate one customer (by key); returns the band."""
    from bankcrm.customers.models import Party

    from .services_kyc import party_rate

    with request_context(channel="job"):
        profile = party_rate(
            actor=SystemActor("compliance.party_rate"),
            party=Party.objects.get(pk=party_pk),
            trigger=trigger,
        )
    return profile.risk_band
