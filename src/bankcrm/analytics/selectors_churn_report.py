"""Reading the churn report: the churn model's evaluation and the distribution of the
churn scores stored for the customers a viewer may see.

The scores are ``risk.Score`` rows of the churn model (purpose *churn*, subject *party*,
not shadow; :mod:`bankcrm.analytics.services_churn` stores them); each customer counts
once, with their latest score. The distribution is one SQL statement (conditional counts
per probability band).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Avg, CharField, Count, Max, Q, QuerySet, Value
from django.db.models.functions import Cast, Lower, Replace

from bankcrm.customers.models import Party
from bankcrm.risk.models import ModelVersion, Score

from .services_churn import churn_model_for_scoring

# Bands of the probability of leaving: [0, 0.1), [0.1, 0.2) … [0.9, 1].
BANDS = 10


@dataclass
class ChurnBand:
    """The customers whose probability of leaving lies in [low, high)."""

    low: Decimal
    high: Decimal
    customers: int
    share: float


@dataclass
class ChurnReport:
    """The churn model the scores come from, its evaluation, and the viewer's customers'
    scores by band."""

    model: ModelVersion | None
    auc: float | None
    auc_std: float | None
    learning_rows: int | None
    customers: int
    mean_probability: float | None
    bands: list[ChurnBand] = field(default_factory=list)

    @property
    def has_model(self) -> bool:
        return self.model is not None


def _key(expression: Any) -> Any:
    """A party key as lower-case hex without dashes, on SQLite and PostgreSQL alike."""
    return Lower(Replace(expression, Value("-"), Value("")))


def churn_scores(*, actor: Any, model: ModelVersion) -> QuerySet[Score]:
    """The latest churn score of ``model`` of each customer ``actor`` may see."""
    visible = (
        Party.objects.visible_to(actor)
        .order_by()
        .annotate(key=_key(Cast("pk", output_field=CharField())))
        .values("key")
    )
    scores = Score.objects.filter(
        model_version=model, subject_kind=Score.Subject.PARTY, shadow=False
    ).annotate(key=_key("subject_id"))
    latest = scores.filter(key__in=visible).order_by().values("subject_id").annotate(last=Max("id"))
    return Score.objects.filter(pk__in=latest.values("last"))


def churn_report(*, actor: Any) -> ChurnReport:
    """The churn report for ``actor``: the scoring model (the production churn model, else
    the newest not retired), its cross-validated AUC, and the distribution of their
    customers' latest scores in ten bands of probability."""
    try:
        model = churn_model_for_scoring()
    except ValidationError:
        return ChurnReport(None, None, None, None, 0, None, [])
    step = Decimal(1) / BANDS
    bounds = [(step * index, step * (index + 1)) for index in range(BANDS)]
    counts: dict[str, Any] = {}
    for index, (low, high) in enumerate(bounds):
        band = Q(probability_of_default__gte=low)
        if index < BANDS - 1:
            band &= Q(probability_of_default__lt=high)
        counts[f"band_{index}"] = Count("id", filter=band)
    figures = churn_scores(actor=actor, model=model).aggregate(
        customers=Count("id"), mean=Avg("probability_of_default"), **counts
    )
    total = int(figures["customers"] or 0)
    bands = [
        ChurnBand(
            low=low.quantize(Decimal("0.1")),
            high=high.quantize(Decimal("0.1")),
            customers=int(figures[f"band_{index}"] or 0),
            share=round(int(figures[f"band_{index}"] or 0) / total, 4) if total else 0.0,
        )
        for index, (low, high) in enumerate(bounds)
    ]
    metrics = model.metrics or {}
    auc = metrics.get("auc_cv_mean")
    auc_std = metrics.get("auc_cv_std")
    rows = metrics.get("rows") or (model.fingerprint or {}).get("rows")
    return ChurnReport(
        model=model,
        auc=None if auc is None else float(auc),
        auc_std=None if auc_std is None else float(auc_std),
        learning_rows=None if rows is None else int(rows),
        customers=total,
        mean_probability=None if figures["mean"] is None else round(float(figures["mean"]), 4),
        bands=bands,
    )
