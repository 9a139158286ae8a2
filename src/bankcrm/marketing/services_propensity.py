"""Scoring every customer's propensity to take a product with a registered propensity model.

:func:`propensity_score_customers` walks the customers in batches (their CRM features come
from one SQL statement per batch, :mod:`bankcrm.marketing.propensity.features`), has the model
predict the batch (``bankcrm.marketing.propensity.scoring.propensity_predict``) and replaces
each customer's score for the product in one statement per batch (``INSERT … ON CONFLICT
(party, product) DO UPDATE``, on PostgreSQL and SQLite alike). Running it twice leaves one
row per customer and product, with the second run's figures.

The run is recorded in the audit trail with its counts (customers, scores stored, seconds);
the credit models' ``risk.ScoreRun`` is not used because its kinds (nightly behaviour
scores, files) describe credit scoring runs only.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record
from bankcrm.banking.models import Product
from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today
from bankcrm.events.services import event_record
from bankcrm.risk.models import ModelVersion, Purpose

from .models import PropensityScore
from .propensity import features

logger = logging.getLogger(__name__)

SYSTEM = SystemActor("marketing.propensity_score")
DEFAULT_BATCH = features.DEFAULT_BATCH


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _predict(model_version: ModelVersion, rows: pd.DataFrame) -> np.ndarray:
    from bankcrm.marketing.propensity.scoring import propensity_predict

    return np.asarray(propensity_predict(model_version, rows), dtype=float)


def _product(product: Any) -> Product:
    if isinstance(product, Product):
        return product
    code = str(product or "").strip()
    found = Product.objects.filter(code=code).first() if code else None
    if found is None:
        raise _error(
            "product", _("No product has the code “%(code)s”.") % {"code": code}, "not_found"
        )
    return found


def model_version_for(name_version: str) -> ModelVersion:
    """The propensity model named ``NAME`` (its latest version) or ``NAME:VERSION``."""
    text = str(name_version or "").strip()
    name, _sep, version = text.partition(":")
    versions = ModelVersion.objects.filter(name=name.strip())
    if version.strip():
        if not version.strip().isdigit():
            raise _error(
                "model",
                _("“%(version)s” is not a version number.") % {"version": version},
            )
        versions = versions.filter(version=int(version))
    found = versions.order_by("-version").first()
    if found is None:
        raise _error(
            "model", _("No model is registered as “%(name)s”.") % {"name": text}, "not_found"
        )
    return found


def _upsert(product: Product, model_version: ModelVersion, keys: Any, values: Any) -> int:
    now = timezone.now()
    scores = [
        PropensityScore(
            party_id=key,
            product=product,
            model_version=model_version,
            probability=min(1.0, max(0.0, float(value))),
            scored_at=now,
        )
        for key, value in zip(keys, values, strict=True)
        if value is not None and not math.isnan(float(value))
    ]
    if scores:
        PropensityScore.objects.bulk_create(
            scores,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["party", "product"],
            update_fields=["model_version", "probability", "scored_at"],
        )
    return len(scores)


def propensity_score_customers(
    *,
    model_version: ModelVersion,
    product: Product | str,
    actor: Any = SYSTEM,
    batch: int = DEFAULT_BATCH,
    as_of: dt.date | None = None,
) -> int:
    """Score every customer who is not closed for ``product`` with ``model_version`` (a
    propensity model) and store the probabilities (one row per customer and product,
    replaced). Returns the number of scores stored; customers the model gives no number
    for keep their earlier score."""
    if model_version.purpose != Purpose.PROPENSITY:
        raise _error(
            "model_version",
            _("%(model)s is not a propensity model.") % {"model": model_version.label},
        )
    product = _product(product)
    if batch < 1:
        raise _error("batch", _("The batch size must be at least 1."))
    day = as_of or bank_today()
    mapping = features.feature_map_for(model_version)
    started = time.monotonic()
    customers = stored = 0
    for crm in features.party_feature_batches(as_of=day, batch=batch):
        rows = features.model_frame(crm, mapping)
        probabilities = _predict(model_version, rows)
        if len(probabilities) != len(rows):
            raise RuntimeError("the model returned a different number of probabilities")
        with transaction.atomic():
            stored += _upsert(product, model_version, list(crm.index), probabilities)
        customers += len(crm)
    seconds = round(time.monotonic() - started, 3)
    figures = {
        "model": model_version.label,
        "product": product.code,
        "as_of": day.isoformat(),
        "customers": customers,
        "scored": stored,
        "seconds": seconds,
    }
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="propensity.score",
            target=model_version,
            after=figures,
        )
        event_record(type="marketing.propensity_scored", target=model_version, payload=figures)
    logger.info("propensity scores stored", extra=figures)
    return stored
