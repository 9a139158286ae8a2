"""The propensity scoring job: every customer's propensity to take a product, stored."""

from __future__ import annotations

import logging

from celery import shared_task

from bankcrm.core.context import request_context

logger = logging.getLogger(__name__)


@shared_task(name="marketing.propensity_score")
def propensity_score(model: str, product: str, batch: int | None = None) -> int:
    """Score every customer for ``product`` (a code) with ``model`` (``NAME`` for its newest
    version, or ``NAME:VERSION``); returns how many scores were stored. Safe to run twice:
    each customer keeps one score per product."""
    from . import services_propensity

    version = services_propensity.model_version_for(model)
    extra = {"batch": batch} if batch else {}
    with request_context(channel="job"):
        scored = services_propensity.propensity_score_customers(
            model_version=version, product=product, **extra
        )
    logger.info("propensity scores for %s with %s: %s", product, version.label, scored)
    return scored
