"""What the risk module plugs into lending when Django starts: the production application
model becomes lending's credit scorer.

Every application lending underwrites is scored with the application model in production
(its score, grade, probability of default, recommendation and reasons are stored with the
underwriting result, and as a score of the application). While no application model is in
production, lending says "No credit model is registered", as it does without this module.
"""

from __future__ import annotations

from typing import Any

from bankcrm.lending.scoring import register_credit_scorer

from .models import Purpose


def application_model_available() -> bool:
    """Whether an application model is in production."""
    from .selectors import production_model

    return production_model(Purpose.APPLICATION) is not None


def lending_credit_score(application: Any) -> Any:
    """Lending's credit score of ``application`` from the production application model."""
    from .services_scoring import score_application

    return score_application(application)


register_credit_scorer(lending_credit_score, is_available=application_model_available)
