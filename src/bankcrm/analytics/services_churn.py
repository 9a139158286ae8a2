"""Writing the churn model's results: registering a trained churn model and storing every
customer's churn score.

* :func:`churn_model_register` registers the model trained by
  :func:`bankcrm.analytics.churn.churn_train` as the next draft version of its name in the
  credit-risk model registry with purpose *churn* (``risk.services.model_register``: the
  registry's permission, numbering, model card, audit ``risk.model_register`` and event).
* :func:`churn_score_customers` scores every person the actor may see who is not closed,
  in batches (the bankcrm figures of a batch come from one SQL statement, the latest
  behaviour scores of the batch from one more), and stores one ``risk.Score`` per customer
  (subject *party*, not shadow): ``probability_of_default`` holds the probability of
  leaving, ``score`` the same log-odds on the registry's points scale (higher: less likely
  to leave), ``inputs`` the model columns and the ones filled in. Segment rules read them as
  ``score.probability`` / ``score.points`` with purpose *churn*. The run is one transaction,
  audited once (``analytics.churn_score``) and evented (``analytics.churn_scored``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party
from bankcrm.events.services import event_record
from bankcrm.marketing.propensity.scoring import SpecModel, calibrate
from bankcrm.marketing.propensity.training import LearningData, TrainedPropensity
from bankcrm.risk.engine import score_for_log_odds
from bankcrm.risk.models import ModelVersion, Purpose, Score

from .churn import DEFAULT_BATCH, MODEL_COLUMNS, churn_crm_rows, churn_model_rows

logger = logging.getLogger(__name__)

SCORING_ACTOR = SystemActor("analytics.churn_score")
SCORE_PERMISSION = "risk.score_modelversion"
PD_QUANTUM = Decimal("0.000001")


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def churn_model_register(
    *,
    actor: Any,
    name: str,
    trained: TrainedPropensity,
    data: LearningData,
    description: str = "",
) -> ModelVersion:
    """Register ``trained`` (from ``data``) as the next draft version of ``name`` with
    purpose churn. Needs ``risk.train_modelversion``; ValidationError naming ``name`` for a
    name the registry refuses."""
    from bankcrm.risk.services import model_register

    return model_register(
        actor=actor,
        name=name,
        purpose=Purpose.CHURN,
        trained=trained,  # type: ignore[arg-type]  # the propensity trainer's result
        dataset=data,  # type: ignore[arg-type]  # has the fingerprint the registry reads
        description=description,
        settings=trained.settings,  # type: ignore[arg-type]
        dataset_name=trained.dataset_name,
    )


def churn_model_for_scoring(name: str = "", version: int | None = None) -> ModelVersion:
    """The churn model to score with: ``name`` (its ``version``, else its newest), or the
    production churn model, else the newest churn version not retired. ValidationError
    naming ``model`` when there is none."""
    versions = ModelVersion.objects.filter(purpose=Purpose.CHURN)
    if name:
        versions = versions.filter(name=name)
        if version is not None:
            versions = versions.filter(version=version)
        found = versions.order_by("-version").first()
    else:
        found = versions.filter(status=ModelVersion.Status.PRODUCTION).first() or (
            versions.exclude(status=ModelVersion.Status.RETIRED).order_by("-created_at").first()
        )
    if found is None:
        raise _error(
            "model",
            _("No churn model is registered: train one with “bankcrm analytics train-churn”."),
            "not_found",
        )
    return found


def _key(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _behaviour_scores(keys: Iterable[Any]) -> dict[str, int]:
    """The points of each customer's latest behaviour score (not shadow), in one query."""
    texts: set[str] = set()
    for key in keys:
        texts.update({_key(key), uuid.UUID(str(key)).hex})
    rows = (
        Score.objects.filter(
            subject_kind=Score.Subject.PARTY,
            shadow=False,
            model_version__purpose=Purpose.BEHAVIOUR,
            subject_id__in=sorted(texts),
        )
        .order_by("scored_at", "id")
        .values_list("subject_id", "score")
    )
    latest: dict[str, int] = {}
    for subject, points in rows:
        latest[_key(subject)] = int(points)
    return latest


def _batches(customers: Any, size: int) -> Iterable[list[Any]]:
    """The customers' keys in key order, ``size`` at a time (keyset pagination)."""
    last = None
    while True:
        window = customers.order_by("pk")
        if last is not None:
            window = window.filter(pk__gt=last)
        keys = list(window.values_list("pk", flat=True)[:size])
        if not keys:
            return
        yield keys
        last = keys[-1]


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(float(value)) else round(float(value), 4)
    return value


def churn_score_customers(
    *,
    actor: Any = SCORING_ACTOR,
    model_version: ModelVersion | None = None,
    as_of: dt.date | None = None,
    batch: int = DEFAULT_BATCH,
) -> dict[str, Any]:
    """Score every person ``actor`` may see who is not closed with ``model_version``
    (default :func:`churn_model_for_scoring`) as of ``as_of`` (default today) and store one
    score each. Returns the run's figures (model, status, as_of, customers, scored, mean
    probability, seconds). Needs ``risk.score_modelversion``."""
    if not actor_has_perm(actor, SCORE_PERMISSION):
        raise PermissionDenied(_("You do not have permission to do this."))
    version = model_version or churn_model_for_scoring()
    if version.purpose != Purpose.CHURN:
        raise _error(
            "model", _("%(model)s is not a churn model.") % {"model": version.label}, "invalid"
        )
    if version.status == ModelVersion.Status.RETIRED:
        raise _error(
            "model",
            _("%(model)s is retired and scores nothing.") % {"model": version.label},
            "risk_model_wrong_status",
        )
    if batch < 1:
        raise _error("batch", _("The batch size must be at least 1."))
    day = as_of or bank_today()
    model = SpecModel(version.spec)
    scaling = version.spec.get("scaling") or {"base_score": 600, "base_odds": 50, "pdo": 20}
    fill = ((version.card or {}).get("crm_mapping") or {}).get("fill") or {}
    customers = (
        Party.objects.visible_to(actor)
        .filter(kind=Party.Kind.PERSON)
        .exclude(status=Party.Status.CLOSED)
    )
    started = time.monotonic()
    scored = 0
    total_probability = 0.0
    with transaction.atomic():
        for keys in _batches(customers, batch):
            raw = list(churn_crm_rows(Party.objects.filter(pk__in=keys), as_of=day))
            frame, filled = churn_model_rows(
                raw, as_of=day, credit_scores=_behaviour_scores(keys), fill=fill
            )
            margin = np.asarray(model.margin(frame[list(MODEL_COLUMNS)]), dtype=float)
            probabilities = calibrate(version.spec["propensity"].get("calibration"), margin)
            points = np.asarray(score_for_log_odds(margin, scaling), dtype=float)
            records = frame.to_dict(orient="records")
            scores = [
                Score(
                    model_version=version,
                    subject_kind=Score.Subject.PARTY,
                    subject_id=_key(key),
                    score=round(float(points[position])),
                    probability_of_default=Decimal(str(float(probabilities[position]))).quantize(
                        PD_QUANTUM, ROUND_HALF_UP
                    ),
                    inputs={
                        **{
                            column: _json_value(value)
                            for column, value in records[position].items()
                        },
                        "filled": filled[position],
                    },
                    shadow=False,
                )
                for position, key in enumerate(frame.index)
            ]
            Score.objects.bulk_create(scores, batch_size=2000)
            scored += len(scores)
            total_probability += float(np.sum(probabilities))
        figures = {
            "model": version.label,
            "model_version_pk": version.pk,
            "status": version.status,
            "as_of": day.isoformat(),
            "scored": scored,
            "mean_probability": round(total_probability / scored, 4) if scored else None,
            "seconds": round(time.monotonic() - started, 3),
        }
        audit_record(actor=actor, action="analytics.churn_score", target=version, after=figures)
        event_record(type="analytics.churn_scored", target=version, payload=figures)
    logger.info("churn scores stored", extra=figures)
    return figures
