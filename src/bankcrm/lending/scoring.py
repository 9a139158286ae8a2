"""Credit scores for loan applications, from a risk model when one is registered.

The lending module has no model of its own: a risk module registers a scorer with
:func:`register_credit_scorer`, a function ``fn(application) -> ScoreResult | None``.
Until one is registered, :func:`credit_score` answers None and every page and API says
"No credit model is registered" — never a made-up number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

NO_MODEL_MESSAGE = _("No credit model is registered.")


@dataclass(frozen=True)
class ScoreResult:
    """A model's verdict on an application: the score, its grade, the probability of default
    and the reasons that weighed most, with the model that produced it."""

    score: int
    model: str
    model_version: str = ""
    grade: str = ""
    probability_of_default: Decimal | None = None
    reason_codes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (decimals as strings) for the stored underwriting result."""
        return {
            "score": self.score,
            "model": self.model,
            "model_version": self.model_version,
            "grade": self.grade,
            "probability_of_default": (
                None if self.probability_of_default is None else str(self.probability_of_default)
            ),
            "reason_codes": list(self.reason_codes),
        }


CreditScorer = Callable[[Any], "ScoreResult | None"]

_SCORER: list[CreditScorer] = []


def register_credit_scorer(fn: CreditScorer) -> CreditScorer:
    """Make ``fn(application) -> ScoreResult | None`` the credit model of the lending module
    (a later registration replaces an earlier one). Usable as a decorator."""
    _SCORER.clear()
    _SCORER.append(fn)
    return fn


def unregister_credit_scorer() -> None:
    """Remove the registered model (a risk module switched off)."""
    _SCORER.clear()


def credit_scorer_registered() -> bool:
    """Whether a credit model is registered."""
    return bool(_SCORER)


def credit_score(application: Any) -> ScoreResult | None:
    """The registered model's score of ``application``; None when no model is registered
    (or the model has no score for it)."""
    if not _SCORER:
        return None
    return _SCORER[0](application)
