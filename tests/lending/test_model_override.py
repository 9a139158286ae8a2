"""Deciding against the credit model's recommendation: the override reason it needs, what
the application records, the audit, and the override rates by officer and by branch."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.lending import scoring
from bankcrm.lending.selectors_model import model_override_list, model_override_rates
from bankcrm.lending.services_applications import (
    loan_application_decide,
    loan_application_underwrite,
)


class FakeModel:
    """A credit model whose recommendation the test sets."""

    def __init__(self) -> None:
        self.recommendation = "approve"

    def __call__(self, application):
        grades = {"approve": "A", "refer": "C", "decline": "E"}
        return scoring.ScoreResult(
            score={"approve": 720, "refer": 610, "decline": 540}[self.recommendation],
            model="retail_scorecard",
            model_version="2",
            grade=grades[self.recommendation],
            probability_of_default=Decimal("0.041000"),
            reason_codes=["R02", "R01"],
            recommendation=self.recommendation,
            reasons=[
                scoring.ScoreReason(
                    code="R02",
                    feature="housing",
                    text="Housing",
                    points_lost=25.0,
                    text_en="Housing",
                    text_zh="住房",
                ),
                scoring.ScoreReason(
                    code="R01", feature="age", text="Age", points_lost=20.0, text_zh="年龄"
                ),
            ],
        )


@pytest.fixture
def model(monkeypatch):
    fake = FakeModel()
    monkeypatch.setattr(scoring, "_SCORER", [fake])
    monkeypatch.setattr(scoring, "_AVAILABLE", [])
    return fake


@pytest.fixture
def scored(lending_bank, make_application, advance_application, model):
    """``scored(recommendation, **overrides)``: an application in underwriting, underwritten
    by the analyst while the model recommends ``recommendation``."""

    def make(recommendation, **overrides):
        model.recommendation = recommendation
        application = advance_application(make_application(**overrides), "underwriting")
        loan_application_underwrite(actor=lending_bank.analyst, application=application)
        application.refresh_from_db()
        return application

    return make


def test_the_underwriting_keeps_the_models_score_grade_pd_recommendation_and_reasons(
    scored,
):
    application = scored("refer")
    assert application.underwriting["credit_score"] == {
        "score": 610,
        "model": "retail_scorecard",
        "model_version": "2",
        "grade": "C",
        "probability_of_default": "0.041000",
        "reason_codes": ["R02", "R01"],
        "recommendation": "refer",
        "reasons": [
            {
                "code": "R02",
                "feature": "housing",
                "text": "Housing",
                "text_en": "Housing",
                "text_zh": "住房",
                "points_lost": 25.0,
            },
            {
                "code": "R01",
                "feature": "age",
                "text": "Age",
                "text_en": "Age",
                "text_zh": "年龄",
                "points_lost": 20.0,
            },
        ],
    }
    assert application.underwriting["credit_score_message"] == ""


def test_approving_against_a_decline_needs_an_override_reason_and_changes_nothing(
    lending_bank, scored
):
    application = scored("decline")
    with pytest.raises(ValidationError) as exc:
        loan_application_decide(
            actor=lending_bank.manager_a,
            application=application,
            decision="approved",
            reason="Long-standing customer.",
        )
    assert exc.value.message_dict == {
        "override_reason": [
            "The credit model recommends to decline this application: give the reason for "
            "overriding it (override reason)."
        ]
    }
    application.refresh_from_db()
    assert (application.state, application.decision, application.model_overridden) == (
        "underwriting",
        "",
        False,
    )
    assert not AuditEvent.objects.filter(
        action__in=["loan_application.decide", "loan_application.model_override"]
    ).exists()


def test_an_override_with_its_reason_is_recorded_and_audited(lending_bank, scored, today):
    application = scored("decline")
    loan_application_decide(
        actor=lending_bank.manager_a,
        application=application,
        decision="approved",
        reason="Affordable and documented.",
        override_reason="  Salary rise confirmed by the employer.  ",
    )
    application.refresh_from_db()
    assert application.state == "approved"
    assert (
        application.model_recommendation,
        application.model_overridden,
        application.override_reason,
    ) == ("decline", True, "Salary rise confirmed by the employer.")
    event = AuditEvent.objects.get(action="loan_application.model_override")
    assert event.reason == "Salary rise confirmed by the employer."
    assert event.actor == lending_bank.manager_a.username
    assert event.after == {
        "model_recommendation": "decline",
        "decision": "approved",
        "score": 540,
        "grade": "E",
        "model": "retail_scorecard",
        "model_version": "2",
        "proposed_by": None,
    }
    decided = AuditEvent.objects.get(action="loan_application.decide")
    assert decided.after["model_overridden"] is True
    assert decided.after["model_recommendation"] == "decline"


def test_declining_against_an_approve_needs_the_reason_too(lending_bank, scored):
    application = scored("approve")
    with pytest.raises(ValidationError) as exc:
        loan_application_decide(
            actor=lending_bank.manager_a,
            application=application,
            decision="declined",
            reason="Unstable income.",
            override_reason=" ",
        )
    assert list(exc.value.message_dict) == ["override_reason"]
    loan_application_decide(
        actor=lending_bank.manager_a,
        application=application,
        decision="declined",
        reason="Unstable income.",
        override_reason="Income is seasonal; last year's returns show losses.",
    )
    application.refresh_from_db()
    assert (application.decision, application.model_recommendation) == ("declined", "approve")
    assert application.model_overridden is True


@pytest.mark.parametrize(
    ("recommendation", "decision"),
    [("approve", "approved"), ("decline", "declined"), ("refer", "approved"), ("refer", "declined"),
     ("approve", "referred"), ("decline", "referred")],
)  # fmt: skip
def test_decisions_along_the_model_or_a_referral_are_no_override(
    lending_bank, scored, recommendation, decision
):
    application = scored(recommendation)
    loan_application_decide(
        actor=lending_bank.manager_a,
        application=application,
        decision=decision,
        reason="As the file shows.",
        override_reason="not needed",
    )
    application.refresh_from_db()
    assert application.decision == decision
    assert (
        application.model_recommendation,
        application.model_overridden,
        application.override_reason,
    ) == (recommendation, False, "")
    assert not AuditEvent.objects.filter(action="loan_application.model_override").exists()


def test_without_a_model_there_is_nothing_to_override(
    lending_bank, make_application, advance_application, monkeypatch
):
    monkeypatch.setattr(scoring, "_SCORER", [])
    application = advance_application(make_application(), "underwriting")
    loan_application_underwrite(actor=lending_bank.analyst, application=application)
    application.refresh_from_db()
    assert application.underwriting["credit_score"] is None
    assert application.underwriting["credit_score_message"] == "No credit model is registered."
    loan_application_decide(
        actor=lending_bank.manager_a, application=application, decision="declined", reason="No."
    )
    application.refresh_from_db()
    assert (application.model_recommendation, application.model_overridden) == ("", False)


def test_a_scorer_without_a_model_in_use_counts_as_none(monkeypatch):
    monkeypatch.setattr(scoring, "_SCORER", [lambda application: None])
    monkeypatch.setattr(scoring, "_AVAILABLE", [lambda: False])
    assert scoring.credit_scorer_registered() is False
    monkeypatch.setattr(scoring, "_AVAILABLE", [lambda: True])
    assert scoring.credit_scorer_registered() is True


def test_a_two_approver_override_carries_its_reason_to_the_second_approver(
    lending_bank, scored, today
):
    application = scored("decline", amount="400000", monthly_income="100000")
    with pytest.raises(ValidationError):
        loan_application_decide(
            actor=lending_bank.manager_a,
            application=application,
            decision="approved",
            reason="Strong collateral elsewhere.",
        )
    assert not PendingApproval.objects.exists()
    request = loan_application_decide(
        actor=lending_bank.manager_a,
        application=application,
        decision="approved",
        reason="Strong collateral elsewhere.",
        override_reason="Guarantee from the parent company.",
    )
    assert request.payload["override_reason"] == "Guarantee from the parent company."
    loan_application_decide(
        actor=lending_bank.manager_a2,
        application=application,
        decision="approved",
        reason="Agreed.",
    )
    application.refresh_from_db()
    assert (application.state, application.decided_by) == ("approved", lending_bank.manager_a2)
    assert (application.model_overridden, application.override_reason) == (
        True,
        "Guarantee from the parent company.",
    )
    event = AuditEvent.objects.get(action="loan_application.model_override")
    assert event.after["proposed_by"] == lending_bank.manager_a.pk
    assert event.reason == "Guarantee from the parent company."


def test_override_rates_by_officer_and_branch_within_reach(lending_bank, scored, today):
    first = scored("decline")
    loan_application_decide(
        actor=lending_bank.manager_a,
        application=first,
        decision="approved",
        reason="Known customer.",
        override_reason="Twenty years with the bank.",
    )
    second = scored("approve")
    loan_application_decide(
        actor=lending_bank.manager_a, application=second, decision="approved", reason="Fine."
    )
    third = scored("approve")
    loan_application_decide(
        actor=lending_bank.officer_a2, application=third, decision="approved", reason="Fine."
    )
    day = dt.date.today()
    period = {"period_start": day - dt.timedelta(days=1), "period_end": day + dt.timedelta(days=1)}

    rates = model_override_rates(actor=lending_bank.manager_a, **period)
    assert (rates["decisions"], rates["overrides"], rates["override_rate"]) == (
        3,
        1,
        Decimal("0.3333"),
    )
    assert [
        (line["officer_name"], line["decisions"], line["overrides"], line["override_rate"])
        for line in rates["by_officer"]
    ] == [
        (lending_bank.manager_a.get_full_name() or "manager_a", 2, 1, Decimal("0.5000")),
        (lending_bank.officer_a2.get_full_name() or "officer_a2", 1, 0, Decimal("0.0000")),
    ]
    assert rates["by_officer"][0]["approved_against_decline"] == 1
    assert [
        (line["branch_name"], line["decisions"], line["overrides"]) for line in rates["by_branch"]
    ] == [(lending_bank.branch_a.name, 3, 1)]
    assert [app.pk for app in model_override_list(actor=lending_bank.manager_a, **period)] == [
        first.pk
    ]

    # Another branch sees none of it; a period before the decisions holds none.
    elsewhere = model_override_rates(actor=lending_bank.manager_b, **period)
    assert (elsewhere["decisions"], elsewhere["by_officer"], elsewhere["by_branch"]) == (
        0,
        [],
        [],
    )
    assert elsewhere["override_rate"] is None
    earlier = model_override_rates(
        actor=lending_bank.manager_a,
        period_start=day - dt.timedelta(days=30),
        period_end=day - dt.timedelta(days=2),
    )
    assert earlier["decisions"] == 0


def test_override_rates_refuse_a_reversed_period(lending_bank):
    with pytest.raises(ValidationError) as exc:
        model_override_rates(
            actor=lending_bank.manager_a,
            period_start=dt.date(2025, 6, 30),
            period_end=dt.date(2025, 6, 1),
        )
    assert exc.value.message_dict == {
        "period_end": ["The end of the period cannot be before its start."]
    }


def test_the_api_takes_the_override_reason_as_a_step_option(lending_bank, scored, today):
    application = scored("decline")
    client = Client()
    client.force_login(lending_bank.manager_a)
    url = f"/api/v1/lending/applications/{application.pk}/transition"
    body = {"transition": "approve", "reason": "Known customer."}
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["override_reason"]
    application.refresh_from_db()
    assert application.state == "underwriting"

    body["options"] = {"override_reason": "Collateral pledged outside the bank."}
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    application.refresh_from_db()
    assert (application.state, application.model_overridden) == ("approved", True)
    detail = client.get(f"/api/v1/lending/applications/{application.pk}").json()
    assert detail["underwriting"]["credit_score"]["recommendation"] == "decline"
    assert detail["underwriting"]["credit_score"]["grade"] == "E"
