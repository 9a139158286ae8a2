"""Credit scores for loan applications, from a risk model when one is registered.

The lending module has no model of its own: a risk module registers a scorer with
:func:`register_credit_scorer`, a function ``fn(application) -> ScoreResult | None``.
Until one is registered, :func:`credit_score` answers None and every page and API says
"No credit model is registered" — never a made-up number.

A score carries the model's own recommendation (``approve``, ``refer`` or ``decline``, from
the risk grade's band) and its reasons: the features that cost the applicant the most
points, each with its stable code and the words of an adverse-action notice. The model's
recommendation is advice: the officer decides, and overriding it needs a reason
(:func:`model_override_needed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

NO_MODEL_MESSAGE = _("No credit model is registered.")

MODEL_RECOMMENDATIONS = ("approve", "refer", "decline")


@dataclass(frozen=True)
class ScoreReason:
    """One reason a model gives for a score: the feature that cost points, in words."""

    code: str
    feature: str
    text: str
    points_lost: float = 0.0
    text_en: str = ""
    text_zh: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "feature": self.feature,
            "text": self.text,
            "text_en": self.text_en or self.text,
            "text_zh": self.text_zh,
            "points_lost": round(float(self.points_lost), 2),
        }


@dataclass(frozen=True)
class ScoreResult:
    """A model's verdict on an application: the score, its grade, the probability of default,
    the model's recommendation and the reasons that weighed most, with the model that
    produced it."""

    score: int
    model: str
    model_version: str = ""
    grade: str = ""
    probability_of_default: Decimal | None = None
    reason_codes: list[str] = field(default_factory=list)
    # approve | refer | decline (the grade's band); empty when the model gives none.
    recommendation: str = ""
    reasons: list[ScoreReason] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (decimals as strings) for the stored underwriting result. The model's
        recommendation and reasons are included when the model gives them."""
        data: dict[str, Any] = {
            "score": self.score,
            "model": self.model,
            "model_version": self.model_version,
            "grade": self.grade,
            "probability_of_default": (
                None if self.probability_of_default is None else str(self.probability_of_default)
            ),
            "reason_codes": list(self.reason_codes),
        }
        if self.recommendation:
            data["recommendation"] = self.recommendation
        if self.reasons:
            data["reasons"] = [reason.as_dict() for reason in self.reasons]
        return data


CreditScorer = Callable[[Any], "ScoreResult | None"]

_SCORER: list[CreditScorer] = []
# Whether the registered scorer has a model to score with right now (e.g. one in production).
_AVAILABLE: list[Callable[[], bool]] = []


def register_credit_scorer(
    fn: CreditScorer, *, is_available: Callable[[], bool] | None = None
) -> CreditScorer:
    """Make ``fn(application) -> ScoreResult | None`` the credit model of the lending module
    (a later registration replaces an earlier one). Usable as a decorator.

    ``is_available()``, when given, tells whether the scorer has a model to score with at
    the moment (a risk module whose production model was retired has none): until it does,
    lending says "No credit model is registered"."""
    _SCORER.clear()
    _AVAILABLE.clear()
    _SCORER.append(fn)
    if is_available is not None:
        _AVAILABLE.append(is_available)
    return fn


def unregister_credit_scorer() -> None:
    """Remove the registered model (a risk module switched off)."""
    _SCORER.clear()
    _AVAILABLE.clear()


def credit_scorer_registered() -> bool:
    """Whether a credit model is registered (and has a model to score with)."""
    return bool(_SCORER) and all(check() for check in _AVAILABLE)


def credit_scorer() -> CreditScorer | None:
    """The registered scorer, or None."""
    return _SCORER[0] if _SCORER else None


def credit_score(application: Any) -> ScoreResult | None:
    """The registered model's score of ``application``; None when no model is registered
    (or the model has no score for it)."""
    if not _SCORER:
        return None
    return _SCORER[0](application)


def model_recommendation_of(underwriting: Mapping[str, Any] | None) -> str:
    """The model's recommendation stored with an underwriting result ('' when the
    application was not scored or the model gave none)."""
    score = (underwriting or {}).get("credit_score") or {}
    recommendation = score.get("recommendation") if isinstance(score, Mapping) else None
    return recommendation if recommendation in MODEL_RECOMMENDATIONS else ""


def model_override_needed(decision: str, model_recommendation: str) -> bool:
    """Whether ``decision`` goes against the model: approving what it recommends declining,
    or declining what it recommends approving (referring never overrides it)."""
    return (decision == "approved" and model_recommendation == "decline") or (
        decision == "declined" and model_recommendation == "approve"
    )
