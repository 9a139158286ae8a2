"""The lending decision screen with a credit model: the underwriting panel shows the score,
grade, probability of default, the model's recommendation and its reasons; the decision
form refuses to go against the model without a reason (and changes nothing), and records
the override with its reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from bankcrm.lending import scoring
from bankcrm.lending.models import LoanApplication
from bankcrm.lending.services_applications import loan_application_underwrite
from tests.lending.conftest import (  # noqa: F401  (fixtures)
    advance_application,
    bank,
    lending_bank,
    make_application,
)

from .test_card import section

pytestmark = pytest.mark.django_db


class Model:
    """A credit model whose recommendation the test chooses."""

    recommendation = "decline"

    def __call__(self, application):
        return scoring.ScoreResult(
            score={"approve": 702, "refer": 611, "decline": 548}[self.recommendation],
            model="retail",
            model_version="v3",
            grade={"approve": "A", "refer": "C", "decline": "E"}[self.recommendation],
            probability_of_default=Decimal("0.183400"),
            reason_codes=["R04", "R01"],
            recommendation=self.recommendation,
            reasons=[
                scoring.ScoreReason(
                    code="R04", feature="min_balance_6m", text="Low minimum balance",
                    points_lost=31.5, text_en="Low minimum balance", text_zh="最低余额偏低",
                ),
                scoring.ScoreReason(
                    code="R01", feature="inflow_months_6m", text="Irregular income",
                    points_lost=12.0, text_en="Irregular income", text_zh="收入不规律",
                ),
            ],
        )  # fmt: skip


@pytest.fixture
def model(monkeypatch):
    fake = Model()
    monkeypatch.setattr(scoring, "_SCORER", [fake])
    monkeypatch.setattr(scoring, "_AVAILABLE", [])
    return fake


@pytest.fixture
def scored(lending_bank, make_application, advance_application, model):  # noqa: F811
    def make(recommendation: str) -> LoanApplication:
        model.recommendation = recommendation
        application = advance_application(make_application(), "underwriting")
        loan_application_underwrite(actor=lending_bank.analyst, application=application)
        application.refresh_from_db()
        return application

    return make


def page(client, user, application) -> str:
    client.force_login(user)
    return client.get(reverse("lending:application_detail", args=[application.pk])).content.decode()


def test_the_underwriting_panel_shows_the_models_score(client, lending_bank, scored):  # noqa: F811
    application = scored("decline")
    html = page(client, lending_bank.manager_a, application)
    assert section(html, "credit-score") == (
        "Credit score: 548 Grade E PD 18.34 % The model recommends: decline model retail v3 "
        "What lowered the score most: R04 Low minimum balance (31.5 points below the best) "
        "R01 Irregular income (12 points below the best)"
    )
    decision = section(html, "decision")
    assert (
        "The credit model recommends to decline (score 548, grade E): approving overrides it."
        in decision
    )
    assert "Reason for overriding the credit model" in decision


def test_reasons_follow_the_readers_language(client, lending_bank, scored):  # noqa: F811
    application = scored("decline")
    client.force_login(lending_bank.manager_a)
    client.post("/language/", {"language": "zh-hans", "next": "/"})
    html = client.get(reverse("lending:application_detail", args=[application.pk])).content
    assert "最低余额偏低" in section(html.decode(), "credit-score-reasons")
    assert "Low minimum balance" not in html.decode()


def test_approving_against_the_model_needs_an_override_reason(client, lending_bank, scored):  # noqa: F811
    application = scored("decline")
    client.force_login(lending_bank.manager_a)
    url = reverse("lending:application_decide", args=[application.pk])
    response = client.post(url, {"decision": "approved", "reason": "Long-standing customer"})
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        "The credit model recommends to decline this application: give the reason for "
        "overriding it (override reason)." in section(html, "decision-override-field")
    )
    assert 'aria-invalid="true"' in html.split('id="decision-override-field"', 1)[1][:2000]
    application.refresh_from_db()
    assert (application.state, application.decision, application.model_overridden) == (
        "underwriting", "", False,
    )  # fmt: skip
    response = client.post(
        url,
        {
            "decision": "approved",
            "reason": "Long-standing customer",
            "override_reason": "Salary moved to us last month; the history understates it.",
        },
    )
    assert response.status_code == 302
    application.refresh_from_db()
    recorded = (
        application.decision,
        application.model_recommendation,
        application.model_overridden,
    )
    assert recorded == ("approved", "decline", True)
    assert (
        application.override_reason == "Salary moved to us last month; the history understates it."
    )
    html = client.get(response["Location"]).content.decode()
    assert section(html, "decision-override") == (
        "Against the credit model, which recommends to decline. "
        "Salary moved to us last month; the history understates it."
    )


def test_a_decision_along_the_model_needs_no_override_reason(client, lending_bank, scored):  # noqa: F811
    application = scored("approve")
    html = page(client, lending_bank.manager_a, application)
    assert "approving overrides it" not in html
    response = client.post(
        reverse("lending:application_decide", args=[application.pk]),
        {"decision": "approved", "reason": "Affordable"},
    )
    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.decision, application.model_overridden, application.override_reason) == (
        "approved", False, "",
    )  # fmt: skip


def test_a_referral_recommendation_offers_no_override_field(client, lending_bank, scored):  # noqa: F811
    application = scored("refer")
    html = page(client, lending_bank.manager_a, application)
    assert "The model recommends: refer to a senior approver" in section(html, "credit-score")
    assert 'id="decision-override-field"' not in html
